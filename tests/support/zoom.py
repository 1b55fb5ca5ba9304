"""Rollcall's side of the loopback Zoom emulator in tests: a client configuration for a seeded account."""

from __future__ import annotations

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
