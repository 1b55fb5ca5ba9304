"""The settings a command runs with, its logging configured and every secret it knows registered."""

from __future__ import annotations

from pydantic import ValidationError

from engine.config import Settings, describe_settings_error, get_settings
from engine.errors import ConfigurationError
from engine.logging import configure_logging, register_secret_values


def load_settings(process: str = "cli") -> Settings:
    """The settings; logging configured for ``process`` (the name its log lines carry), told every
    secret value it knows so no log line shows one. Settings that cannot work: ConfigurationError
    (one line, status 2)."""
    from engine.known_secrets import configured_secret_values  # imports Temporal's codec: only when run

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_settings_error(exc)) from None
    configure_logging(settings.log_format, settings.log_level, process=process)
    register_secret_values(configured_secret_values(settings))
    return settings
