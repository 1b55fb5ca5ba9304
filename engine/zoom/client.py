"""Async client of the Zoom REST API v2 (webinars), for real Zoom and the loopback emulator alike.

One ``ZoomClient`` per connection. It never retries on its own except once after refreshing an
expired token: durable retries are the Temporal activities' job, driven by the typed errors'
``retryable`` and ``retry_after``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import urlsplit

import httpx
import structlog
from pydantic import Field, ValidationError

from engine.metrics import ZOOM_CALLS, zoom_endpoint
from engine.zoom.auth import ServerToServerAuth
from engine.zoom.errors import (
    RateLimitType,
    ZoomAuthError,
    ZoomDownloadNotAllowed,
    ZoomDownloadTooLarge,
    ZoomError,
    ZoomRateLimited,
    ZoomResponseError,
    ZoomTimeout,
    ZoomTokenExpired,
    ZoomTransportError,
    error_from_response,
)
from engine.zoom.models import (
    NewRegistrant,
    ParticipantSession,
    PastInstance,
    PastParticipant,
    Recording,
    Registrant,
    RegistrantAction,
    RegistrantCreated,
    RegistrantStatus,
    RegistrationQuestions,
    Webinar,
    WebinarListType,
    WebinarSummary,
    ZoomModel,
    ZoomUser,
)
from engine.zoom.ratelimit import (
    DEFAULT_BACKOFF_SECONDS,
    AccountRateLimiter,
    RateLabel,
    RateLimiter,
    per_second_limits,
)
from engine.zoom.settings import ZoomConnectionConfig
from engine.zoom.uuids import encode_path_id

logger = structlog.get_logger(__name__)

#: Zoom's maximum page size; the same size is sent on every page (docs/zoom.md, "Pagination").
PAGE_SIZE = 300
#: ``PUT …/registrants/status`` accepts at most 30 registrants per call.
STATUS_BATCH_SIZE = 30
#: A download follows at most this many redirects (Zoom sends one, to its file storage).
MAX_DOWNLOAD_REDIRECTS = 3
#: How much of an error answer to a download is read.
MAX_ERROR_BODY_BYTES = 64 * 1024
#: Hosts whose ``download_url`` may receive the account's token over HTTPS (besides the API's and
#: the OAuth server's own origins, which is where the emulator serves its files).
ZOOM_DOWNLOAD_DOMAINS = ("zoom.us", "zoomgov.com")

T = TypeVar("T")
ModelT = TypeVar("ModelT", bound=ZoomModel)
PageModelT = TypeVar("PageModelT", bound="_PageBody")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing. ``next_page_token`` is ``""`` on the last page; a caller that wants
    to resume later (e.g. after a worker crash) keeps the token and passes it as ``start_token``."""

    items: list[T]
    next_page_token: str
    total_records: int | None = None


@dataclass(frozen=True)
class RegistrantRef:
    """Who a status change is for: a registrant id or an email."""

    id: str | None = None
    email: str | None = None

    def as_json(self) -> dict[str, str]:
        if self.id:
            return {"id": self.id}
        if self.email:
            return {"email": self.email}
        raise ValueError("a RegistrantRef needs an id or an email")


class _PageBody(ZoomModel):
    next_page_token: str = ""
    total_records: int | None = None


class _UserPage(_PageBody):
    users: list[ZoomUser] = Field(default_factory=list)


class _WebinarPage(_PageBody):
    webinars: list[WebinarSummary] = Field(default_factory=list)


class _RegistrantPage(_PageBody):
    registrants: list[Registrant] = Field(default_factory=list)


class _ParticipantReportPage(_PageBody):
    participants: list[ParticipantSession] = Field(default_factory=list)


class _PastParticipantPage(_PageBody):
    participants: list[PastParticipant] = Field(default_factory=list)


class _PastInstances(ZoomModel):
    webinars: list[PastInstance] = Field(default_factory=list)


