"""Opaque keyset cursors for lists ordered newest first by (timestamp, id)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from engine.crm.errors import InvalidCursor
from engine.crm.numbers import INT64_MAX


def encode_position(at: datetime, row_id: int) -> str:
    payload = json.dumps({"at": at.isoformat(), "id": row_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_position(cursor: str) -> tuple[datetime, int]:
    """The (timestamp, id) of the last row of the previous page; InvalidCursor for anything else."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(payload["at"])
        row_id = payload["id"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise InvalidCursor("cursor is not one this API returned", details={"field": "cursor"}) from None
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not 0 <= row_id <= INT64_MAX or at.tzinfo is None:
        raise InvalidCursor("cursor is not one this API returned", details={"field": "cursor"})
    return at, row_id
