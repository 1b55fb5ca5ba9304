"""Rollcall's side of the loopback Zoom emulator in tests: a client configuration for a seeded account."""

from __future__ import annotations

import re

import httpx

from engine.zoom.settings import ZoomConnectionConfig, ZoomPlan
from zoom_emulator import EmulatorServer


def emulator_connection(
    server: EmulatorServer, account_id: str, *, name: str | None = None, plan: ZoomPlan | None = None
) -> ZoomConnectionConfig:
    """A connection to a seeded account of ``server`` (the emulator serves plain fields; the
    configuration type is Rollcall's)."""
    fields: dict[str, str] = server.connection_fields(account_id)
    if plan is not None:
        fields["plan"] = plan.value
    return ZoomConnectionConfig.model_validate({"name": name or account_id, **fields})


#: A cue of Zoom's transcript as the emulator writes it: number, timing, ``Speaker Name: text``.
ZOOM_CUE = re.compile(r"^\d+\n(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n([^:\n]+): ([^\n]*)$", re.M)


async def served_transcript(server: EmulatorServer, account_id: str, download_url: str) -> str:
    """A recording file as the emulator serves it at its ``download_url``, fetched with plain HTTP
    and the account's OAuth token (not through Rollcall's client)."""
    fields = server.connection_fields(account_id)
    async with httpx.AsyncClient(timeout=30) as http:
        issued = await http.post(
            f"{fields['oauth_base_url']}/oauth/token",
            data={"grant_type": "account_credentials", "account_id": account_id},
            auth=(fields["client_id"], fields["client_secret"]),
        )
        token = issued.json()["access_token"]
        answer = await http.get(download_url, headers={"Authorization": f"Bearer {token}"}, follow_redirects=True)
        answer.raise_for_status()
        return answer.text


def zoom_cues(vtt: str) -> list[tuple[str, str]]:
    """(speaker, text) of every cue, read with a regular expression (independent of the parser)."""
    return [(found.group(3), " ".join(found.group(4).split())) for found in ZOOM_CUE.finditer(vtt)]
