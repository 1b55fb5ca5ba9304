"""The variables templates read: ``contact``, ``steps``, ``enrollment`` and (webhooks only) ``secrets``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from engine.crm.tables import Contact
from engine.enrollment.contracts import StepContext

SECRET_ENV_PREFIX = "ROLLCALL_SECRET_"


def contact_variables(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "properties": dict(contact.properties),
        # R-PROP-2: the personal join link of the webinar registered for last (kept in the store,
        # never in a step's output: issue #17 point 5).
        "zoom_webinar_joinlink": contact.zoom_webinar_joinlink,
    }


def template_context(contact: Contact, ctx: StepContext, secrets: Mapping[str, str] | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {
        "contact": contact_variables(contact),
        "steps": ctx.outputs,
        "enrollment": {
            "id": ctx.enrollment_id,
            "key": ctx.definition_key,
            "version": ctx.version,
            "contact_id": ctx.contact_id,
            "trigger": ctx.trigger,
            "enrolled_at": ctx.enrolled_at.isoformat(),
        },
    }
    if secrets is not None:
        context["secrets"] = secrets
    return context


def short_name(first_name: str | None, last_name: str | None, contact_id: int) -> str:
    """``Jane D.`` for the Web UI's summary (never the email); ``contact 42`` without a name."""
    first = (first_name or "").strip()
    last = (last_name or "").strip()
    if first and last:
        return f"{first} {last[0]}."
    return first or (f"{last[0]}." if last else f"contact {contact_id}")


class Secrets(Mapping[str, str]):
    """``{{ secrets.NAME }}``: ``ROLLCALL_SECRET_NAME`` from the environment, else the secrets file.

    Read when a webhook step runs, so rotating a secret needs no redeploy of definitions; the
    values never enter workflow history (the activity renders the request itself).
    """

    def __init__(self, secrets_file: Path | None) -> None:
        self._file = secrets_file

    def _from_file(self) -> dict[str, str]:
        if self._file is None or not self._file.is_file():
            return {}
        data = yaml.safe_load(self._file.read_text(encoding="utf-8")) or {}
        return {str(key): str(value) for key, value in data.items()} if isinstance(data, dict) else {}

    def __getitem__(self, name: str) -> str:
        value = os.environ.get(SECRET_ENV_PREFIX + name)
        if value is not None:
            return value
        return self._from_file()[name]

    def __iter__(self) -> Iterator[str]:
        names = {key[len(SECRET_ENV_PREFIX) :] for key in os.environ if key.startswith(SECRET_ENV_PREFIX)}
        return iter(sorted(names | set(self._from_file())))

    def __len__(self) -> int:
        return len(list(iter(self)))
