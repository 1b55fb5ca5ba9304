"""``rollcall up``: the whole stack on embedded defaults, supervised as child processes."""

from __future__ import annotations

import asyncio
import secrets
import sys
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.panel import Panel

from engine.config import STATE_DIR, Settings
from engine.crm.db import create_db_engine, current_revision, upgrade_database
from engine.errors import ConfigurationError
from engine.supervisor import Child, ChildFailed, Supervisor, installed_binary, port_open
from engine.temporal import connect, dev_server_search_attribute_args, register_search_attributes


def local_api_key(state_dir: Path = STATE_DIR) -> str:
    """The admin key of a local stack without configured keys, kept in .rollcall/api-key."""
    path = state_dir / "api-key"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key


def _temporal_dev_server(settings: Settings) -> Child:
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
            # Persistent history; WAL + synchronous=off roughly doubles throughput (temporal-notes).
            "--db-filename", str(STATE_DIR / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=off",
            "--log-level", "error",
            *dev_server_search_attribute_args(),
        ],
    )  # fmt: skip


async def _prepare_temporal(settings: Settings, target: str) -> None:
    try:
        client = await connect(settings, target=target)
    except RuntimeError as exc:
        raise ConfigurationError(f"cannot reach Temporal at {target}: {exc}") from None
    await register_search_attributes(client)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run_stack(settings: Settings, console: Console) -> int:
    db_engine = create_db_engine(settings.database_url)
    upgrade_database(db_engine)
    console.print(
        f"store: {db_engine.url.render_as_string(hide_password=True)} at revision {current_revision(db_engine)}"
    )
    db_engine.dispose()

    if port_open(settings.api_host, settings.api_port):
        raise ConfigurationError(f"port {settings.api_port} is already in use; set ROLLCALL_API_PORT")
    child_env: dict[str, str] = {}
    generated_key = None
    if not settings.api_keys and not settings.admin_api_keys:
        generated_key = local_api_key()
        child_env["ROLLCALL_ADMIN_API_KEYS"] = generated_key

    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    target = settings.temporal_target
    try:
        if settings.embedded_temporal:
            if port_open("127.0.0.1", settings.temporal_dev_port):
                raise ConfigurationError(
                    f"port {settings.temporal_dev_port} is already in use; stop that server or point "
                    "ROLLCALL_TEMPORAL_ADDRESS at it"
                )
            supervisor.start(_temporal_dev_server(settings))
            supervisor.wait_until(
                "the Temporal dev server", lambda: port_open("127.0.0.1", settings.temporal_dev_port), 60
            )
            child_env["ROLLCALL_TEMPORAL_ADDRESS"] = target
        asyncio.run(_prepare_temporal(settings, target))

        rollcall = [sys.executable, "-m", "engine.cli"]
        supervisor.start(Child(name="worker", argv=[*rollcall, "worker"], env=child_env))
        supervisor.start(Child(name="api", argv=[*rollcall, "api"], env=child_env))
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        supervisor.wait_until("the API", lambda: _http_ok(f"{api_url}/healthz"), 60)

        lines = [f"API          {api_url}  (docs: {api_url}/docs)"]
        if settings.embedded_temporal:
            lines.append(f"Temporal UI  http://127.0.0.1:{settings.temporal_ui_port}")
        lines.append(f"Temporal     {target}  namespace {settings.temporal_namespace}")
        if generated_key:
            lines.append(f"API key      {generated_key}  (admin; kept in {STATE_DIR / 'api-key'})")
        lines.append("Ctrl-C stops everything.")
        console.print(Panel("\n".join(lines), title="Rollcall is up", expand=False))

        dead = supervisor.watch()
        if dead is not None and dead.process is not None:
            console.print(f"[red]{dead.name} exited with status {dead.process.returncode}; stopping the stack[/red]")
            return 1
        return 0
    except ChildFailed as exc:
        console.print(f"[red]rollcall up: {exc}[/red]")
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        supervisor.stop_all()
        console.print("stopped")
