"""Server-to-Server OAuth: one cached access token per connection, refreshed by one caller at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from pydantic import ValidationError

from engine.zoom.errors import ZoomAuthError, ZoomResponseError, ZoomTimeout, ZoomTransportError, error_from_response
from engine.zoom.models import AccessToken
from engine.zoom.settings import ZoomConnectionConfig

#: Fetch a new token this long before the old one expires, so no request races the expiry.
EXPIRY_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class CachedToken:
    value: str = field(repr=False)
    expires_at: float


class ServerToServerAuth:
    """``POST {oauth_base}/oauth/token`` with HTTP Basic ``client_id:client_secret`` and the form
    ``grant_type=account_credentials&account_id=…`` (query parameters are reported to fail).

    Concurrent callers share one fetch: the lock is held while fetching, and a caller that saw a
    token rejected only fetches if nobody replaced that token meanwhile.
    """

    def __init__(
        self,
        connection: ZoomConnectionConfig,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        self._http = http
        self._clock = clock
        self._token: CachedToken | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"ServerToServerAuth(connection={self._connection.name!r})"

    async def token(self) -> str:
        current = self._token
        if current is not None and self._clock() < current.expires_at - EXPIRY_MARGIN_SECONDS:
            return current.value
        async with self._lock:
            current = self._token
            if current is not None and self._clock() < current.expires_at - EXPIRY_MARGIN_SECONDS:
                return current.value
            return await self._fetch()

    async def refresh(self, rejected: str) -> str:
        """A new token after Zoom answered 401 code 124 to ``rejected``."""
        async with self._lock:
            current = self._token
            if current is not None and current.value != rejected:
                return current.value
            return await self._fetch()

    async def _fetch(self) -> str:
        connection = self._connection
        url = f"{connection.oauth_base_url.rstrip('/')}/oauth/token"
        requested_at = self._clock()
        try:
            response = await self._http.post(
                url,
                data={"grant_type": "account_credentials", "account_id": connection.account_id},
                auth=(connection.client_id, connection.client_secret.get_secret_value()),
            )
        except httpx.TimeoutException as exc:
            raise ZoomTimeout(f"timeout fetching a Zoom access token: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise ZoomTransportError(f"cannot reach Zoom OAuth: {exc!r}") from exc
        if response.status_code != 200:
            error = error_from_response(response.status_code, response.headers, response.content)
            if isinstance(error, ZoomAuthError) or response.status_code in (400, 401, 403):
                raise ZoomAuthError(
                    f"Zoom refused the credentials of connection {connection.name!r}: {error.message}",
                    http_status=response.status_code,
                    tracking_id=error.tracking_id,
                )
            raise error
        try:
            token = AccessToken.model_validate_json(response.content)
        except ValidationError as exc:
            raise ZoomResponseError(f"unexpected /oauth/token answer: {exc.error_count()} errors") from exc
        self._token = CachedToken(value=token.access_token, expires_at=requested_at + token.expires_in)
        return token.access_token
