"""The emulator's webhook sender: signs like Zoom, validates endpoints, redelivers on failure.

Signature timestamps use the real wall clock (the receiver checks them against its own clock);
``event_ts`` in the body uses the emulator clock, like every other time the emulator serves.
Zoom retries after 5, 20 and 60 minutes; tests compress that with ``retry_schedule_seconds``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from zoom_emulator.core.clock import EmulatorClock

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
URL_VALIDATION_EVENT = "endpoint.url_validation"

ZOOM_RETRY_SCHEDULE_SECONDS = (300.0, 1200.0, 3600.0)
#: Zoom expects an answer within 3 seconds.
DELIVERY_TIMEOUT_SECONDS = 3.0


@dataclass
class Subscription:
    id: int
    account_id: str
    url: str
    secret_token: str = field(repr=False)
    validated: bool
    validation_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.account_id,
            "url": self.url,
            "validated": self.validated,
            "validation_error": self.validation_error,
        }


@dataclass
class DeliveryAttempt:
    subscription_id: int
    event: str
    event_ts: int
    attempt: int
    status_code: int | None
    error: str
    at: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def sign(secret_token: str, timestamp: str, raw_body: bytes) -> str:
    """Zoom's ``x-zm-signature``: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}``."""
    message = f"v0:{timestamp}:".encode() + raw_body
    return "v0=" + hmac.new(secret_token.encode(), message, hashlib.sha256).hexdigest()


def url_validation_response(secret_token: str, plain_token: str) -> dict[str, str]:
    """What a subscribed endpoint must answer to ``endpoint.url_validation``."""
    encrypted = hmac.new(secret_token.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


class WebhookEmitter:
    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self.subscriptions: dict[int, Subscription] = {}
        self.attempts: list[DeliveryAttempt] = []
        self.retry_schedule_seconds: tuple[float, ...] = ZOOM_RETRY_SCHEDULE_SECONDS
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS)
        return self._http

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()

    def reset(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.subscriptions.clear()
        self.attempts.clear()
        self.retry_schedule_seconds = ZOOM_RETRY_SCHEDULE_SECONDS

    async def _post(self, subscription: Subscription, body: bytes) -> httpx.Response:
        timestamp = str(int(time.time()))
        headers = {
            "content-type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(subscription.secret_token, timestamp, body),
        }
        return await self._client().post(subscription.url, content=body, headers=headers)

    async def subscribe(self, account_id: str, url: str, secret_token: str) -> Subscription:
        """Zoom's URL-validation handshake: the endpoint must echo the plain token with its HMAC."""
        subscription = Subscription(next(self._ids), account_id, url, secret_token, validated=False)
        plain_token = secrets.token_urlsafe(16)
        body = self._body(URL_VALIDATION_EVENT, {"plainToken": plain_token})
        try:
            response = await self._post(subscription, body)
            expected = url_validation_response(secret_token, plain_token)
            if response.status_code != 200:
                subscription.validation_error = f"endpoint answered HTTP {response.status_code}"
            elif response.json() != expected:
                subscription.validation_error = "endpoint answered a wrong plainToken/encryptedToken"
            else:
                subscription.validated = True
        except (httpx.HTTPError, ValueError) as exc:
            subscription.validation_error = f"{type(exc).__name__}: {exc}"
        self.subscriptions[subscription.id] = subscription
        return subscription

    def _body(self, event: str, payload: dict[str, Any], extra: dict[str, Any] | None = None) -> bytes:
        document = {"event": event, "payload": payload, "event_ts": int(self._clock.timestamp() * 1000)}
        document.update(extra or {})
        return json.dumps(document, separators=(",", ":")).encode()

    def emit(
        self,
        account_id: str,
        event: str,
        obj: dict[str, Any],
        *,
        payload_extra: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Queue one event to every validated subscription of the account; returns how many.

        ``payload_extra`` goes beside ``object`` (e.g. ``operator``), ``extra`` beside ``payload``
        (e.g. ``download_token``).
        """
        targets = [s for s in self.subscriptions.values() if s.validated and s.account_id == account_id]
        if not targets:
            return 0
        payload = {"account_id": account_id, **(payload_extra or {}), "object": obj}
        body = self._body(event, payload, extra)
        for subscription in targets:
            task = asyncio.get_running_loop().create_task(self._deliver(subscription, event, body))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(targets)

    async def _deliver(self, subscription: Subscription, event: str, body: bytes) -> None:
        event_ts = json.loads(body)["event_ts"]
        # The same body every time: a redelivery differs only in its timestamp and signature.
        for attempt, delay in enumerate((0.0, *self.retry_schedule_seconds), start=1):
            if delay:
                await asyncio.sleep(delay)
            status: int | None = None
            error = ""
            try:
                status = (await self._post(subscription, body)).status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            record = DeliveryAttempt(subscription.id, event, event_ts, attempt, status, error, time.time())
            self.attempts.append(record)
            if record.succeeded:
                return
