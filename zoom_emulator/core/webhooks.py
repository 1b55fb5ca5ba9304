"""The emulator's webhook sender: signs like Zoom, validates endpoints, redelivers on failure.

Both the body's ``event_ts`` (milliseconds; for an event the emulator runs, the moment it happened)
and the ``x-zm-request-timestamp`` header (seconds, when the request is sent) come from the
emulator clock, as both come from Zoom's clock. A test that moves the emulator clock away from
the wall clock while its receiver checks timestamps against the wall clock can sign with the wall
clock instead (``timestamp_clock = "wall"``, admin ``PUT /_admin/webhooks/signing``).

Each subscription gets its events in the order they were emitted (one first attempt at a time);
a failed delivery is retried apart after 5, 20 and 60 minutes of emulator time (tests compress
that with ``retry_schedule_seconds``), with the same body. Subscribing the same URL of the same
account again replaces its secret token and retries its waiting deliveries at once.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from zoom_emulator.core.clock import EmulatorClock

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
URL_VALIDATION_EVENT = "endpoint.url_validation"

ZOOM_RETRY_SCHEDULE_SECONDS = (300.0, 1200.0, 3600.0)
#: Zoom expects an answer within 3 seconds.
DELIVERY_TIMEOUT_SECONDS = 3.0
#: How many emitted documents ``emitted`` keeps (admin ``GET /_admin/webhooks/events``).
EMITTED_KEPT = 2000

TimestampClock = Literal["emulator", "wall"]


def sign(secret_token: str, timestamp: str, raw_body: bytes) -> str:
    """Zoom's ``x-zm-signature``: ``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}``."""
    message = f"v0:{timestamp}:".encode() + raw_body
    return "v0=" + hmac.new(secret_token.encode(), message, hashlib.sha256).hexdigest()


