"""How a webinar id or instance UUID goes into a URL path (docs/zoom.md, "Webinar instances and UUIDs").

A UUID that starts with ``/`` or contains ``//`` must be percent-encoded **twice** (a single
encoding is answered 404); every other UUID is encoded once. ``+``, ``/`` and ``=`` are always
percent-encoded. Numeric webinar ids pass through unchanged.
"""

from __future__ import annotations

from urllib.parse import quote


def needs_double_encoding(uuid: str) -> bool:
    return uuid.startswith("/") or "//" in uuid


def encode_path_id(id_or_uuid: str | int) -> str:
    """The path segment for a webinar id (digits) or an instance UUID."""
    text = str(id_or_uuid)
    if text.isdigit():
        return text
    once = quote(text, safe="")
    return quote(once, safe="") if needs_double_encoding(text) else once
