"""The demo parts of ``rollcall up``: with no Zoom connection configured, the built-in Zoom
emulator and its two demo accounts, each linked to a business unit; with example secrets nobody
configured, the webhook inbox standing in for them."""

from __future__ import annotations

import re
import secrets
import sys
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from engine.cli.supervisor import Child
from engine.config import STATE_DIR, Settings
from engine.crm import accounts
from engine.crm.errors import BusinessUnitExists, ZoomConnectionExists
from engine.crm.tables import PRIMARY_BUSINESS_UNIT_ID
from engine.demo.inbox import DEMO_SECRETS
from engine.enrollment.context import Secrets
from engine.errors import ConfigurationError
from engine.zoom.settings import ZoomConnectionConfig
from zoom_emulator import DEMO_SEED_PATH, SeedDocument

#: The variable the worker and API read their Zoom connections from (``ZoomSettings.connections``).
ZOOM_CONNECTIONS_VARIABLE = "ROLLCALL_ZOOM_CONNECTIONS"
#: Where the second demo account's business unit gets its name when the seed's account name says
#: nothing like "(BU EMEA)".
FALLBACK_SECOND_BUSINESS_UNIT = "EMEA"
#: The emulator's state (webinars, registrants, what it has run, webhook subscriptions and outbox)
#: survives a restart of ``rollcall up`` here; ``rollcall up --reset-zoom-emulator`` starts over.
ZOOM_EMULATOR_STATE_FILE = "zoom-emulator.json"
#: The demo runs the emulator clock at real speed: Rollcall's waits (Temporal timers such as "one
#: hour after the webinar ends") and its webhook signature check (timestamps within 300 s of its
#: own clock) read the wall clock, so a faster Zoom clock would make the story incoherent. The demo
#: seed's live webinar is short instead (it starts 4 minutes after start and lasts 5).
DEMO_EMULATOR_SPEED = 1.0


@dataclass(frozen=True)
class DemoZoomConnection:
    """One demo Zoom account of the emulator, and the business unit it is connected to."""

    config: ZoomConnectionConfig
    #: None: the primary business unit (``Account``, id 1); else the name of a secondary one.
    business_unit: str | None
    connected_by_email: str

    @property
    def business_unit_label(self) -> str:
        return self.business_unit or "Account"

    def to_env_json(self) -> dict[str, object]:
        config = self.config
        assert config.webhook_secret_token is not None
        return {
            "name": config.name,
            "account_id": config.account_id,
            "client_id": config.client_id,
            "client_secret": config.client_secret.get_secret_value(),
            "api_base_url": config.api_base_url,
            "oauth_base_url": config.oauth_base_url,
            "plan": config.plan.value,
            "webhook_secret_token": config.webhook_secret_token.get_secret_value(),
        }


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "bu"


def demo_zoom_connections(seed: SeedDocument, emulator_url: str) -> list[DemoZoomConnection]:
    """The demo seed's first account for BU ``Account``, its second for a second BU (named from the
    seed account's "(BU …)" or ``EMEA``). Credentials are the seed's; the webhook secret token is
    made fresh for every ``rollcall up`` (the emulator learns it when it subscribes, see below), so
    a demo stack never accepts webhooks signed with a secret anyone could read in the repository."""
    if len(seed.accounts) < 2:
        raise ConfigurationError(f"the demo Zoom seed {DEMO_SEED_PATH} needs two accounts")
    found: list[DemoZoomConnection] = []
    for index, account in enumerate(seed.accounts[:2]):
        if index == 0:
            business_unit = None
        else:
            match = re.search(r"\(BU ([^)]+)\)", account.name)
            business_unit = match.group(1).strip() if match else FALLBACK_SECOND_BUSINESS_UNIT
        config = ZoomConnectionConfig.model_validate(
            {
                "name": f"demo-{_slug(business_unit or 'account')}",
                "account_id": account.id,
                "client_id": account.client_id,
                "client_secret": account.client_secret,
                "api_base_url": f"{emulator_url}/v2",
                "oauth_base_url": emulator_url,
                "plan": account.plan,
                "webhook_secret_token": secrets.token_urlsafe(24),
            }
        )
        if not account.users:
            raise ConfigurationError(f"demo Zoom account {account.id} has no users to connect it")
        # The account's first user is the one who connected it (the marketing owner in the demo seed).
        found.append(DemoZoomConnection(config, business_unit, account.users[0].email))
    return found