class ZoomClient:
    def __init__(
        self,
        connection: ZoomConnectionConfig,
        *,
        http: httpx.AsyncClient | None = None,
        rate_limiter: RateLimiter | None = None,
        rate_limit: bool = True,
        timeout_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        utcnow: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """``http`` may be shared; it is closed by ``aclose`` only when the client created it.

        ``rate_limit=False`` turns Rollcall's own buckets off (emulator benchmarks); otherwise
        ``rate_limiter`` is used, or a private one sized by the connection's plan.
        """
        self.connection = connection
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds))
        self._auth = ServerToServerAuth(connection, self._http, clock=monotonic)
        self._limiter: RateLimiter | None = None
        if rate_limit:
            limits = per_second_limits(connection.plan, connection.rate_limits)
            self._limiter = rate_limiter or AccountRateLimiter(connection.plan, limits=limits)
        self._base = connection.api_base_url.rstrip("/")
        self._utcnow = utcnow

    def __repr__(self) -> str:
        return f"ZoomClient(connection={self.connection.name!r}, api={self._base!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # --- transport ---------------------------------------------------------------------------

    def _count(self, method: str, endpoint: str, status: int | str) -> None:
        """#17.1: Zoom calls by connection, method, templated endpoint (no ids) and status."""
        ZOOM_CALLS.labels(self.connection.name, method, endpoint, str(status)).inc()

    async def _send(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        endpoint = zoom_endpoint(urlsplit(url).path)  # still percent-encoded: an encoded UUID stays one segment
        try:
            response = await self._http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        except httpx.TimeoutException as exc:
            self._count(method, endpoint, "timeout")
            raise ZoomTimeout(f"{method} {url}: timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            self._count(method, endpoint, "transport_error")
            raise ZoomTransportError(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        self._count(method, endpoint, response.status_code)
        return response

    async def _request(
        self,
        method: str,
        path: str,
        label: RateLabel,
        *,
        params: dict[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Response:
        if self._limiter is not None:
            await self._limiter.acquire(label)
        url = self._base + path
        kwargs: dict[str, Any] = {"params": params}
        if json is not None:
            kwargs["json"] = json
        token = await self._auth.token()
        response = await self._send(method, url, token, **kwargs)
        if response.status_code == 401:
            error = self._error(response)
            if not isinstance(error, ZoomTokenExpired):
                raise error
            # The only retry the client does: Zoom expired or revoked the token (code 124).
            token = await self._auth.refresh(rejected=token)
            response = await self._send(method, url, token, **kwargs)
        if response.status_code >= 300:
            error = self._error(response)
            await self._back_off(error, label)
            raise error
        return response

    async def _back_off(self, error: ZoomError, label: RateLabel) -> None:
        """A per-second 429 holds back every call of its category (the one Zoom names, else the
        call's), in every process sharing the limiter, for ``Retry-After`` (1 s without it)."""
        if self._limiter is None or not isinstance(error, ZoomRateLimited) or error.limit_type is RateLimitType.DAILY:
            return
        category = RateLabel.from_header(error.category) or label
        seconds = error.retry_after if error.retry_after is not None else DEFAULT_BACKOFF_SECONDS
        await self._limiter.back_off(category, seconds)

    def _error(self, response: httpx.Response, body: bytes | None = None) -> ZoomError:
        content = response.content if body is None else body
        error = error_from_response(response.status_code, response.headers, content, now=self._utcnow())
        logger.warning(
            "zoom_api_error",
            connection=self.connection.name,
            method=response.request.method,
            path=response.request.url.path,
            error_code=error.code,
            zoom_code=error.zoom_code,
            http_status=error.http_status,
            tracking_id=error.tracking_id,
        )
        return error

    async def _get_model(
        self, path: str, label: RateLabel, model: type[ModelT], params: dict[str, str | int] | None = None
    ) -> ModelT:
        response = await self._request("GET", path, label, params=params)
        return _parse(model, response)

    async def _pages(
        self,
        path: str,
        label: RateLabel,
        model: type[PageModelT],
        params: dict[str, str | int],
        start_token: str | None,
    ) -> AsyncIterator[PageModelT]:
        token = start_token or ""
        while True:
            query: dict[str, str | int] = {**params, "page_size": PAGE_SIZE}
            if token:
                query["next_page_token"] = token
            page = await self._get_model(path, label, model, query)
            yield page
            # The empty token marks the last page; page_number/page_count are deprecated.
            if not page.next_page_token:
                return
            token = page.next_page_token

    # --- users -------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> ZoomUser:
        """By Zoom user id or email (``me`` only means something to user-level apps)."""
        return await self._get_model(f"/users/{encode_path_id(user_id)}", RateLabel.LIGHT, ZoomUser)

    async def user_pages(self, *, start_token: str | None = None) -> AsyncIterator[Page[ZoomUser]]:
        async for body in self._pages("/users", RateLabel.MEDIUM, _UserPage, {}, start_token):
            yield Page(body.users, body.next_page_token, body.total_records)

    async def list_users(self) -> list[ZoomUser]:
        return await collect(self.user_pages())

    async def user_webinar_pages(
        self,
        user_id: str,
        list_type: WebinarListType = WebinarListType.SCHEDULED,
        *,
        start_token: str | None = None,
    ) -> AsyncIterator[Page[WebinarSummary]]:
        path = f"/users/{encode_path_id(user_id)}/webinars"
        params: dict[str, str | int] = {"type": list_type.value}
        async for body in self._pages(path, RateLabel.MEDIUM, _WebinarPage, params, start_token):
            yield Page(body.webinars, body.next_page_token, body.total_records)

    async def list_user_webinars(
        self, user_id: str, list_type: WebinarListType = WebinarListType.SCHEDULED
    ) -> list[WebinarSummary]:
        return await collect(self.user_webinar_pages(user_id, list_type))

    # --- webinars and registration -----------------------------------------------------------

    async def get_webinar(self, webinar_id: str | int) -> Webinar:
        return await self._get_model(f"/webinars/{encode_path_id(webinar_id)}", RateLabel.LIGHT, Webinar)

    async def get_registration_questions(self, webinar_id: str | int) -> RegistrationQuestions:
        path = f"/webinars/{encode_path_id(webinar_id)}/registrants/questions"
        return await self._get_model(path, RateLabel.LIGHT, RegistrationQuestions)

    async def add_registrant(self, webinar_id: str | int, registrant: NewRegistrant) -> RegistrantCreated:
        """Zoom answers an already registered email with the existing registrant (R-ADD-7)."""
        path = f"/webinars/{encode_path_id(webinar_id)}/registrants"
        body = registrant.model_dump(exclude_defaults=True)
        response = await self._request("POST", path, RateLabel.LIGHT, json=body)
        return _parse(RegistrantCreated, response)

    async def registrant_pages(
        self,
        webinar_id: str | int,
        status: RegistrantStatus = RegistrantStatus.APPROVED,
        *,
        start_token: str | None = None,
    ) -> AsyncIterator[Page[Registrant]]:
        """Without a status Zoom lists approved registrants only, so the status is always sent."""
        path = f"/webinars/{encode_path_id(webinar_id)}/registrants"
        params: dict[str, str | int] = {"status": status.value}
        async for body in self._pages(path, RateLabel.MEDIUM, _RegistrantPage, params, start_token):
            yield Page(body.registrants, body.next_page_token, body.total_records)

    async def list_registrants(
        self, webinar_id: str | int, status: RegistrantStatus = RegistrantStatus.APPROVED
    ) -> list[Registrant]:
        return await collect(self.registrant_pages(webinar_id, status))

    async def update_registrant_status(
        self, webinar_id: str | int, action: RegistrantAction, registrants: Sequence[RegistrantRef]
    ) -> None:
        """Sent in batches of 30 (Zoom's maximum); each status change is idempotent, so a batch
        that fails can be re-sent whole."""
        path = f"/webinars/{encode_path_id(webinar_id)}/registrants/status"
        for start in range(0, len(registrants), STATUS_BATCH_SIZE):
            batch = [ref.as_json() for ref in registrants[start : start + STATUS_BATCH_SIZE]]
            await self._request("PUT", path, RateLabel.MEDIUM, json={"action": action.value, "registrants": batch})

    # --- past webinars, reports, recordings --------------------------------------------------

    async def list_past_instances(self, webinar_id: str | int) -> list[PastInstance]:
        """Every ended instance (no paging); sync each by UUID — a numeric id means latest only."""
        path = f"/past_webinars/{encode_path_id(webinar_id)}/instances"
        return (await self._get_model(path, RateLabel.LIGHT, _PastInstances)).webinars

    async def participant_report_pages(
        self, webinar_id_or_uuid: str | int, *, start_token: str | None = None
    ) -> AsyncIterator[Page[ParticipantSession]]:
        """One row per join session; ``registrant_id`` is asked for with ``include_fields``."""
        path = f"/report/webinars/{encode_path_id(webinar_id_or_uuid)}/participants"
        params: dict[str, str | int] = {"include_fields": "registrant_id"}
        async for body in self._pages(path, RateLabel.HEAVY, _ParticipantReportPage, params, start_token):
            yield Page(body.participants, body.next_page_token, body.total_records)

    async def list_participant_report(self, webinar_id_or_uuid: str | int) -> list[ParticipantSession]:
        return await collect(self.participant_report_pages(webinar_id_or_uuid))

    async def past_participant_pages(
        self, webinar_id_or_uuid: str | int, *, start_token: str | None = None
    ) -> AsyncIterator[Page[PastParticipant]]:
        path = f"/past_webinars/{encode_path_id(webinar_id_or_uuid)}/participants"
        async for body in self._pages(path, RateLabel.MEDIUM, _PastParticipantPage, {}, start_token):
            yield Page(body.participants, body.next_page_token, body.total_records)

    async def absentee_pages(
        self, webinar_uuid: str, *, start_token: str | None = None
    ) -> AsyncIterator[Page[Registrant]]:
        path = f"/past_webinars/{encode_path_id(webinar_uuid)}/absentees"
        async for body in self._pages(path, RateLabel.HEAVY, _RegistrantPage, {}, start_token):
            yield Page(body.registrants, body.next_page_token, body.total_records)

    async def get_recordings(self, webinar_id_or_uuid: str | int) -> Recording:
        """404 code 3301 (``ZoomNoRecording``) while nothing is ready; retry later (R-SYNC-5)."""
        path = f"/meetings/{encode_path_id(webinar_id_or_uuid)}/recordings"
        return await self._get_model(path, RateLabel.LIGHT, Recording)

    # --- recording files ---------------------------------------------------------------------

    async def download(self, url: str, *, max_bytes: int, download_token: str | None = None) -> bytes:
        """A recording file's bytes from its ``download_url`` (#15.4), streamed and refused past
        ``max_bytes`` (``ZoomDownloadTooLarge``, announced or counted), through the rate limiter.

        Zoom takes the account's OAuth token or a recording webhook's ``download_token`` (24 hours)
        and redirects to its file storage, which is followed without the token (the signed URL
        carries its own authorization). A ``download_token`` is tried first when given; refused
        (expired), the account's token is used. The token is only ever sent to Zoom's hosts or the
        configured API's (``ZoomDownloadNotAllowed`` otherwise)."""
        self._check_download_url(url)
        if self._limiter is not None:
            await self._limiter.acquire(RateLabel.LIGHT)
        if download_token:
            try:
                return await self._download_with(url, download_token, max_bytes)
            except ZoomAuthError:
                pass
        token = await self._auth.token()
        try:
            return await self._download_with(url, token, max_bytes)
        except ZoomTokenExpired:
            token = await self._auth.refresh(rejected=token)
            return await self._download_with(url, token, max_bytes)

    def _check_download_url(self, url: str) -> None:
        target = httpx.URL(url)
        own = {(u.scheme, u.host, u.port) for u in map(httpx.URL, (self._base, self.connection.oauth_base_url))}
        host = target.host.lower()
        on_zoom = target.scheme == "https" and any(
            host == domain or host.endswith(f".{domain}") for domain in ZOOM_DOWNLOAD_DOMAINS
        )
        if not on_zoom and (target.scheme, target.host, target.port) not in own:
            raise ZoomDownloadNotAllowed(f"the download URL is not on Zoom (host {target.host!r})")

    async def _download_with(self, url: str, token: str, max_bytes: int) -> bytes:
        target = httpx.URL(url)
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            try:
                async with self._http.stream("GET", target, headers=headers, follow_redirects=False) as response:
                    self._count("GET", "download", response.status_code)
                    if response.is_redirect and "location" in response.headers:
                        target = response.url.join(response.headers["location"])
                        headers = {}
                        continue
                    if response.status_code >= 300:
                        body = await _read_capped(response, MAX_ERROR_BODY_BYTES, truncate=True)
                        error = self._error(response, body)
                        await self._back_off(error, RateLabel.LIGHT)
                        raise error
                    return await _read_capped(response, max_bytes)
            except httpx.TimeoutException as exc:
                self._count("GET", "download", "timeout")
                raise ZoomTimeout(f"GET {target.path}: timeout ({type(exc).__name__})") from exc
            except httpx.TransportError as exc:
                self._count("GET", "download", "transport_error")
                raise ZoomTransportError(f"GET {target.path}: {type(exc).__name__}") from exc
        raise ZoomResponseError(f"GET {httpx.URL(url).path}: more than {MAX_DOWNLOAD_REDIRECTS} redirects")


def _parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ZoomResponseError(
            f"unexpected answer to {response.request.method} {response.request.url.path}: {exc}",
            http_status=response.status_code,
            tracking_id=response.headers.get("x-zm-trackingid"),
        ) from exc


async def _read_capped(response: httpx.Response, max_bytes: int, *, truncate: bool = False) -> bytes:
    """The body, at most ``max_bytes``: past it, cut (``truncate``) or ``ZoomDownloadTooLarge``."""
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > max_bytes:
        raise ZoomDownloadTooLarge(f"the file is {declared} bytes, more than the {max_bytes} allowed")
    buffer = bytearray()
    async for chunk in response.aiter_bytes():
        buffer += chunk
        if len(buffer) > max_bytes:
            if truncate:
                return bytes(buffer[:max_bytes])
            raise ZoomDownloadTooLarge(f"the file is larger than the {max_bytes} bytes allowed")
    return bytes(buffer)


async def collect(pages: AsyncIterator[Page[T]]) -> list[T]:
    """Every item of every page, in order."""
    items: list[T] = []
    async for page in pages:
        items.extend(page.items)
    return items
