"""The secret values a process knows when it starts, so the logs can hide every occurrence of them.

Collected from the settings and the environment — API keys, ``ROLLCALL_SECRET_*`` and the
secrets file, the Temporal API key, Zoom client secrets and webhook secret tokens, the database
password — and handed to ``engine.logging.register_secret_values`` by each entry point."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from engine.config import Settings
from engine.errors import ConfigurationError
from engine.zoom.settings import ZoomConfigError, ZoomConnectionConfig, load_zoom_connections

# Every command loads the settings: the modules below (Temporal's SDK for the payload codec, the
# store's tables for the secrets file, SQLAlchemy for the database URL) load only when configured.

#: ``ROLLCALL_*`` variables holding secrets (comma-separated lists, ``name:role:key`` entries too),
#: whatever settings read them; paths and file names (``…_PATH``, ``…_FILE``) are not secrets.
_SECRET_VARIABLE = re.compile(r"^ROLLCALL_(?!.*_(?:PATH|FILE|DIR)$).*(?:KEYS?|SECRETS?|TOKENS?|PASSWORD)$")


def configured_secret_values(settings: Settings) -> list[str]:
    """Every secret value configured for this process. A secrets file that cannot be read is a
    ``ConfigurationError`` naming the setting and the line, never a value."""
    values = list(_environment_values())
    values += [key.get_secret_value() for key in (*settings.api_keys, *settings.admin_api_keys)]
    values += api_key_values(settings)
    if settings.temporal_api_key is not None:
        values.append(settings.temporal_api_key.get_secret_value())
    values += _secrets_file_values(settings.secrets_file)
    values += _zoom_values()
    values += _database_password(settings.database_url)
    values += _payload_key_values(settings)
    return values


def _payload_key_values(settings: Settings) -> list[str]:
    """The payload keys (#17.4) as configured, and their base64 alone."""
    if not settings.payload_keys and settings.payload_keys_file is None:
        return []
    from engine.codec import configured_keys

    try:
        keys = configured_keys(settings)
    except ConfigurationError:
        return []  # reported (without values) by the process that builds its converter
    return [text for key in keys for text in key.secrets()]


def api_key_values(settings: Settings) -> list[str]:
    """The keys themselves (``name:role:key`` entries and the keys file), however they are written."""
    from engine.api.auth import configured_keys

    try:
        return [key.secret.get_secret_value() for key in configured_keys(settings)]
    except ConfigurationError:
        return []  # reported (without values) by the process that loads the keyring


def _environment_values() -> Iterator[str]:
    for name, value in os.environ.items():
        if name.startswith("ROLLCALL_SECRET_"):
            yield value
        elif _SECRET_VARIABLE.match(name):
            for item in value.split(","):
                yield item.strip()
                yield item.rsplit(":", 1)[-1].strip()


def _secrets_file_values(path: Path | None) -> list[str]:
    if path is None:
        return []
    from engine.enrollment.context import Secrets

    secrets = Secrets(path)
    try:
        return [secrets[name] for name in secrets]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ConfigurationError(f"ROLLCALL_SECRETS_FILE: {path} is not valid YAML{where}") from None
    except yaml.YAMLError:
        raise ConfigurationError(f"ROLLCALL_SECRETS_FILE: {path} is not valid YAML") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"ROLLCALL_SECRETS_FILE: {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigurationError(f"ROLLCALL_SECRETS_FILE: cannot read {path}: {exc.strerror}") from None


def _zoom_values() -> list[str]:
    try:
        connections = load_zoom_connections()
    except ZoomConfigError:
        return []  # reported (without values) by whatever uses the connections
    return zoom_secret_values(connections.values())


def zoom_secret_values(configs: Iterable[ZoomConnectionConfig]) -> list[str]:
    """The client secrets and webhook secret tokens of these Zoom connections."""
    values = []
    for config in configs:
        values.append(config.client_secret.get_secret_value())
        if config.webhook_secret_token is not None:
            values.append(config.webhook_secret_token.get_secret_value())
    return values


def _database_password(url: str) -> list[str]:
    if "@" not in url:  # no credentials in it (the SQLite default)
        return []
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
    except ArgumentError:
        return []
    return [str(password)] if password else []
