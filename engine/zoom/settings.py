"""Zoom connection configuration: environment (prefix ``ROLLCALL_ZOOM_``) and an optional secrets file.

A connection is one Server-to-Server OAuth app of one Zoom account. Secrets are ``SecretStr`` so
they never appear in logs or reprs. Example secrets file (YAML or JSON)::

    connections:
      - name: account
        account_id: AbC123
        client_id: xyz
        client_secret: "…"
        webhook_secret_token: "…"
        plan: business
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE_URL = "https://api.zoom.us/v2"
DEFAULT_OAUTH_BASE_URL = "https://zoom.us"


class ZoomPlan(StrEnum):
    """The account plan, which sizes Zoom's rate limits (docs/zoom.md, "Rate limits")."""

    FREE = "free"
    PRO = "pro"
    BUSINESS = "business"


class RateLimitOverrides(BaseModel):
    """Calls per second Rollcall may make to one account, by rate category, instead of its plan's:
    for an account Zoom gave other limits, or to leave part of the account's budget (shared by
    every app of the account) to other apps. A category left out keeps the plan's limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    light: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    medium: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    heavy: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    resource_intensive: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class ZoomConnectionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    account_id: str = Field(min_length=1)
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    api_base_url: str = DEFAULT_API_BASE_URL
    oauth_base_url: str = DEFAULT_OAUTH_BASE_URL
    plan: ZoomPlan = ZoomPlan.PRO
    #: Per-second limits that replace the plan's (``RateLimitOverrides``).
    rate_limits: RateLimitOverrides | None = None
    #: The app's "secret token", used to verify webhooks sent for this connection.
    webhook_secret_token: SecretStr | None = None


class ZoomConnectionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connections: list[ZoomConnectionConfig]


class ZoomConfigError(ValueError):
    """The Zoom configuration cannot be used (unreadable file, duplicate names, …)."""

    code = "ZOOM_CONFIG_INVALID"


class ZoomSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROLLCALL_ZOOM_", extra="ignore")

    #: Connections given inline, as JSON in ``ROLLCALL_ZOOM_CONNECTIONS``.
    connections: list[ZoomConnectionConfig] = Field(default_factory=list)
    #: A YAML or JSON file with a ``connections`` list (keeps secrets out of the environment).
    connections_file: Path | None = None
    #: Rollcall's own token buckets, so it does not cause 429s; turn off only against the emulator.
    rate_limit_enabled: bool = True
    #: Workers (and APIs) pace each Zoom account together through the CRM store, so N processes
    #: send what one would; ``false``: each process paces alone (right for one process only).
    rate_limit_shared: bool = True
    timeout_seconds: float = 30.0

    def load_connections(self) -> dict[str, ZoomConnectionConfig]:
        """All configured connections by name; the file and the environment are merged."""
        found = list(self.connections)
        if self.connections_file is not None:
            found.extend(load_connections_file(self.connections_file).connections)
        by_name: dict[str, ZoomConnectionConfig] = {}
        for connection in found:
            if connection.name in by_name:
                raise ZoomConfigError(f"Zoom connection {connection.name!r} is configured twice")
            by_name[connection.name] = connection
        return by_name


def load_connections_file(path: Path) -> ZoomConnectionsFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ZoomConfigError(f"cannot read Zoom connections file {path}: {exc.strerror}") from exc
    data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    return ZoomConnectionsFile.model_validate(data)


def load_zoom_connections(settings: ZoomSettings | None = None) -> dict[str, ZoomConnectionConfig]:
    """``ZoomSettings().load_connections()`` with every failure turned into one ``ZoomConfigError`` line.

    The message names where the problem is but never echoes a configured value (they hold secrets).
    """
    try:
        return (settings if settings is not None else ZoomSettings()).load_connections()
    except ZoomConfigError:
        raise
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "connections"
        raise ZoomConfigError(
            f"the Zoom configuration is invalid ({exc.error_count()} error(s); first at {where}: {first['msg']})"
        ) from None
    except (ValueError, yaml.YAMLError) as exc:
        # pydantic-settings' SettingsError (bad JSON in ROLLCALL_ZOOM_CONNECTIONS), json/yaml syntax errors.
        raise ZoomConfigError(
            f"the Zoom configuration cannot be parsed ({type(exc).__name__}); check ROLLCALL_ZOOM_CONNECTIONS "
            "and ROLLCALL_ZOOM_CONNECTIONS_FILE"
        ) from None
