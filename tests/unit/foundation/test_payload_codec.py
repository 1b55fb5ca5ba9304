"""#17.4: the AES-GCM payload codec — encryption, key ids, rotation, tampering, configuration."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from engine.codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadKey,
    PayloadKeyError,
    configured_keys,
    data_converter_with,
    generate_key,
    parse_keys,
    read_key_file,
    write_key_file,
)
from engine.config import Settings
from engine.errors import ConfigurationError
from engine.temporal import DATA_CONVERTER

CANARY = "canary.payload@customers.example"


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_payloads_are_encrypted_tagged_and_decrypted() -> None:
    key = generate_key("a")
    codec = EncryptionCodec([key])
    [sealed] = await codec.encode([_payload(CANARY)])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"a"
    assert CANARY.encode() not in sealed.SerializeToString()
    [again] = await codec.encode([_payload(CANARY)])
    assert again.data != sealed.data  # a fresh nonce each time
    [opened] = await codec.decode([sealed])
    assert opened == _payload(CANARY)


async def test_payloads_written_with_an_old_key_still_decode_after_rotation() -> None:
    """Key rotation: payloads written with A decode once B is put first; new ones use B."""
    a, b = generate_key("a"), generate_key("b")
    [old] = await EncryptionCodec([a]).encode([_payload("written with a")])
    rotated = EncryptionCodec([b, a])
    [new] = await rotated.encode([_payload("written with b")])
    assert new.metadata[KEY_ID_METADATA] == b"b"
    assert await rotated.decode([old, new]) == [_payload("written with a"), _payload("written with b")]
    with pytest.raises(PayloadKeyError, match="'b'"):
        await EncryptionCodec([a]).decode([new])  # B was never given to this process


async def test_plain_payloads_pass_through_and_tampering_is_detected() -> None:
    key = generate_key("a")
    codec = EncryptionCodec([key])
    assert await codec.decode([_payload("plain")]) == [_payload("plain")]
    [sealed] = await codec.encode([_payload(CANARY)])
    tampered = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(PayloadKeyError, match="does not authenticate"):
        await codec.decode([tampered])
    # A payload re-labelled with another key id does not authenticate either (the id is bound in).
    other = PayloadKey("b", key.key)
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"b"}, data=sealed.data)
    with pytest.raises(PayloadKeyError):
        await EncryptionCodec([key, other]).decode([relabelled])


def test_the_converter_encrypts_failures_too_only_with_keys() -> None:
    assert data_converter_with(DATA_CONVERTER, []) is DATA_CONVERTER
    converter = data_converter_with(DATA_CONVERTER, [generate_key("a")])
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.failure_converter_class is DefaultFailureConverterWithEncodedAttributes


def test_keys_come_from_the_variable_then_the_file(tmp_path: Path) -> None:
    first, second = generate_key("new"), generate_key("old")
    path = tmp_path / "keys"
    write_key_file(path, [second])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == [second]
    settings = Settings(payload_keys=first.entry(), payload_keys_file=path)
    assert [key.id for key in configured_keys(settings)] == ["new", "old"]
    urlsafe = f"u:{base64.urlsafe_b64encode(first.key).decode().rstrip('=')}"
    assert parse_keys([urlsafe], "X")[0].key == first.key


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("no-colon", "entry 1 is not 'id:base64key'"),
        ("a:!!!notbase64!!!", "entry 1 (a) is not base64"),
        (f"a:{base64.b64encode(os.urandom(16)).decode()}", "key a has 16 bytes; AES-256 needs 32"),
        ("bad id:AAAA", "entry 1 is not 'id:base64key'"),
    ],
    ids=["no-colon", "not-base64", "16-byte-key", "bad-id"],  # a random key in an id differs between xdist workers
)
def test_a_bad_key_entry_is_one_line_naming_the_setting_not_the_value(entry: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_keys([entry], "ROLLCALL_PAYLOAD_KEYS")
    message = str(raised.value)
    assert message.startswith("ROLLCALL_PAYLOAD_KEYS: ") and says in message and "\n" not in message
    assert entry.partition(":")[2] not in message or entry.partition(":")[2] == ""


def test_duplicate_ids_and_unreadable_files_are_refused(tmp_path: Path) -> None:
    key = generate_key("a")
    with pytest.raises(ConfigurationError, match="appears twice"):
        parse_keys([key.entry(), key.entry()], "ROLLCALL_PAYLOAD_KEYS")
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_key_file(tmp_path / "missing")
