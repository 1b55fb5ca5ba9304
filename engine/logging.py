"""structlog setup, and what keeps secrets out of every log line.

``configure_logging`` is called once by each entry point (CLI, worker, API, emulator, inbox), never
at import time. Every line — Rollcall's own (structlog) and the libraries' (uvicorn, temporalio,
httpx, alembic, through the standard library) — goes through the same processors and renderer:

- it names its ``process`` (``up``, ``api``, ``worker``, ``zoom-emulator``, ``webhook-inbox``, …)
  and, inside a Temporal activity or workflow, its ``workflow_id``, ``run_id`` and ``activity``;
  inside an OpenTelemetry span (tracing on, ``engine.tracing``), its ``trace_id`` and ``span_id``;
- values under secret-looking keys (``authorization``, ``cookie``, ``*token``, ``*secret*``,
  ``password``, ``api_key``) become ``***``, also inside nested mappings and header pairs;
- the rendered line (exception text included) is scrubbed by ``redact_text``: known secret values
  (registered with ``register_secret_values`` when a process starts), ``Authorization: …``-style
  header values, URL query strings (``?…``) and the local part of e-mail addresses (``***@host``);
- tracebacks never show local variables (frames and source lines only).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from engine.config import LogFormat

REDACTED = "***"
#: Shorter values are not registered as secrets: replacing them everywhere would garble lines.
MIN_SECRET_LENGTH = 6

_SECRET_KEY = re.compile(
    r"(?i)^(?:(?:proxy-)?authorization|(?:set-)?cookie|x-api-key|api[-_]?keys?|password|passwd"
    r"|.*secret.*|.*token)$"
)
_SECRET_NAMES = (
    r"(?:\b(?:proxy-)?authorization|\bx-api-key|\bapi[-_]?key|\b(?:set-)?cookie|\bpassword"
    # …but ROLLCALL_SECRETS_FILE, a key's path or a token's URL name where a secret is, not one.
    r"|[\w-]*secret[\w-]*(?<!file)(?<!path)(?<!dir)(?<!url)|[\w-]*token)"
)
#: ``Authorization: Bearer x``, ``'x-api-key': 'x'``, ``"cookie": "x"``, ``secret_token=x``…
_SECRET_PAIR = re.compile(
    rf"(?i)(?P<key>{_SECRET_NAMES})(?P<sep>\\?['\"]?\s*[:=]\s*(?:(?-i:b)?\\?['\"])?)"
    # Quoted: up to the closing quote; bare: one word, or a scheme and its credentials.
    r"(?P<value>(?<=['\"])(?!\*\*\*['\"\\])[^'\"\\\n]+"
    r"|(?<!['\"])(?!\*\*\*)(?:(?:bearer|basic|token|digest)\s+)?[^\s'\",;})\]\\]+)"
)
#: A header as a pair, the way ASGI scopes and httpx show them: ``(b'authorization', b'Bearer x')``.
_SECRET_TUPLE = re.compile(
    rf"(?i)(?P<key>\(\s*(?-i:b)?\\?['\"]{_SECRET_NAMES}\\?['\"],\s*(?-i:b)?\\?['\"])(?P<value>[^'\"\\\n]+)"
)
_URL_QUERY = re.compile(r"(?P<url>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#'\"<>\\]+)\?(?!…|\\u2026)[^\s#'\"<>\\]*")
#: The local part of an e-mail address (a URL's ``scheme://user@host`` is left alone; a
#: ``user:password@host`` loses its password).
_EMAIL_LOCAL = re.compile(
    r"(?<![\w.%+-])(?<!//)[A-Za-z0-9._%+-]+(?=@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class _State:
    log_format: LogFormat | None = None
    process: str = "rollcall"
    secrets: frozenset[str] = frozenset()
    secrets_pattern: re.Pattern[str] | None = None


_state = _State()
_lock = threading.Lock()


# --- known secret values -------------------------------------------------------------------------


def _spellings(value: str) -> set[str]:
    """The value as it may appear in a line: raw, JSON-escaped, URL-encoded."""
    from urllib.parse import quote, quote_plus

    return {value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}


def register_secret_values(values: Iterable[str | None]) -> None:
    """Remember secret values (API keys, ``ROLLCALL_SECRET_*``, Zoom secrets…): every occurrence in
    any log line of this process becomes ``***``. Idempotent; values shorter than 6 are ignored."""
    fresh = {v for value in values if value and len(value.strip()) >= MIN_SECRET_LENGTH for v in _spellings(value)}
    with _lock:
        known = _state.secrets | fresh
        if known == _state.secrets:
            return
        _state.secrets = frozenset(known)
        alternatives = sorted(known, key=len, reverse=True)
        _state.secrets_pattern = re.compile("|".join(re.escape(v) for v in alternatives))


# --- redaction -----------------------------------------------------------------------------------


def _mask_pair(match: re.Match[str]) -> str:
    return f"{match['key']}{match['sep']}{REDACTED}"


def redact_text(text: str) -> str:
    """Scrub one string: known secrets, header-style secret values, URL queries, e-mail local parts."""
    pattern = _state.secrets_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _SECRET_PAIR.sub(_mask_pair, text)
    text = _SECRET_TUPLE.sub(rf"\g<key>{REDACTED}", text)
    text = _URL_QUERY.sub(r"\g<url>?…", text)
    return _EMAIL_LOCAL.sub(REDACTED, text)


def is_secret_key(key: object) -> bool:
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    return isinstance(key, str) and bool(_SECRET_KEY.match(key.strip()))


def _scrub(value: Any, depth: int = 0) -> Any:
    """Mask values under secret keys (mappings, ``(name, value)`` header pairs) and scrub strings."""
    if depth > 6:
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {k: REDACTED if is_secret_key(k) else _scrub(v, depth + 1) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) == 2 and is_secret_key(value[0]):
        return (value[0], REDACTED)
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item, depth + 1) for item in value]
    return value


def redact_event(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    for key in list(event_dict):
        if key in ("exc_info", "_record", "_from_structlog"):
            continue
        event_dict[key] = REDACTED if is_secret_key(key) else _scrub(event_dict[key])
    return event_dict


def _redacting(renderer: Processor) -> Processor:
    """The renderer, then ``redact_text`` over the whole line (exception text included)."""

    def render(logger: Any, method: str, event_dict: EventDict) -> str:
        rendered = renderer(logger, method, event_dict)
        assert isinstance(rendered, str)
        return redact_text(rendered)

    return render


# --- context: the process, Temporal's workflow and activity --------------------------------------


def _add_process(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("process", _state.process)
    return event_dict


def _add_temporal_context(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """Inside an activity or a workflow, say which. Looked up without importing temporalio, so
    processes without Temporal (emulator, inbox) never load it."""
    activity = sys.modules.get("temporalio.activity")
    if activity is not None and activity.in_activity():
        info = activity.info()
        event_dict.setdefault("workflow_id", info.workflow_id)
        event_dict.setdefault("run_id", info.workflow_run_id)
        event_dict.setdefault("activity", info.activity_type)
        return event_dict
    workflow = sys.modules.get("temporalio.workflow")
    if workflow is not None and workflow.in_workflow():
        info = workflow.info()
        event_dict.setdefault("workflow_id", info.workflow_id)
        event_dict.setdefault("run_id", info.run_id)
    return _add_sdk_extras(event_dict)


def _add_trace_context(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """Inside an OpenTelemetry span (#17.2), its ``trace_id`` and ``span_id``. Looked up without
    importing OpenTelemetry, so a process without tracing never loads it."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return event_dict
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def _drop_during_replay(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """A workflow's own lines are written once, not again each time its history is replayed."""
    workflow = sys.modules.get("temporalio.workflow")
    if workflow is not None and workflow.in_workflow() and workflow.unsafe.is_replaying():
        raise structlog.DropEvent
    return event_dict


def _add_sdk_extras(event_dict: EventDict) -> EventDict:
    """The SDK's ``workflow.logger`` / ``activity.logger`` put their context on the record's extras."""
    record = event_dict.get("_record")
    for attribute in ("temporal_activity", "temporal_workflow"):
        extra = getattr(record, attribute, None)
        if isinstance(extra, Mapping):
            event_dict.setdefault("workflow_id", extra.get("workflow_id"))
            event_dict.setdefault("run_id", extra.get("workflow_run_id") or extra.get("run_id"))
            if "activity_type" in extra:
                event_dict.setdefault("activity", extra["activity_type"])
    return event_dict


def _add_logger_name(logger: object, method: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    if record is not None and not event_dict.get("_from_structlog"):
        event_dict.setdefault("logger", record.name)
    return event_dict


# --- configuration -------------------------------------------------------------------------------


class _HttpxRequestsAtDebug(logging.Filter):
    """httpx logs every request ("HTTP Request: GET url …") at INFO: they are DEBUG lines here."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def _console_renderer() -> Processor:
    colors = sys.stderr.isatty()
    formatter = structlog.dev.RichTracebackFormatter(show_locals=False) if colors else structlog.dev.plain_traceback
    return structlog.dev.ConsoleRenderer(colors=colors, exception_formatter=formatter)


def configure_logging(
    log_format: LogFormat = LogFormat.CONSOLE, level: str = "INFO", *, process: str | None = None
) -> None:
    level_number = logging.getLevelName(level.upper())
    if not isinstance(level_number, int):
        level_number = logging.INFO
    _state.log_format = log_format
    if process is not None:
        _state.process = process
    json_mode = log_format is LogFormat.JSON
    renderer = _redacting(structlog.processors.JSONRenderer(ensure_ascii=False) if json_mode else _console_renderer())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_process,
        _add_temporal_context,
        _add_trace_context,
    ]
    # JSON lines carry the traceback as text (no locals); the console renderer formats it itself.
    last: list[Processor] = [structlog.processors.format_exc_info] if json_mode else []
    structlog.configure(
        processors=[_drop_during_replay, *shared, *last, redact_event, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level_number),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries (uvicorn, temporalio, alembic, httpx) log through the standard library: route them
    # through the same processors and renderer, so a JSON deployment gets only JSON lines.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, _add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last, redact_event, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_number)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn's own handlers (installed unless log_config=None) would bypass all of the above.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)  # our level, until uvicorn.run(log_level=…) says otherwise
        uvicorn_logger.disabled = False
    # Alembic narrates every migration context at INFO; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    httpx_logger = logging.getLogger("httpx")
    httpx_logger.setLevel(logging.DEBUG if level_number <= logging.DEBUG else logging.WARNING)
    if not any(isinstance(f, _HttpxRequestsAtDebug) for f in httpx_logger.filters):
        httpx_logger.addFilter(_HttpxRequestsAtDebug())
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    _install_excepthooks()


def _install_excepthooks() -> None:
    """An uncaught exception is logged like any other line: redacted, no locals, JSON in JSON mode."""
    log = structlog.get_logger("rollcall")

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)
            return
        log.critical("uncaught exception", exc_info=(kind, value, tb))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or isinstance(args.exc_value, SystemExit):
            return
        thread = args.thread.name if args.thread else None
        log.critical(
            "uncaught exception in a thread",
            thread=thread,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook


def is_configured() -> bool:
    return _state.log_format is not None


def json_mode() -> bool:
    """Whether this process logs JSON (configured, else as ``ROLLCALL_LOG_FORMAT`` says)."""
    if _state.log_format is not None:
        return _state.log_format is LogFormat.JSON
    return os.environ.get("ROLLCALL_LOG_FORMAT", "").strip().lower() == LogFormat.JSON.value


# --- lines of other processes (``rollcall up``'s children) ---------------------------------------

_LEVELS = {"warn": "warning", "err": "error", "fatal": "critical", "panic": "critical", "dpanic": "critical"}
_LEVEL_IN_TEXT = re.compile(r"\b(TRACE|DEBUG|INFO|WARN(?:ING)?|ERROR|CRITICAL|FATAL|PANIC)\b")


def _level_of(text: str) -> str:
    found = _LEVEL_IN_TEXT.search(text[:80])
    word = found.group(1).lower() if found else "info"
    return _LEVELS.get(word, "debug" if word == "trace" else word)


def child_line_as_json(process: str, line: str, *, stream: str) -> str | None:
    """One output line of a child process as one redacted JSON log line naming that process.

    A JSON object keeps its fields (Temporal's ``msg``/``time`` become ``event``/``timestamp``);
    anything else (a banner, a Rust core log line, a crash) becomes the ``event`` of a new record.
    Blank lines give None."""
    text = _ANSI.sub("", line).rstrip("\r\n")
    if not text.strip():
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        record = dict(parsed)
        if "event" not in record and "msg" in record:
            record["event"] = record.pop("msg")
        if "timestamp" not in record and "time" in record:
            record["timestamp"] = record.pop("time")
        if isinstance(record.get("level"), str):
            level = record["level"].lower()
            record["level"] = _LEVELS.get(level, level)
    else:
        record = {
            "event": text,
            "level": _level_of(text),
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "stream": stream,
        }
    record.setdefault("process", process)
    scrubbed = redact_event(None, "info", record)
    return redact_text(json.dumps(scrubbed, ensure_ascii=False, default=str))
