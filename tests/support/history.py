"""Reading a Temporal history the way someone with the database would: payloads decoded."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from temporalio.client import WorkflowHistory


def decoded_payloads(node: Any) -> Iterator[str]:
    """Every payload of a history's JSON form, decoded (payload data is base64 there)."""
    if isinstance(node, dict):
        if "metadata" in node and isinstance(node.get("data"), str):
            yield base64.b64decode(node["data"]).decode("utf-8", "replace")
        for value in node.values():
            yield from decoded_payloads(value)
    elif isinstance(node, list):
        for item in node:
            yield from decoded_payloads(item)


def readable(history: WorkflowHistory) -> str:
    """The history's JSON with every payload decoded after it: ``text not in readable(h)`` means the
    text is in no payload, message or stack trace of ``h``."""
    text = history.to_json()
    return "\n".join([text, *decoded_payloads(json.loads(text))])
