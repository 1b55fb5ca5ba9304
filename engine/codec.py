"""Payloads encrypted at rest in Temporal (#17.4): an AES-GCM payload codec with key rotation.

Every payload a Rollcall process hands to Temporal — workflow inputs and results, activity
arguments and results, signals, memos, and (through the SDK's failure converter with encoded
attributes) failure messages and stack traces — is encrypted with the first configured key and
tagged with that key's id; a payload is decrypted with the key its id names, so payloads written
with an older key still decode after a new key is put first. Payloads that are not encrypted (runs
recorded before keys were configured) pass through unchanged.

Keys are configured as ``id:base64key`` entries (32 bytes: AES-256), the first one encrypting:
``ROLLCALL_PAYLOAD_KEYS`` (comma separated) and/or ``ROLLCALL_PAYLOAD_KEYS_FILE`` (one entry per
line, ``#`` comments). ``rollcall up`` generates ``.rollcall/payload-keys`` (0600) on its first
start. Search attributes are not payloads: they stay clear text, which is why they hold ids only.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from engine.config import Settings
from engine.errors import ConfigurationError

#: The ``encoding`` metadata of an encrypted payload, and the metadata naming its key.
ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class PayloadKeyError(ValueError):
    """A payload that cannot be decrypted: its key is not configured, or it was tampered with."""


@dataclass(frozen=True)
class PayloadKey:
    id: str
    key: bytes = dataclasses.field(repr=False)

    def entry(self) -> str:
        """The ``id:base64key`` form this key is configured with."""
        return f"{self.id}:{base64.b64encode(self.key).decode()}"

    def secrets(self) -> list[str]:
        """The texts to hide in logs: the entry and the key in both base64 alphabets."""
        return [self.entry(), base64.b64encode(self.key).decode(), base64.urlsafe_b64encode(self.key).decode()]


def generate_key(key_id: str | None = None) -> PayloadKey:
    return PayloadKey(key_id or f"k{secrets.token_hex(4)}", AESGCM.generate_key(bit_length=KEY_BYTES * 8))


def parse_keys(entries: Iterable[str], setting: str) -> list[PayloadKey]:
    """``id:base64key`` entries, in order; a bad entry is a ConfigurationError naming the setting and
    the entry's position, never its value."""
    keys: list[PayloadKey] = []
    for position, raw in enumerate(entries, 1):
        entry = raw.strip()
        key_id, _, encoded = entry.partition(":")
        if not _KEY_ID.match(key_id) or not encoded:
            raise ConfigurationError(
                f"{setting}: entry {position} is not 'id:base64key' (id: letters, digits, '.', '_', '-')"
            )
        key = _base64(encoded.strip())
        if key is None:
            raise ConfigurationError(f"{setting}: entry {position} ({key_id}) is not base64")
        if len(key) != KEY_BYTES:
            raise ConfigurationError(f"{setting}: key {key_id} has {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        if any(existing.id == key_id for existing in keys):
            raise ConfigurationError(f"{setting}: key id {key_id} appears twice")
        keys.append(PayloadKey(key_id, key))
    return keys


def _base64(text: str) -> bytes | None:
    """Standard or URL-safe base64, padding optional."""
    padded = text + "=" * (-len(text) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None


def read_key_file(path: Path, setting: str = "ROLLCALL_PAYLOAD_KEYS_FILE") -> list[PayloadKey]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None
    lines = [line.strip() for line in text.splitlines()]
    return parse_keys([line for line in lines if line and not line.startswith("#")], setting)


def write_key_file(path: Path, keys: Sequence[PayloadKey]) -> None:
    """Write ``keys`` (first one encrypts) to ``path``, created 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("# Rollcall payload keys (id:base64 AES-256 key); the first encrypts, all decrypt.\n")
        handle.writelines(f"{key.entry()}\n" for key in keys)
    os.chmod(path, 0o600)


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM per payload: a fresh 96-bit nonce each time, the key id as associated data (so a
    payload cannot be passed off as another key's)."""

    def __init__(self, keys: Sequence[PayloadKey]) -> None:
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key")
        self._encrypting = keys[0]
        self._ciphers = {key.id: AESGCM(key.key) for key in keys}

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._encrypting.id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(f"payload encrypted with key {key_id!r}, which is not configured")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadKeyError(f"payload encrypted with key {key_id!r} does not authenticate") from None
        return Payload.FromString(plain)


def configured_keys(settings: Settings) -> list[PayloadKey]:
    """``ROLLCALL_PAYLOAD_KEYS`` then ``ROLLCALL_PAYLOAD_KEYS_FILE``: the first key encrypts."""
    keys = parse_keys([key.get_secret_value() for key in settings.payload_keys], "ROLLCALL_PAYLOAD_KEYS")
    if settings.payload_keys_file is not None:
        for key in read_key_file(settings.payload_keys_file):
            if any(existing.id == key.id for existing in keys):
                raise ConfigurationError(f"payload key id {key.id} is configured twice")
            keys.append(key)
    return keys


def data_converter_with(base: DataConverter, keys: Sequence[PayloadKey]) -> DataConverter:
    """``base`` with payloads (and failure messages and stack traces) encrypted by ``keys``; ``base``
    itself when there is no key."""
    if not keys:
        return base
    return dataclasses.replace(
        base,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
