"""Rollcall settings, read from the environment (prefix ``ROLLCALL_``) and an optional ``.env``."""

from __future__ import annotations

import logging
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Everything Rollcall persists on the embedded defaults lives here (Temporal history, SQLite store).
STATE_DIR = Path(".rollcall")


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ROLLCALL_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # Temporal. An empty address means "start the embedded dev server" (``rollcall up`` only).
    temporal_address: str = ""
    temporal_namespace: str = "default"
    temporal_tls: bool = False
    temporal_tls_cert_path: FilePath | None = None
    temporal_tls_key_path: FilePath | None = None
    temporal_api_key: SecretStr | None = None
    temporal_ui_port: int = 8233
    temporal_dev_port: int = 7233
    #: The task queue the worker polls and the API starts workflows on.
    temporal_task_queue: str = "rollcall"

    # CRM store: SQLite under .rollcall/ by default; PostgreSQL via postgresql+psycopg://…
    database_url: str = f"sqlite:///{STATE_DIR / 'rollcall.db'}"
    #: PostgreSQL connections each API and worker process keeps open, and how many more it may open
    #: at a busy moment (SQLAlchemy's pool; README "Running at scale" sizes them).
    database_pool_size: int = Field(default=5, ge=1, le=1000)
    database_max_overflow: int = Field(default=10, ge=0, le=1000)

    # HTTP API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    #: Bearer keys accepted by the API, comma separated ``name:role:key`` entries (a bare key is an
    #: ``operator`` key); the admin list holds bare admin keys. Parsed by ``engine.api.auth``.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    admin_api_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    #: A YAML/JSON list of ``name:role:key`` entries (or ``{name, role, key}`` mappings).
    api_keys_file: Path | None = None
    #: Request bodies larger than this are refused (413) while they stream in, before any parsing.
    #: A 10,000-contact bulk enrollment with names and five properties each is about 2.8 MB.
    api_max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)

    # Payloads encrypted in Temporal (engine.codec, #17.4): ``id:base64key`` entries, the first one
    # encrypts, every one decrypts (rotation: put the new key first, keep the old ones).
    payload_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    #: One ``id:base64key`` per line; ``rollcall up`` generates .rollcall/payload-keys (0600).
    payload_keys_file: Path | None = None
    #: Origins (the Temporal Web UI's) allowed to call the codec endpoints from a browser.
    codec_cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Workflow definitions: every *.yaml of this folder becomes a revision when the API starts
    # (an invalid file is reported and skipped; its previous revision stays current).
    definitions_dir: Path | None = Path("definitions")
    #: Values for ``{{ secrets.NAME }}`` in webhook steps: a YAML/JSON mapping NAME → value.
    #: ``ROLLCALL_SECRET_<NAME>`` environment variables take precedence.
    secrets_file: Path | None = None
    #: Where webhook steps may connect besides public addresses (``engine.enrollment.egress``),
    #: comma separated: ``host:port``, addresses, CIDR networks, host names.
    webhook_allow: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: How often the reconciliation Schedule looks for webinars to sync (0: no schedule).
    sync_reconcile_minutes: int = Field(default=15, ge=0)
    #: How many enrollments a bulk request starts at the same time.
    enrollment_concurrency: int = Field(default=32, ge=1, le=256)

    # Worker capacity (README "Running at scale").
    #: Activities (webhooks, Zoom calls, store writes) one worker runs at once; also the threads
    #: that run them and the store-only steps (local activities).
    worker_max_concurrent_activities: int = Field(default=32, ge=1, le=1000)
    #: Workflow tasks one worker runs at once.
    worker_max_concurrent_workflow_tasks: int = Field(default=100, ge=2, le=1000)
    #: Runs one worker keeps in memory between their tasks (sticky execution); a run evicted from
    #: the cache replays its history on its next task.
    worker_max_cached_workflows: int = Field(default=1000, ge=0, le=100_000)
    #: Workflow-task polls one worker keeps open (a fifth of them on the shared queue, where every
    #: run's first task waits, the rest on the worker's own sticky queue), and activity-task polls.
    worker_max_workflow_task_polls: int = Field(default=5, ge=2, le=1000)
    worker_max_activity_task_polls: int = Field(default=5, ge=1, le=1000)
    #: How often the enrollment repair Schedule starts missing runs and closes enrollments whose
    #: run ended outside the interpreter (``engine.enrollment.repair``; 0: no schedule).
    enrollment_repair_minutes: int = Field(default=5, ge=0)

    #: Run workflow code in the Temporal SDK's sandbox, which refuses non-deterministic calls (time,
    #: I/O, randomness) while a workflow runs. Off, the worker spends ~40 % less CPU per registration
    #: (bench/add_to_webinar.py: 122 → 74 ms) and only the replay tests guard determinism (README,
    #: "At scale").
    workflow_sandbox: bool = True
    #: An add-to-webinar step first tries the whole registration as one local activity of the
    #: enrollment when the worker's cache knows the webinar (``quick-registration``, #16.1): no
    #: child run, a fifth of the Temporal server's work. Off, every registration is its own
    #: ``AddContactToWebinar`` saga run, as before.
    registration_quick_path: bool = True

    log_format: LogFormat = LogFormat.CONSOLE
    log_level: str = "INFO"

    # Metrics and traces (#17.1, #17.2; README "Metrics and traces").
    #: ``GET /metrics`` on the API needs a viewer key unless this is true (a scraper without a key).
    metrics_public: bool = False
    #: The worker's Prometheus port (Rollcall's metrics and the Temporal SDK's on one page). Unset:
    #: no port for ``rollcall worker``, 9464 for the worker ``rollcall up`` starts; 0: none.
    worker_metrics_port: int | None = Field(default=None, ge=0, le=65535)
    #: Where the worker's metrics port listens.
    worker_metrics_host: str = "127.0.0.1"
    #: The Temporal dev server's metrics port under ``rollcall up`` (0: none).
    temporal_metrics_port: int = Field(default=7235, ge=0, le=65535)
    #: OTLP/HTTP endpoint traces are exported to (``http://collector:4318``); the standard
    #: ``OTEL_EXPORTER_OTLP_ENDPOINT`` works too. Neither set: no tracing.
    otlp_endpoint: str | None = None

    @field_validator("api_keys", "admin_api_keys", "payload_keys", "codec_cors_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        # Environment variables carry a comma-separated list; pydantic-settings would expect JSON.
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError("not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)")
        return level

    @field_validator("webhook_allow", mode="before")
    @classmethod
    def _split_allowlist(cls, value: object) -> object:
        if isinstance(value, str):
            return [entry.strip() for entry in value.split(",") if entry.strip()]
        return value

    @property
    def embedded_temporal(self) -> bool:
        return not self.temporal_address

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_dev_port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming each bad setting and what is wrong, never its value (it may be a secret)."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        setting = f"ROLLCALL_{str(error['loc'][0]).upper()}" if error["loc"] else "ROLLCALL_*"
        problems.append(f"{setting}: {error['msg'].removeprefix('Value error, ')}")
    return "invalid configuration: " + "; ".join(problems)
