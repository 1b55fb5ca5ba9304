"""Zoom's documented facts as the emulator serves them, kept apart from Rollcall's client on purpose.

The emulator and Rollcall's client (``engine/zoom``) must each follow the real API, not each
other: a mistake copied from one into the other would make their tests agree on it. So the
emulator imports nothing from Rollcall and keeps its own statement of plans, rate labels and
limits, messages and limits on inputs (sources: Zoom's API reference and OpenAPI description,
``tests/data/zoom/README.md``).
"""

from __future__ import annotations

from enum import StrEnum


class Plan(StrEnum):
    """The account plan, which sizes the rate limits."""

    FREE = "free"
    PRO = "pro"
    BUSINESS = "business"


class RateLabel(StrEnum):
    """Zoom's rate-limit label of an endpoint (served in ``X-RateLimit-Category``)."""

    LIGHT = "Light"
    MEDIUM = "Medium"
    HEAVY = "Heavy"


#: Requests per second per account, by plan and label.
PER_SECOND_LIMITS: dict[Plan, dict[RateLabel, int]] = {
    Plan.FREE: {RateLabel.LIGHT: 4, RateLabel.MEDIUM: 2, RateLabel.HEAVY: 1},
    Plan.PRO: {RateLabel.LIGHT: 30, RateLabel.MEDIUM: 20, RateLabel.HEAVY: 10},
    Plan.BUSINESS: {RateLabel.LIGHT: 80, RateLabel.MEDIUM: 60, RateLabel.HEAVY: 40},
}

#: Requests per UTC day per account; a missing entry means no documented daily limit.
DAILY_LIMITS: dict[Plan, dict[RateLabel, int]] = {
    Plan.FREE: {RateLabel.LIGHT: 6_000, RateLabel.MEDIUM: 2_000, RateLabel.HEAVY: 1_000},
    Plan.PRO: {RateLabel.HEAVY: 30_000},
    Plan.BUSINESS: {RateLabel.HEAVY: 60_000},
}

QPS_MESSAGE = "You have reached the maximum per-second rate limit for this API. Try again later."
DAILY_MESSAGE = (
    "You have reached the maximum daily rate limit for this API. "
    "Refer to the response header for details on when you can make another request."
)
PAGE_TOKEN_EXPIRED_MESSAGE = "The next page token is invalid or expired."

#: ``creation_source`` of a webinar created as part of a Zoom Event (R-SCOPE-2: the marker the
#: emulator serves for seeds with ``zoom_event: true``; other webinars say ``web_portal``).
ZOOM_EVENTS_CREATION_SOURCE = "zoom_events"

TOKEN_LIFETIME_SECONDS = 3600
PAGE_TOKEN_LIFETIME_SECONDS = 15 * 60
MAX_PAGE_SIZE = 300
DEFAULT_PAGE_SIZE = 30
ADDS_PER_EMAIL_PER_DAY = 3
STATUS_CHANGES_PER_REGISTRANT_PER_DAY = 10
MAX_STATUS_BATCH = 30
#: Registrant input limits (Zoom's OpenAPI: ``maxLength`` of first_name/last_name 64, email 128,
#: a custom question's value 128).
MAX_NAME_LENGTH = 64
MAX_EMAIL_LENGTH = 128
MAX_ANSWER_LENGTH = 128