def _business_unit_id(session: Session, name: str | None) -> int:
    """The primary business unit (None), or the one named, created if missing."""
    if name is None:
        return PRIMARY_BUSINESS_UNIT_ID
    unit = next((u for u in accounts.list_business_units(session) if u.name == name), None)
    if unit is None:
        try:
            unit = accounts.create_business_unit(session, name)
        except BusinessUnitExists:  # created concurrently
            unit = next(u for u in accounts.list_business_units(session) if u.name == name)
    assert unit.id is not None
    return unit.id


def _link(session: Session, link: DemoZoomConnection) -> str:
    """Link one demo account to its business unit; the banner's line about it."""
    unit_id = _business_unit_id(session, link.business_unit)
    existing = accounts.zoom_connection_of_business_unit(session, unit_id)
    config = link.config
    target = f"{config.name} ({config.account_id}) → BU {link.business_unit_label}"
    if existing is not None and existing.zoom_account_id != config.account_id:
        return f"{target}: not linked, the BU is connected to {existing.zoom_account_id}"
    if existing is None:
        try:
            accounts.create_zoom_connection(
                session,
                business_unit_id=unit_id,
                name=config.name,
                zoom_account_id=config.account_id,
                connected_by_email=link.connected_by_email,
                credentials_ref=f"env:{ZOOM_CONNECTIONS_VARIABLE}",
            )
        except ZoomConnectionExists:
            return f"{target}: not linked, the name or account is connected to another BU"
    return target


def register_demo_zoom_connections(db_engine: Engine, demo: list[DemoZoomConnection]) -> list[str]:
    """Link each demo account to its business unit in the CRM store, creating the secondary BU if
    missing. Idempotent: an existing link is kept; a BU already connected to another Zoom account
    (or an account already linked elsewhere) is left alone. Returns one line per link for the banner."""
    with Session(db_engine) as session:
        lines = [_link(session, link) for link in demo]
        session.commit()
    return lines


def subscribe_demo_webhooks(emulator_url: str, api_url: str, demo: list[DemoZoomConnection]) -> list[str]:
    """Subscribe the API's webhook route in the emulator for each demo account (the emulator runs
    Zoom's URL-validation handshake against it); returns what to print. Failures are reported, not fatal."""
    lines = []
    with httpx.Client(timeout=15) as client:
        for link in demo:
            config = link.config
            assert config.webhook_secret_token is not None
            url = f"{api_url}/v1/zoom/webhooks/{config.name}"
            try:
                response = client.post(
                    f"{emulator_url}/_admin/webhooks/subscriptions",
                    json={
                        "account_id": config.account_id,
                        "url": url,
                        "secret_token": config.webhook_secret_token.get_secret_value(),
                    },
                )
                answer = response.json()
                problem = "" if answer.get("validated") else str(answer.get("validation_error") or response.text)
            except (httpx.HTTPError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            lines.append(f"{url}" + (f"  [NOT subscribed: {problem}]" if problem else ""))
    return lines


def emulator_child(port: int, *, reset: bool) -> Child:
    rollcall = [sys.executable, "-m", "engine.cli"]
    argv = [*rollcall, "zoom-emulator", "--port", str(port), "--seed", str(DEMO_SEED_PATH)]
    argv += ["--state-file", str(STATE_DIR / ZOOM_EMULATOR_STATE_FILE), "--speed", str(DEMO_EMULATOR_SPEED)]
    argv += ["--reset"] if reset else []
    return Child(name="zoom-emulator", argv=[*argv, "--log-level", "warning"])


def unconfigured_demo_secrets(settings: Settings) -> list[str]:
    """The example definitions' secrets nobody configured (environment or secrets file): the
    demo's webhook inbox stands in for them."""
    configured = Secrets(settings.secrets_file)
    missing = []
    for name in DEMO_SECRETS:
        try:
            configured[name]
        except KeyError:
            missing.append(name)
    return missing
