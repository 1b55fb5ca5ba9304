"""The variables templates read: ``contact``, ``steps``, ``enrollment`` and (webhooks only) ``secrets``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import yaml
from jinja2.exceptions import TemplateRuntimeError

from engine.crm.tables import Contact
from engine.dsl.models import SECRET_NAME
from engine.enrollment.contracts import StepContext
from engine.errors import ConfigurationError

SECRET_ENV_PREFIX = "ROLLCALL_SECRET_"
SECRETS_FILE_SETTING = "ROLLCALL_SECRETS_FILE"


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


def template_context(contact: Contact, ctx: StepContext, secrets: StepSecrets | None = None) -> dict[str, Any]:
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


class SecretsFileError(ConfigurationError):
    """``ROLLCALL_SECRETS_FILE`` cannot be used; the message names the setting and the file, never
    what the file holds."""

    code = "SECRETS_FILE_ERROR"


def read_secrets_file(path: Path) -> dict[str, str]:
    """The ``NAME: value`` mapping of the secrets file; SecretsFileError (one line) when the file is
    missing, a directory, unreadable, not UTF-8, not YAML, not a mapping or has an entry that is not
    ``NAME: text``."""
    where = f"{SECRETS_FILE_SETTING}: {path}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SecretsFileError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise SecretsFileError(f"{where} is a directory, not a file") from None
    except OSError as exc:
        raise SecretsFileError(f"{where} cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecretsFileError(f"{where} is not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The parser's own message may quote the file: only say where.
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise SecretsFileError(f"{where} is not valid YAML{at}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SecretsFileError(f"{where} must be a YAML mapping of NAME: value")
    secrets: dict[str, str] = {}
    for number, (name, value) in enumerate(data.items(), start=1):
        # Neither the name nor the value is quoted: a misplaced secret may be either.
        if not isinstance(name, str) or not SECRET_NAME.fullmatch(name):
            raise SecretsFileError(f"{where}: entry {number} is not NAME: value (a name is letters, digits and _)")
        if isinstance(value, dict | list) or value is None:
            raise SecretsFileError(f"{where}: entry {number} ({name}) has no text value")
        secrets[name] = str(value)
    return secrets


class Secrets(Mapping[str, str]):
    """``{{ secrets.NAME }}``: ``ROLLCALL_SECRET_NAME`` from the environment, else the secrets file.

    Read when a webhook step runs, so rotating a secret needs no redeploy of definitions; the
    values never enter workflow history (the activity renders the request itself), and ``redact``
    removes them (and the ``hidden`` values: the API keys) from what a step stores.
    """

    def __init__(self, secrets_file: Path | None, *, hidden: Iterable[str] = ()) -> None:
        self._file = secrets_file
        self._hidden = tuple(value for value in hidden if value)

    def check(self) -> None:
        """SecretsFileError when the configured secrets file cannot be used (at worker and stack start)."""
        self._from_file()

    def _from_file(self) -> dict[str, str]:
        return read_secrets_file(self._file) if self._file is not None else {}

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

    def for_step(self, names: Iterable[str]) -> StepSecrets:
        """What ``secrets`` is in the templates of one step: only ``names``."""
        return StepSecrets(self, names)

    def _known_values(self) -> list[str]:
        values = {value for key, value in os.environ.items() if key.startswith(SECRET_ENV_PREFIX)}
        # A broken file fails the step that needs it with its own error; redact what is known.
        with contextlib.suppress(SecretsFileError):
            values.update(self._from_file().values())
        values.update(self._hidden)
        # Also their URL-encoded forms (a secret in a URL's path or query is sent encoded).
        spelled = {
            form
            for value in values
            if value
            for form in (value, quote(value), quote(value, safe=""), quote_plus(value))
        }
        return sorted(spelled, key=len, reverse=True)

    def redact(self, value: _J) -> _J:
        """``value`` (text, or JSON data) with every secret value and hidden value replaced by ``***``:
        applied to what a step stores — its failure message, its output — before it is stored."""
        redacted: _J = _redacted(value, self._known_values())
        return redacted


_J = TypeVar("_J")
REDACTED = "***"


def _redacted(value: Any, known: list[str]) -> Any:
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {_redacted(key, known): _redacted(item, known) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item, known) for item in value]
    return value


class SecretNotConfigured(TemplateRuntimeError):
    """A template reads a declared secret that is neither in the environment nor in the secrets file."""


class StepSecrets:
    """``secrets`` in the templates of one webhook step: the names that step reads (all of them
    declared by its definition: validation checks it), one by one. It cannot be listed, iterated
    or printed whole, and reads nothing else (#12.2)."""

    __slots__ = ("_names", "_source")

    def __init__(self, source: Mapping[str, str], names: Iterable[str]) -> None:
        self._source = source
        self._names = frozenset(names)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(name)
        try:
            return self._source[name]
        except KeyError:
            raise SecretNotConfigured(
                f"secret {name!r} is not configured ({SECRET_ENV_PREFIX}{name} or {SECRETS_FILE_SETTING})"
            ) from None

    def __getitem__(self, name: str) -> str:
        try:
            return self.__getattr__(name)
        except AttributeError:
            raise KeyError(name) from None
