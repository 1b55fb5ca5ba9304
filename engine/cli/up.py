"""``rollcall up``: the whole stack on embedded defaults, supervised as child processes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import socket
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from sqlalchemy import Engine
from sqlmodel import Session

from engine.api.auth import configured_keys
from engine.codec import PayloadKey, generate_key, read_key_file, write_key_file
from engine.codec import configured_keys as configured_payload_keys
from engine.config import STATE_DIR, LogFormat, Settings
from engine.crm import accounts
from engine.crm.db import create_db_engine, current_revision, upgrade_database
from engine.crm.errors import BusinessUnitExists, ZoomConnectionExists
from engine.crm.tables import PRIMARY_BUSINESS_UNIT_ID
from engine.demo.inbox import DEMO_SECRETS
from engine.enrollment.context import SECRET_ENV_PREFIX, Secrets
from engine.enrollment.egress import WEBHOOK_ALLOW_SETTING, check_webhook_settings
from engine.errors import ConfigurationError
from engine.known_secrets import zoom_secret_values
from engine.logging import redact_text, register_secret_values
from engine.stack_file import StackInfo, forget_stack, record_stack, stack_env_file
from engine.supervisor import Child, ChildFailed, Supervisor, installed_binary, port_open
from engine.temporal import connect, dev_server_search_attribute_args, register_search_attributes
from engine.tracing import otlp_endpoint
from engine.zoom.settings import ZoomConfigError, ZoomConnectionConfig, load_zoom_connections
from zoom_emulator import DEMO_SEED_PATH, SeedDocument, load_seed

#: The worker's metrics port under ``rollcall up`` when ``ROLLCALL_WORKER_METRICS_PORT`` is unset.
UP_WORKER_METRICS_PORT = 9464

#: The name of the admin key ``rollcall up`` generates when no key is configured.
LOCAL_ADMIN_KEY_NAME = "local-admin"


def local_api_key_path(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / "api-key"


def local_api_key(state_dir: Path = STATE_DIR) -> str:
    """The admin key of a local stack without configured keys, kept in .rollcall/api-key: created
    owner-only (0600, folder 0700) in one step, so it is never readable by anyone else (#12.7)."""
    path = local_api_key_path(state_dir)
    if path.exists():
        path.chmod(0o600)
        return path.read_text().strip()
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(key + "\n")
    return key


def local_payload_keys_path(state_dir: Path = STATE_DIR) -> Path:
    return state_dir / "payload-keys"


def local_payload_keys(state_dir: Path = STATE_DIR) -> Path:
    """#17.4: the payload key file of a local stack without configured payload keys, generated once
    (0600) and kept: runs written with it must stay readable."""
    path = local_payload_keys_path(state_dir)
    if not path.exists():
        write_key_file(path, [generate_key("local-1")])
    path.chmod(0o600)
    return path


def _temporal_dev_server(settings: Settings, codec_endpoint: str | None = None) -> Child:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    return Child(
        name="temporal",
        argv=[
            installed_binary("temporal"),
            "server",
            "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(settings.temporal_dev_port),
            "--ui-port", str(settings.temporal_ui_port),
            "--namespace", settings.temporal_namespace,
            # Persistent history; WAL + synchronous=off roughly doubles throughput
            # (docs/temporal.md, "Dev server storage").
            "--db-filename", str(STATE_DIR / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=off",
            # Its own lines: JSON in JSON mode (`up` re-emits each one naming process "temporal").
            "--log-format", "json" if settings.log_format is LogFormat.JSON else "text",
            "--log-level", "warn" if settings.log_level.upper() == "DEBUG" else "error",
            # Its Prometheus endpoint on a fixed port (#17.1), not a random one.
            *(["--metrics-port", str(settings.temporal_metrics_port)] if settings.temporal_metrics_port else []),
            *dev_server_search_attribute_args(),
            # The Web UI works offline: it does not fetch Temporal's newsfeed from the internet.
            "--ui-disable-news-fetch",
            # The Web UI decodes payloads through the API's codec routes (#17.4).
            *(["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []),
        ],
    )  # fmt: skip


async def _prepare_temporal(settings: Settings, target: str, *, patience: float = 30.0) -> None:
    # The dev server opens its port a moment before its frontend is healthy ("Frontend is not
    # healthy yet"), longer on a busy machine: that answer is waited out, any other is final.
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            client = await connect(settings, target=target)
            break
        except RuntimeError as exc:
            if "not healthy yet" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                raise ConfigurationError(f"cannot reach Temporal at {target}: {exc}") from None
            await asyncio.sleep(0.5)
    await register_search_attributes(client)


def _loopback_url(settings: Settings) -> str:
    """The API's URL from this machine (a wildcard bind address is reached on loopback)."""
    host = settings.api_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{host}:{settings.api_port}"


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


# --- Zoom: real connections, or the built-in emulator with the demo seed ------------------------

#: The variable the worker and API read their Zoom connections from (``ZoomSettings.connections``).
ZOOM_CONNECTIONS_VARIABLE = "ROLLCALL_ZOOM_CONNECTIONS"
#: Where the second demo account's business unit gets its name when the seed's account name says
#: nothing like "(BU EMEA)".
FALLBACK_SECOND_BUSINESS_UNIT = "EMEA"


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def register_demo_zoom_connections(db_engine: Engine, demo: list[DemoZoomConnection]) -> list[str]:
    """Link each demo account to its business unit in the CRM store, creating the secondary BU if
    missing. Idempotent: an existing link is kept; a BU already connected to another Zoom account
    (or an account already linked elsewhere) is left alone. Returns one line per link for the banner."""
    lines: list[str] = []
    with Session(db_engine) as session:
        for link in demo:
            if link.business_unit is None:
                unit_id = PRIMARY_BUSINESS_UNIT_ID
            else:
                unit = next((u for u in accounts.list_business_units(session) if u.name == link.business_unit), None)
                if unit is None:
                    try:
                        unit = accounts.create_business_unit(session, link.business_unit)
                    except BusinessUnitExists:  # created concurrently
                        unit = next(u for u in accounts.list_business_units(session) if u.name == link.business_unit)
                assert unit.id is not None
                unit_id = unit.id
            existing = accounts.zoom_connection_of_business_unit(session, unit_id)
            config = link.config
            target = f"{config.name} ({config.account_id}) → BU {link.business_unit_label}"
            if existing is not None and existing.zoom_account_id != config.account_id:
                lines.append(f"{target}: not linked, the BU is connected to {existing.zoom_account_id}")
                continue
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
                    lines.append(f"{target}: not linked, the name or account is connected to another BU")
                    continue
            lines.append(target)
        session.commit()
    return lines


def _load_zoom_connections() -> dict[str, ZoomConnectionConfig]:
    try:
        return load_zoom_connections()
    except ZoomConfigError as exc:
        raise ConfigurationError(str(exc)) from None


def _subscribe_demo_webhooks(emulator_url: str, api_url: str, demo: list[DemoZoomConnection]) -> list[str]:
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


def _unconfigured_demo_secrets(settings: Settings) -> list[str]:
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


#: The emulator's state (webinars, registrants, what it has run, webhook subscriptions and outbox)
#: survives a restart of ``rollcall up`` here; ``rollcall up --reset-zoom-emulator`` starts over.
ZOOM_EMULATOR_STATE_FILE = "zoom-emulator.json"
#: The demo runs the emulator clock at real speed: Rollcall's waits (Temporal timers such as "one
#: hour after the webinar ends") and its webhook signature check (timestamps within 300 s of its
#: own clock) read the wall clock, so a faster Zoom clock would make the story incoherent. The demo
#: seed's live webinar is short instead (it starts 4 minutes after start and lasts 5).
DEMO_EMULATOR_SPEED = 1.0


def _emulator_child(port: int, *, reset: bool) -> Child:
    rollcall = [sys.executable, "-m", "engine.cli"]
    argv = [*rollcall, "zoom-emulator", "--port", str(port), "--seed", str(DEMO_SEED_PATH)]
    argv += ["--state-file", str(STATE_DIR / ZOOM_EMULATOR_STATE_FILE), "--speed", str(DEMO_EMULATOR_SPEED)]
    argv += ["--reset"] if reset else []
    return Child(name="zoom-emulator", argv=[*argv, "--log-level", "warning"])


class Banner:
    """What ``up`` tells its operator: Rich text on the console, or in JSON mode one JSON log line
    per message with the same facts as fields (the "Rollcall is up" panel included)."""

    def __init__(self, console: Console, log_format: LogFormat) -> None:
        self._console = console
        self._json = log_format is LogFormat.JSON
        self._log = structlog.get_logger("rollcall.up")

    def say(self, text: str, event: str, **fields: object) -> None:
        if self._json:
            self._log.info(event, **fields)
        else:
            self._console.print(redact_text(text), soft_wrap=True, highlight=False, markup=False)

    def error(self, text: str, **fields: object) -> None:
        if self._json:
            self._log.error(text, **fields)
        else:
            self._console.print(f"[red]{escape(redact_text(text))}[/red]", soft_wrap=True, highlight=False)

    def panel(self, lines: list[str], **fields: object) -> None:
        if self._json:
            self._log.info("Rollcall is up", **fields)
        else:
            body = redact_text("\n".join(lines))
            self._console.print(Panel(body, title="Rollcall is up", expand=False))


def _metric_urls(settings: Settings, worker_metrics_port: int) -> dict[str, str]:
    """Every Prometheus endpoint of the stack (#17.1), for the banner."""
    urls = {"api": f"{_loopback_url(settings)}/metrics"}
    if worker_metrics_port:
        host = settings.worker_metrics_host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        urls["worker"] = f"http://{host}:{worker_metrics_port}/metrics"
    if settings.embedded_temporal and settings.temporal_metrics_port:
        urls["temporal"] = f"http://127.0.0.1:{settings.temporal_metrics_port}/metrics"
    return urls


def _payload_keys(settings: Settings, generated: Path | None) -> list[PayloadKey]:
    """The payload keys the children will use (their values are hidden in every log)."""
    keys = configured_payload_keys(settings)
    return keys + (read_key_file(generated) if generated is not None else [])


def _private_state_dir() -> None:
    """#12.7: everything ``up`` and its children create is owner-only (the Temporal dev server's
    temporal.db, the store, the key), and ``.rollcall/`` itself is 0700, also when an older version made it."""
    os.umask(0o077)
    STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    STATE_DIR.chmod(0o700)


def run_stack(settings: Settings, console: Console, *, reset_zoom_emulator: bool = False) -> int:  # noqa: C901 (the stack in start order, one step per child)
    banner = Banner(console, settings.log_format)
    check_webhook_settings(settings)
    keys = configured_keys(settings)
    configured_payload_keys(settings)  # a bad payload key stops `up` here, in one line (#17.4)
    zoom_connections = _load_zoom_connections()  # their secrets: registered by the CLI (known_secrets)
    _private_state_dir()
    db_engine = create_db_engine(settings.database_url)
    upgrade_database(db_engine)
    store = db_engine.url.render_as_string(hide_password=True)
    revision = current_revision(db_engine)
    banner.say(f"store: {store} at revision {revision}", "store migrated", store=store, revision=revision)
    demo: list[DemoZoomConnection] = []
    emulator_url = ""
    emulator_port = 0
    demo_links: list[str] = []
    if not zoom_connections:
        emulator_port = _free_port()
        emulator_url = f"http://127.0.0.1:{emulator_port}"
        demo = demo_zoom_connections(load_seed(DEMO_SEED_PATH), emulator_url)
        register_secret_values(zoom_secret_values(link.config for link in demo))
        demo_links = register_demo_zoom_connections(db_engine, demo)
    db_engine.dispose()

    if port_open(settings.api_host, settings.api_port):
        raise ConfigurationError(f"port {settings.api_port} is already in use; set ROLLCALL_API_PORT")
    worker_metrics_port = (
        UP_WORKER_METRICS_PORT if settings.worker_metrics_port is None else settings.worker_metrics_port
    )
    if worker_metrics_port and port_open(settings.worker_metrics_host, worker_metrics_port):
        raise ConfigurationError(
            f"port {worker_metrics_port} is already in use; set ROLLCALL_WORKER_METRICS_PORT (0: no worker metrics)"
        )
    child_env: dict[str, str] = {"ROLLCALL_WORKER_METRICS_PORT": str(worker_metrics_port)}
    generated_key = None
    if not keys:
        generated_key = local_api_key()
        register_secret_values([generated_key])
        child_env["ROLLCALL_API_KEYS"] = f"{LOCAL_ADMIN_KEY_NAME}:admin:{generated_key}"

    payload_key_file = None
    if not settings.payload_keys and settings.payload_keys_file is None:
        payload_key_file = local_payload_keys()
        child_env["ROLLCALL_PAYLOAD_KEYS_FILE"] = str(payload_key_file.resolve())
    register_secret_values([text for key in _payload_keys(settings, payload_key_file) for text in key.secrets()])
    codec_endpoint = f"{_loopback_url(settings)}/codec"
    ui_origins = [f"http://127.0.0.1:{settings.temporal_ui_port}", f"http://localhost:{settings.temporal_ui_port}"]
    child_env["ROLLCALL_CODEC_CORS_ORIGINS"] = ",".join([*settings.codec_cors_origins, *ui_origins])

    supervisor = Supervisor(json_lines=settings.log_format is LogFormat.JSON)
    supervisor.install_signal_handlers()
    target = settings.temporal_target
    try:
        if settings.embedded_temporal:
            if settings.temporal_metrics_port and port_open("127.0.0.1", settings.temporal_metrics_port):
                raise ConfigurationError(
                    f"port {settings.temporal_metrics_port} is already in use; set ROLLCALL_TEMPORAL_METRICS_PORT "
                    "(0: no metrics port for the Temporal dev server)"
                )
            if port_open("127.0.0.1", settings.temporal_dev_port):
                raise ConfigurationError(
                    f"port {settings.temporal_dev_port} is already in use; stop that server or point "
                    "ROLLCALL_TEMPORAL_ADDRESS at it"
                )
            supervisor.start(_temporal_dev_server(settings, codec_endpoint))
            supervisor.wait_until(
                "the Temporal dev server", lambda: port_open("127.0.0.1", settings.temporal_dev_port), 60
            )
            child_env["ROLLCALL_TEMPORAL_ADDRESS"] = target
        asyncio.run(_prepare_temporal(settings, target))

        if demo:
            banner.say(
                f"Zoom: no credentials configured — using the built-in Zoom emulator with demo data at "
                f"{emulator_url} (admin API at {emulator_url}/_admin)",
                "Zoom: no credentials configured — using the built-in Zoom emulator with demo data",
                zoom_emulator_url=emulator_url,
                zoom_emulator_admin_url=f"{emulator_url}/_admin",
            )
            supervisor.start(_emulator_child(emulator_port, reset=reset_zoom_emulator))
            supervisor.wait_until("the Zoom emulator", lambda: _http_ok(f"{emulator_url}/_admin/clock"), 60)
            child_env[ZOOM_CONNECTIONS_VARIABLE] = json.dumps([link.to_env_json() for link in demo])
        else:
            names = sorted(zoom_connections)
            banner.say(
                f"Zoom: {len(names)} connection(s) configured: {', '.join(names)}",
                "Zoom connections configured",
                zoom_connections=names,
            )

        rollcall = [sys.executable, "-m", "engine.cli"]
        stand_ins = _unconfigured_demo_secrets(settings)
        inbox_url = ""
        if stand_ins:
            inbox_port = _free_port()
            inbox_url = f"http://127.0.0.1:{inbox_port}"
            supervisor.start(Child(name="webhook-inbox", argv=[*rollcall, "webhook-inbox", "--port", str(inbox_port)]))
            supervisor.wait_until("the webhook inbox", lambda: _http_ok(f"{inbox_url}/healthz"), 60)
            for name in stand_ins:
                child_env[SECRET_ENV_PREFIX + name] = DEMO_SECRETS[name].format(inbox=inbox_url)
            # The inbox is on loopback, which webhooks may not reach unless allowed: allow it, only it.
            child_env[WEBHOOK_ALLOW_SETTING] = ",".join([*settings.webhook_allow, f"127.0.0.1:{inbox_port}"])
            banner.say(
                f"Webhooks: secrets {', '.join(stand_ins)} not configured — webhook steps using them send "
                f"to the demo webhook inbox at {inbox_url} (recorded requests: {inbox_url}/_inbox)",
                "Webhooks: secrets not configured — webhook steps using them send to the demo webhook inbox",
                unconfigured=stand_ins,
                webhook_inbox_url=inbox_url,
            )
        supervisor.start(Child(name="worker", argv=[*rollcall, "worker"], env=child_env))
        supervisor.start(Child(name="api", argv=[*rollcall, "api"], env=child_env))
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        supervisor.wait_until("the API", lambda: _http_ok(f"{api_url}/healthz"), 60)

        fields: dict[str, object] = {"api_url": api_url, "docs_url": f"{api_url}/docs"}
        lines = [f"API          {api_url}  (docs: {api_url}/docs)"]
        if settings.embedded_temporal:
            fields["temporal_ui_url"] = f"http://127.0.0.1:{settings.temporal_ui_port}"
            lines.append(f"Temporal UI  {fields['temporal_ui_url']}")
        fields.update(temporal_address=target, temporal_namespace=settings.temporal_namespace)
        lines.append(f"Temporal     {target}  namespace {settings.temporal_namespace}")
        metric_urls = _metric_urls(settings, worker_metrics_port)
        fields["metrics_urls"] = metric_urls
        traces = otlp_endpoint(settings)
        if traces:
            fields["otlp_endpoint"] = traces
            lines.append(f"Traces       OTLP/HTTP {escape(traces)}/v1/traces")
        key_note = {"api": "" if settings.metrics_public else "  (viewer API key)"}
        lines.append(
            "Metrics      "
            + "\n             ".join(f"{name} {url}{key_note.get(name, '')}" for name, url in metric_urls.items())
        )
        if demo:
            hooks = _subscribe_demo_webhooks(emulator_url, _loopback_url(settings), demo)
            fields.update(
                zoom_emulator_url=emulator_url,
                zoom_emulator_admin_url=f"{emulator_url}/_admin",
                zoom_links=demo_links,
                zoom_webhooks=hooks,
            )
            lines.append(f"Zoom         built-in emulator, demo data: {emulator_url}")
            lines.append(f"             admin API {emulator_url}/_admin")
            lines.extend(f"             {escape(link)}" for link in demo_links)
            lines.extend(f"Webhooks     {escape(hook)}" for hook in hooks)
        else:
            fields["zoom_connections"] = sorted(zoom_connections)
            lines.append(f"Zoom         {', '.join(sorted(zoom_connections))}")
        if inbox_url:
            fields["webhook_inbox_url"] = f"{inbox_url}/_inbox"
            lines.append(f"Webhook inbox {inbox_url}/_inbox  (demo: what webhook steps sent)")
        payloads = f"key file {payload_key_file}" if payload_key_file is not None else "configured keys"
        fields.update(payload_codec_url=codec_endpoint, codec_login_url=f"{codec_endpoint}/login")
        lines.append(f"Payloads     encrypted in Temporal ({payloads})")
        lines.append(f"Codec        {codec_endpoint}  (the Web UI decodes there; log in at /codec/login)")
        if generated_key:
            # The key itself is never printed (nor logged): only where it is kept.
            fields["api_key_file"] = str(local_api_key_path())
            lines.append(f"API key      {local_api_key_path()}  (generated admin key {LOCAL_ADMIN_KEY_NAME!r}: cat it)")
        lines.append("Ctrl-C stops everything.")
        # CLI commands find this stack (its API and UI) without being told its ports (#14.6); the
        # walk-through's shell reads the same addresses from stack.env.
        recorded = record_stack(
            StackInfo(
                api_url=_loopback_url(settings),
                temporal_address=target,
                temporal_namespace=settings.temporal_namespace,
                temporal_ui_url=str(fields["temporal_ui_url"]) if "temporal_ui_url" in fields else None,
                pid=os.getpid(),
                zoom_url=emulator_url or None,
                inbox_url=inbox_url or None,
            )
        )
        fields["stack_env_file"] = str(stack_env_file())
        lines.insert(-1, f"Addresses    {fields['stack_env_file']}  (API, ZOOM, INBOX…, for `.` in a shell)")
        fields["stack_file"] = str(recorded)
        banner.panel(lines, **fields)

        dead = supervisor.watch()
        if dead is not None and dead.process is not None:
            banner.error(f"{dead.name} exited with status {dead.process.returncode}; stopping the stack")
            return 1
        return 0
    except ChildFailed as exc:
        banner.error(f"rollcall up: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        forget_stack(pid=os.getpid())
        supervisor.stop_all()
        banner.say("stopped", "stopped")
