"""API keys and their roles (issue #12.1). The route table and its enforcement: ``engine.api.access``.

A key has a name and a role. Configure it as ``name:role:key`` in ``ROLLCALL_API_KEYS`` (comma
separated) or in ``ROLLCALL_API_KEYS_FILE`` (a YAML/JSON list of such strings, or of
``{name, role, key}`` mappings). Kept for compatibility: a bare key (no colon) in
``ROLLCALL_API_KEYS`` is an ``operator`` key named ``api-key-N``, and every entry of
``ROLLCALL_ADMIN_API_KEYS`` (a whole key, colons included) an ``admin`` key named ``admin-key-N``;
N is the entry's position.

Once loaded, only the SHA-256 digest of each key stays in memory; a presented key is hashed and
compared with every digest in constant time. Requests, logs and audit rows carry the key's name
and role (``Caller``), never the key. Configuration errors name the setting and the entry's
position, never anything of the entry: a misplaced colon would put the key where a name or a role
is expected.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr

from engine.config import Settings
from engine.errors import ConfigurationError, RollcallError

KEYS_VARIABLE = "ROLLCALL_API_KEYS"
ADMIN_KEYS_VARIABLE = "ROLLCALL_ADMIN_API_KEYS"
KEYS_FILE_VARIABLE = "ROLLCALL_API_KEYS_FILE"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Role(StrEnum):
    """Each role may do everything the roles before it may."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def includes(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANK = {role: rank for rank, role in enumerate(Role)}


class RoleRequired(RollcallError):
    """A part of an answer the caller's role may not see (e.g. e-mails in a list, operator and above)."""

    code = "ROLE_REQUIRED"
    http_status = 403


_ROLE_NAMES = ", ".join(role.value for role in reversed(Role))


class ApiKeysConfigError(ConfigurationError):
    code = "API_KEYS_INVALID"


@dataclass(frozen=True)
class ConfiguredKey:
    """One configured key, as read: only the CLI (to call the API) and ``Keyring`` see ``secret``."""

    name: str
    role: Role
    #: Where it is configured: ``ROLLCALL_API_KEYS entry 2``, ``ROLLCALL_API_KEYS_FILE entry 1``, …
    where: str
    secret: SecretStr = field(repr=False)


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the key's name and role (``request.state.caller``)."""

    key_name: str
    role: Role


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: Role
    where: str
    digest: bytes = field(repr=False)


def key_digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


class Keyring:
    """The API's keys, as digests only."""

    def __init__(self, keys: Sequence[ConfiguredKey]) -> None:
        self._keys = [
            ApiKey(key.name, key.role, key.where, key_digest(key.secret.get_secret_value().encode())) for key in keys
        ]

    def __iter__(self) -> Iterator[ApiKey]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def identify(self, presented: bytes) -> ApiKey | None:
        """The key ``presented`` is, compared with every key so timing reveals neither key nor position."""
        digest = key_digest(presented)
        found = None
        for key in self._keys:
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found


def _entry(text: str, where: str) -> tuple[str, Role, str]:
    """``name:role:key`` → its parts (the key may itself contain colons)."""
    name, _, rest = text.partition(":")
    role_text, separator, key = rest.partition(":")
    if not separator:
        raise ApiKeysConfigError(f"{where} is not name:role:key")
    if not _NAME.match(name):
        raise ApiKeysConfigError(f"{where}: the name must be 1–64 letters, digits, '.', '_' or '-'")
    try:
        role = Role(role_text)
    except ValueError:
        raise ApiKeysConfigError(f"{where}: unknown role (one of {_ROLE_NAMES})") from None
    if not key.strip():
        raise ApiKeysConfigError(f"{where}: the key is empty")
    return name, role, key.strip()


def _from_variable(entries: list[SecretStr]) -> Iterator[ConfiguredKey]:
    for position, entry in enumerate(entries, start=1):
        text = entry.get_secret_value()
        where = f"{KEYS_VARIABLE} entry {position}"
        if ":" in text:
            name, role, key = _entry(text, where)
            yield ConfiguredKey(name, role, where, SecretStr(key))
        else:
            yield ConfiguredKey(f"api-key-{position}", Role.OPERATOR, where, entry)


def _from_admin_variable(entries: list[SecretStr]) -> Iterator[ConfiguredKey]:
    for position, entry in enumerate(entries, start=1):
        yield ConfiguredKey(f"admin-key-{position}", Role.ADMIN, f"{ADMIN_KEYS_VARIABLE} entry {position}", entry)


def _read_keys_file(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ApiKeysConfigError(f"{KEYS_FILE_VARIABLE}: cannot read {path}: {reason}") from None
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        # Neither parser's message is shown: both quote the offending line, which may hold a key.
        problem = f"{path} is not valid YAML/JSON ({type(exc).__name__})"
        raise ApiKeysConfigError(f"{KEYS_FILE_VARIABLE}: {problem}") from None
    if not isinstance(data, list):
        raise ApiKeysConfigError(f"{KEYS_FILE_VARIABLE}: {path} must hold a list of name:role:key entries")
    return data


def _from_file(path: Path) -> Iterator[ConfiguredKey]:
    for position, item in enumerate(_read_keys_file(path), start=1):
        where = f"{KEYS_FILE_VARIABLE} entry {position}"
        if isinstance(item, dict) and set(item) == {"name", "role", "key"}:
            item = f"{item['name']}:{item['role']}:{item['key']}"
        if not isinstance(item, str):
            raise ApiKeysConfigError(f"{where} is neither a name:role:key string nor a {{name, role, key}} mapping")
        name, role, key = _entry(item, where)
        yield ConfiguredKey(name, role, where, SecretStr(key))


def configured_keys(settings: Settings) -> list[ConfiguredKey]:
    """Every configured key; ``ApiKeysConfigError`` (one line, no value) for any entry that cannot work."""
    keys = [*_from_variable(settings.api_keys), *_from_admin_variable(settings.admin_api_keys)]
    if settings.api_keys_file is not None:
        keys.extend(_from_file(settings.api_keys_file))
    names: dict[str, str] = {}
    digests: dict[bytes, str] = {}
    for key in keys:
        if key.name in names:
            raise ApiKeysConfigError(f"{key.where} has the same name as {names[key.name]}")
        digest = key_digest(key.secret.get_secret_value().encode())
        if digest in digests:
            raise ApiKeysConfigError(f"{key.where} has the same key as {digests[digest]}")
        names[key.name] = key.where
        digests[digest] = key.where
    return keys


def load_keyring(settings: Settings) -> Keyring:
    return Keyring(configured_keys(settings))