def url_validation_response(secret_token: str, plain_token: str) -> dict[str, str]:
    """What a subscribed endpoint must answer to ``endpoint.url_validation``."""
    encrypted = hmac.new(secret_token.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": plain_token, "encryptedToken": encrypted}


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
class Delivery:
    """One event on its way to one subscription; ``attempts`` made so far."""

    subscription_id: int
    event: str
    event_ts: int
    body: bytes
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "event": self.event,
            "event_ts": self.event_ts,
            "body": self.body.decode(),
            "attempts": self.attempts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Delivery:
        return cls(
            int(data["subscription_id"]), str(data["event"]), int(data["event_ts"]), str(data["body"]).encode(),
            int(data["attempts"]),
        )  # fmt: skip


@dataclass
class DeliveryAttempt:
    subscription_id: int
    event: str
    event_ts: int
    attempt: int
    status_code: int | None
    error: str
    #: Emulator time of the attempt.
    at: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookEmitter:
    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self.subscriptions: dict[int, Subscription] = {}
        self.attempts: list[DeliveryAttempt] = []
        self.emitted: collections.deque[dict[str, Any]] = collections.deque(maxlen=EMITTED_KEPT)
        self.retry_schedule_seconds: tuple[float, ...] = ZOOM_RETRY_SCHEDULE_SECONDS
        self.timestamp_clock: TimestampClock = "emulator"
        #: First attempts waiting, in order, per subscription.
        self._queues: dict[int, collections.deque[Delivery]] = collections.defaultdict(collections.deque)
        self._senders: dict[int, asyncio.Task[None]] = {}
        #: Failed deliveries waiting for their next attempt.
        self._retrying: dict[int, tuple[Delivery, asyncio.Task[None] | None]] = {}
        self._retry_ids = itertools.count(1)
        self._http: httpx.AsyncClient | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS)
        return self._http

    def start(self) -> None:
        """Send what was queued before the event loop ran (seeding, a restored state file)."""
        for subscription_id in list(self._queues):
            self._kick(subscription_id)
        for key, (delivery, task) in list(self._retrying.items()):
            if task is None:
                self._schedule_retry(key, delivery, 0.0)

    async def aclose(self) -> None:
        tasks = [*self._senders.values(), *(task for _, task in self._retrying.values() if task is not None)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def reset(self) -> None:
        for task in [*self._senders.values(), *(task for _, task in self._retrying.values() if task is not None)]:
            task.cancel()
        self._senders.clear()
        self._retrying.clear()
        self._queues.clear()
        self.subscriptions.clear()
        self.attempts.clear()
        self.emitted.clear()
        self.retry_schedule_seconds = ZOOM_RETRY_SCHEDULE_SECONDS
        self.timestamp_clock = "emulator"

    # --- subscriptions -------------------------------------------------------------------------

    async def subscribe(self, account_id: str, url: str, secret_token: str) -> Subscription:
        """Zoom's URL-validation handshake: the endpoint must echo the plain token with its HMAC.

        The same account and URL again is the same subscription with a new secret token.
        """
        existing = next((s for s in self.subscriptions.values() if (s.account_id, s.url) == (account_id, url)), None)
        subscription = Subscription(
            existing.id if existing else next(self._ids), account_id, url, secret_token, validated=False
        )
        plain_token = secrets.token_urlsafe(16)
        body = self._document_bytes({"event": URL_VALIDATION_EVENT, "payload": {"plainToken": plain_token},
                                     "event_ts": self._now_ms()})  # fmt: skip
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
        if subscription.validated:
            self._retry_now(subscription.id)
        return subscription

    def unsubscribe(self, subscription_id: int) -> bool:
        self._queues.pop(subscription_id, None)
        for key, (delivery, task) in list(self._retrying.items()):
            if delivery.subscription_id == subscription_id:
                if task is not None:
                    task.cancel()
                del self._retrying[key]
        return self.subscriptions.pop(subscription_id, None) is not None

    # --- emitting ------------------------------------------------------------------------------

    def emit(
        self,
        account_id: str,
        event: str,
        obj: dict[str, Any],
        *,
        payload_extra: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        event_ts: int | None = None,
    ) -> int:
        """Queue one event to every validated subscription of the account; returns how many.

        ``payload_extra`` goes beside ``object`` (e.g. ``operator``), ``extra`` beside ``payload``
        (e.g. ``download_token``); ``event_ts`` defaults to now on the emulator clock.
        """
        document: dict[str, Any] = {
            "event": event,
            "payload": {"account_id": account_id, **(payload_extra or {}), "object": obj},
            "event_ts": self._now_ms() if event_ts is None else event_ts,
            **(extra or {}),
        }
        self.emitted.append(document)
        targets = [s for s in self.subscriptions.values() if s.validated and s.account_id == account_id]
        body = self._document_bytes(document)
        for subscription in targets:
            self._queues[subscription.id].append(Delivery(subscription.id, event, document["event_ts"], body))
            self._kick(subscription.id)
        return len(targets)

    def pending(self) -> list[Delivery]:
        """Deliveries not yet answered 2xx that still have attempts left (the outbox)."""
        queued = [d for queue in self._queues.values() for d in queue]
        return queued + [delivery for delivery, _ in self._retrying.values()]

    def restore_ids(self, last_subscription_id: int) -> None:
        self._ids = itertools.count(last_subscription_id + 1)

    def restore_pending(self, deliveries: list[Delivery]) -> None:
        """Put a saved outbox back: first attempts queue again, retries wait to be re-sent on ``start``."""
        for delivery in deliveries:
            if delivery.subscription_id not in self.subscriptions:
                continue
            if delivery.attempts == 0:
                self._queues[delivery.subscription_id].append(delivery)
            else:
                self._retrying[next(self._retry_ids)] = (delivery, None)

    # --- internals -----------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock.timestamp() * 1000)

    @staticmethod
    def _document_bytes(document: dict[str, Any]) -> bytes:
        return json.dumps(document, separators=(",", ":")).encode()

    def _kick(self, subscription_id: int) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: ``start`` sends the queue
        sender = self._senders.get(subscription_id)
        if sender is None or sender.done():
            self._senders[subscription_id] = loop.create_task(self._send_queue(subscription_id))

    async def _send_queue(self, subscription_id: int) -> None:
        queue = self._queues[subscription_id]
        while queue:
            delivery = queue.popleft()
            if not await self._attempt(delivery):
                self._after_failure(delivery)

    def _after_failure(self, delivery: Delivery) -> None:
        if delivery.attempts <= len(self.retry_schedule_seconds):
            delay = self.retry_schedule_seconds[delivery.attempts - 1]
            self._schedule_retry(next(self._retry_ids), delivery, self._clock.real_seconds_for(delay))

    def _schedule_retry(self, key: int, delivery: Delivery, real_delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._retrying[key] = (delivery, None)
            return
        self._retrying[key] = (delivery, loop.create_task(self._retry(key, delivery, real_delay)))

    async def _retry(self, key: int, delivery: Delivery, real_delay: float) -> None:
        await asyncio.sleep(real_delay)
        self._retrying.pop(key, None)
        if delivery.subscription_id in self.subscriptions and not await self._attempt(delivery):
            self._after_failure(delivery)

    def _retry_now(self, subscription_id: int) -> None:
        for key, (delivery, task) in list(self._retrying.items()):
            if delivery.subscription_id == subscription_id:
                if task is not None:
                    task.cancel()
                self._schedule_retry(key, delivery, 0.0)

    def _timestamp(self) -> str:
        return str(int(self._clock.timestamp() if self.timestamp_clock == "emulator" else time.time()))

    async def _post(self, subscription: Subscription, body: bytes) -> httpx.Response:
        timestamp = self._timestamp()
        headers = {
            "content-type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(subscription.secret_token, timestamp, body),
        }
        return await self._client().post(subscription.url, content=body, headers=headers)

    async def _attempt(self, delivery: Delivery) -> bool:
        """One attempt (the same body every time: a redelivery differs only in its timestamp and signature)."""
        subscription = self.subscriptions.get(delivery.subscription_id)
        if subscription is None:
            return True  # unsubscribed meanwhile: nothing left to do
        delivery.attempts += 1
        status: int | None = None
        error = ""
        try:
            status = (await self._post(subscription, delivery.body)).status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        record = DeliveryAttempt(
            subscription.id,
            delivery.event,
            delivery.event_ts,
            delivery.attempts,
            status,
            error,
            self._clock.timestamp(),
        )
        self.attempts.append(record)
        return record.succeeded
