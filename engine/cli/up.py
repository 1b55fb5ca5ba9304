"""``rollcall up``: the whole stack on embedded defaults, supervised as child processes.

``run_stack`` reads as the steps it takes, in order: check the configuration, migrate the store
(and link the demo Zoom accounts), check the ports, settle what the children are told; then
start the Temporal dev server, the Zoom emulator, the webhook inbox, the worker and the API;
announce the addresses; watch until Ctrl-C or a child dies, and stop them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from engine.api.auth import configured_keys
from engine.cli.client import loopback_api_url
from engine.cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from engine.cli.stack_file import StackInfo, forget_stack, record_stack, stack_env_file
from engine.cli.supervisor import Child, ChildFailed, Supervisor, installed_binary, port_open
from engine.cli.up_demo import (
    ZOOM_CONNECTIONS_VARIABLE,
    DemoZoomConnection,
    demo_zoom_connections,
    emulator_child,
    register_demo_zoom_connections,
    subscribe_demo_webhooks,
    unconfigured_demo_secrets,
)
from engine.codec import PayloadKey, generate_key, read_key_file, write_key_file
from engine.codec import configured_keys as configured_payload_keys
from engine.config import STATE_DIR, LogFormat, Settings
from engine.crm.db import create_db_engine, current_revision, upgrade_database
from engine.demo.inbox import DEMO_SECRETS
from engine.enrollment.context import SECRET_ENV_PREFIX
from engine.enrollment.egress import WEBHOOK_ALLOW_SETTING, check_webhook_settings
from engine.errors import ConfigurationError
from engine.known_secrets import zoom_secret_values
from engine.logging import redact_text, register_secret_values
from engine.ports import free_loopback_port
from engine.temporal import connect, dev_server_search_attribute_args, register_search_attributes
from engine.tracing import otlp_endpoint
from engine.zoom.settings import ZoomConfigError, ZoomConnectionConfig, load_zoom_connections
from zoom_emulator import DEMO_SEED_PATH, load_seed

#: The worker's metrics port under ``rollcall up`` when ``ROLLCALL_WORKER_METRICS_PORT`` is unset.
UP_WORKER_METRICS_PORT = 9464

#: The name of the admin key ``rollcall up`` generates when no key is configured.
LOCAL_ADMIN_KEY_NAME = "local-admin"

#: How every child runs Rollcall: ``python -m engine.cli …`` of this interpreter.
ROLLCALL = (sys.executable, "-m", "engine.cli")


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


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _load_zoom_connections() -> dict[str, ZoomConnectionConfig]:
    try:
        return load_zoom_connections()
    except ZoomConfigError as exc:
        raise ConfigurationError(str(exc)) from None


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
    urls = {"api": f"{loopback_api_url(settings)}/metrics"}
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


def _check_port_free(host: str, port: int, advice: str) -> None:
    if port and port_open(host, port):
        raise ConfigurationError(f"port {port} is already in use; {advice}")


@dataclass
class _Up:
    """One ``rollcall up``: what its steps settle, in the order they run."""

    settings: Settings
    banner: Banner
    keys_configured: bool = False
    #: Configured Zoom connections; none: the demo's emulator accounts.
    zoom_connections: dict[str, ZoomConnectionConfig] = field(default_factory=dict)
    demo: list[DemoZoomConnection] = field(default_factory=list)
    demo_links: list[str] = field(default_factory=list)
    emulator_port: int = 0
    worker_metrics_port: int = 0
    #: The admin key ``up`` generated (no key configured) and the payload key file it keeps.
    generated_key: str | None = None
    payload_key_file: Path | None = None
    #: What the worker and the API are told besides this process's environment.
    child_env: dict[str, str] = field(default_factory=dict)
    inbox_url: str = ""

    @property
    def emulator_url(self) -> str:
        return f"http://127.0.0.1:{self.emulator_port}" if self.emulator_port else ""

    @property
    def codec_endpoint(self) -> str:
        return f"{loopback_api_url(self.settings)}/codec"

    # --- before any child starts -------------------------------------------------------------------

    def check_configuration(self) -> None:
        """Settings that cannot work stop ``up`` here, in one line."""
        check_webhook_settings(self.settings)
        self.keys_configured = bool(configured_keys(self.settings))
        configured_payload_keys(self.settings)  # a bad payload key (#17.4)
        self.zoom_connections = _load_zoom_connections()  # their secrets: registered by the CLI (known_secrets)

    def migrate_store(self) -> None:
        """The store at the latest revision; with no Zoom connection, the demo accounts linked to
        their business units."""
        _private_state_dir()
        db_engine = create_db_engine(self.settings.database_url)
        upgrade_database(db_engine)
        store = db_engine.url.render_as_string(hide_password=True)
        revision = current_revision(db_engine)
        self.banner.say(f"store: {store} at revision {revision}", "store migrated", store=store, revision=revision)
        if not self.zoom_connections:
            self.emulator_port = free_loopback_port()
            self.demo = demo_zoom_connections(load_seed(DEMO_SEED_PATH), self.emulator_url)
            register_secret_values(zoom_secret_values(link.config for link in self.demo))
            self.demo_links = register_demo_zoom_connections(db_engine, self.demo)
        db_engine.dispose()

    def check_ports(self) -> None:
        settings = self.settings
        _check_port_free(settings.api_host, settings.api_port, "set ROLLCALL_API_PORT")
        port = settings.worker_metrics_port
        self.worker_metrics_port = UP_WORKER_METRICS_PORT if port is None else port
        advice = "set ROLLCALL_WORKER_METRICS_PORT (0: no worker metrics)"
        _check_port_free(settings.worker_metrics_host, self.worker_metrics_port, advice)

    def settle_child_environment(self) -> None:
        """The worker's metrics port; a generated admin key and payload key file when none is
        configured (their values hidden in every log); the Web UI allowed to call the codec."""
        settings = self.settings
        self.child_env["ROLLCALL_WORKER_METRICS_PORT"] = str(self.worker_metrics_port)
        if not self.keys_configured:
            self.generated_key = local_api_key()
            register_secret_values([self.generated_key])
            self.child_env["ROLLCALL_API_KEYS"] = f"{LOCAL_ADMIN_KEY_NAME}:admin:{self.generated_key}"
        if not settings.payload_keys and settings.payload_keys_file is None:
            self.payload_key_file = local_payload_keys()
            self.child_env["ROLLCALL_PAYLOAD_KEYS_FILE"] = str(self.payload_key_file.resolve())
        payload_keys = _payload_keys(settings, self.payload_key_file)
        register_secret_values([text for key in payload_keys for text in key.secrets()])
        ui_origins = [f"http://127.0.0.1:{settings.temporal_ui_port}", f"http://localhost:{settings.temporal_ui_port}"]
        self.child_env["ROLLCALL_CODEC_CORS_ORIGINS"] = ",".join([*settings.codec_cors_origins, *ui_origins])

    # --- the children, in start order ------------------------------------------------------------------

    def start_temporal(self, supervisor: Supervisor) -> None:
        """The embedded dev server (unless ``ROLLCALL_TEMPORAL_ADDRESS`` is set); then the search
        attributes registered."""
        settings = self.settings
        if settings.embedded_temporal:
            advice = "set ROLLCALL_TEMPORAL_METRICS_PORT (0: no metrics port for the Temporal dev server)"
            _check_port_free("127.0.0.1", settings.temporal_metrics_port, advice)
            advice = "stop that server or point ROLLCALL_TEMPORAL_ADDRESS at it"
            _check_port_free("127.0.0.1", settings.temporal_dev_port, advice)
            supervisor.start(_temporal_dev_server(settings, self.codec_endpoint))
            supervisor.wait_until(
                "the Temporal dev server", lambda: port_open("127.0.0.1", settings.temporal_dev_port), 60
            )
            self.child_env["ROLLCALL_TEMPORAL_ADDRESS"] = settings.temporal_target
        asyncio.run(_prepare_temporal(settings, settings.temporal_target))

    def start_zoom(self, supervisor: Supervisor, *, reset: bool) -> None:
        """The built-in Zoom emulator for the demo accounts, or what is configured, said."""
        if not self.demo:
            names = sorted(self.zoom_connections)
            self.banner.say(
                f"Zoom: {len(names)} connection(s) configured: {', '.join(names)}",
                "Zoom connections configured",
                zoom_connections=names,
            )
            return
        url = self.emulator_url
        self.banner.say(
            f"Zoom: no credentials configured — using the built-in Zoom emulator with demo data at "
            f"{url} (admin API at {url}/_admin)",
            "Zoom: no credentials configured — using the built-in Zoom emulator with demo data",
            zoom_emulator_url=url,
            zoom_emulator_admin_url=f"{url}/_admin",
        )
        supervisor.start(emulator_child(self.emulator_port, reset=reset))
        supervisor.wait_until("the Zoom emulator", lambda: _http_ok(f"{url}/_admin/clock"), 60)
        self.child_env[ZOOM_CONNECTIONS_VARIABLE] = json.dumps([link.to_env_json() for link in self.demo])

    def start_inbox(self, supervisor: Supervisor) -> None:
        """The demo's webhook inbox, standing in for the example secrets nobody configured."""
        stand_ins = unconfigured_demo_secrets(self.settings)
        if not stand_ins:
            return
        port = free_loopback_port()
        url = self.inbox_url = f"http://127.0.0.1:{port}"
        supervisor.start(Child(name="webhook-inbox", argv=[*ROLLCALL, "webhook-inbox", "--port", str(port)]))
        supervisor.wait_until("the webhook inbox", lambda: _http_ok(f"{url}/healthz"), 60)
        for name in stand_ins:
            self.child_env[SECRET_ENV_PREFIX + name] = DEMO_SECRETS[name].format(inbox=url)
        # The inbox is on loopback, which webhooks may not reach unless allowed: allow it, only it.
        self.child_env[WEBHOOK_ALLOW_SETTING] = ",".join([*self.settings.webhook_allow, f"127.0.0.1:{port}"])
        self.banner.say(
            f"Webhooks: secrets {', '.join(stand_ins)} not configured — webhook steps using them send "
            f"to the demo webhook inbox at {url} (recorded requests: {url}/_inbox)",
            "Webhooks: secrets not configured — webhook steps using them send to the demo webhook inbox",
            unconfigured=stand_ins,
            webhook_inbox_url=url,
        )

    def start_rollcall(self, supervisor: Supervisor) -> None:
        """The worker and the API; ready once the API answers."""
        supervisor.start(Child(name="worker", argv=[*ROLLCALL, "worker"], env=self.child_env))
        supervisor.start(Child(name="api", argv=[*ROLLCALL, "api"], env=self.child_env))
        api_url = f"http://{self.settings.api_host}:{self.settings.api_port}"
        supervisor.wait_until("the API", lambda: _http_ok(f"{api_url}/healthz"), 60)

    # --- the banner -----------------------------------------------------------------------------------

    def _core_addresses(self, fields: dict[str, object], lines: list[str]) -> None:
        """The API, Temporal, metrics and traces."""
        settings = self.settings
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        fields.update(api_url=api_url, docs_url=f"{api_url}/docs")
        lines.append(f"API          {api_url}  (docs: {api_url}/docs)")
        if settings.embedded_temporal:
            fields["temporal_ui_url"] = f"http://127.0.0.1:{settings.temporal_ui_port}"
            lines.append(f"Temporal UI  {fields['temporal_ui_url']}")
        fields.update(temporal_address=settings.temporal_target, temporal_namespace=settings.temporal_namespace)
        lines.append(f"Temporal     {settings.temporal_target}  namespace {settings.temporal_namespace}")
        metric_urls = _metric_urls(settings, self.worker_metrics_port)
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

    def _zoom_addresses(self, fields: dict[str, object], lines: list[str]) -> None:
        """The emulator and its webhook subscriptions (made now: the API answers), or the connections."""
        if not self.demo:
            fields["zoom_connections"] = sorted(self.zoom_connections)
            lines.append(f"Zoom         {', '.join(sorted(self.zoom_connections))}")
            return
        url = self.emulator_url
        hooks = subscribe_demo_webhooks(url, loopback_api_url(self.settings), self.demo)
        fields.update(
            zoom_emulator_url=url,
            zoom_emulator_admin_url=f"{url}/_admin",
            zoom_links=self.demo_links,
            zoom_webhooks=hooks,
        )
        lines.append(f"Zoom         built-in emulator, demo data: {url}")
        lines.append(f"             admin API {url}/_admin")
        lines.extend(f"             {escape(link)}" for link in self.demo_links)
        lines.extend(f"Webhooks     {escape(hook)}" for hook in hooks)

    def _local_addresses(self, fields: dict[str, object], lines: list[str]) -> None:
        """The webhook inbox, the payload codec, and where the generated key is."""
        if self.inbox_url:
            fields["webhook_inbox_url"] = f"{self.inbox_url}/_inbox"
            lines.append(f"Webhook inbox {self.inbox_url}/_inbox  (demo: what webhook steps sent)")
        payloads = f"key file {self.payload_key_file}" if self.payload_key_file is not None else "configured keys"
        codec = self.codec_endpoint
        fields.update(payload_codec_url=codec, codec_login_url=f"{codec}/login")
        lines.append(f"Payloads     encrypted in Temporal ({payloads})")
        lines.append(f"Codec        {codec}  (the Web UI decodes there; log in at /codec/login)")
        if self.generated_key:
            # The key itself is never printed (nor logged): only where it is kept.
            fields["api_key_file"] = str(local_api_key_path())
            lines.append(f"API key      {local_api_key_path()}  (generated admin key {LOCAL_ADMIN_KEY_NAME!r}: cat it)")

    def announce(self) -> None:
        """Record where the stack is (#14.6: CLI commands find it without being told its ports; the
        walk-through's shell reads the same addresses from stack.env), then the "Rollcall is up" panel."""
        fields: dict[str, object] = {}
        lines: list[str] = []
        self._core_addresses(fields, lines)
        self._zoom_addresses(fields, lines)
        self._local_addresses(fields, lines)
        settings = self.settings
        temporal_ui_url = fields.get("temporal_ui_url")
        recorded = record_stack(
            StackInfo(
                api_url=loopback_api_url(settings),
                temporal_address=settings.temporal_target,
                temporal_namespace=settings.temporal_namespace,
                temporal_ui_url=str(temporal_ui_url) if temporal_ui_url else None,
                pid=os.getpid(),
                zoom_url=self.emulator_url or None,
                inbox_url=self.inbox_url or None,
            )
        )
        fields["stack_env_file"] = str(stack_env_file())
        lines.append(f"Addresses    {fields['stack_env_file']}  (API, ZOOM, INBOX…, for `.` in a shell)")
        lines.append("Ctrl-C stops everything.")
        fields["stack_file"] = str(recorded)
        self.banner.panel(lines, **fields)


def _watch(supervisor: Supervisor, banner: Banner) -> int:
    dead = supervisor.watch()
    if dead is not None and dead.process is not None:
        banner.error(f"{dead.name} exited with status {dead.process.returncode}; stopping the stack")
        return EXIT_FAILED
    return EXIT_OK


def run_stack(settings: Settings, console: Console, *, reset_zoom_emulator: bool = False) -> int:
    """Run the stack until Ctrl-C (status 130), SIGTERM (0) or a child's death (1)."""
    banner = Banner(console, settings.log_format)
    up = _Up(settings, banner)
    up.check_configuration()
    up.migrate_store()
    up.check_ports()
    up.settle_child_environment()
    supervisor = Supervisor(json_lines=settings.log_format is LogFormat.JSON)
    supervisor.install_signal_handlers()
    try:
        up.start_temporal(supervisor)
        up.start_zoom(supervisor, reset=reset_zoom_emulator)
        up.start_inbox(supervisor)
        up.start_rollcall(supervisor)
        up.announce()
        return _watch(supervisor, banner)
    except ChildFailed as exc:
        banner.error(f"rollcall up: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        forget_stack(pid=os.getpid())
        supervisor.stop_all()
        banner.say("stopped", "stopped")
