"""#17.4: histories recorded with payloads encrypted (``record_histories.py --codec``, the test key
in ``histories/codec/payload-test-key``) replay through the codec, hold only ciphertext, and hold
the same data as the clear ones once decrypted."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from support.history import decoded_payloads
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from engine.codec import ENCODING, EncryptionCodec, data_converter_with, read_key_file
from engine.temporal import DATA_CONVERTER
from worker import WORKFLOWS

FOLDER = Path(__file__).resolve().parent / "histories" / "codec"
HISTORIES = sorted(FOLDER.glob("*.json"))
KEYS = read_key_file(FOLDER / "payload-test-key")


def test_the_three_workflows_have_encrypted_histories() -> None:
    stems = {path.stem for path in HISTORIES}
    assert {"every-step", "add-to-webinar-registered", "webinar-sync-waits-for-recording"} <= stems, stems


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_an_encrypted_history_replays_through_the_codec(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 (a small file)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=data_converter_with(DATA_CONVERTER, KEYS))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


#: What the SDK itself writes in clear, by design: search attributes (ids only, for the list
#: queries), a patch marker's id and a local-activity marker's bookkeeping (sequence, activity
#: type, times) — the local activity's result is a payload like any other.
_CLEAR_BY_DESIGN = {"searchAttributes", "patch-data", "data"}


def _payloads(node: Any) -> list[Payload]:
    """The payloads of a history's JSON form that Rollcall's data go through."""
    found: list[Payload] = []
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and isinstance(node.get("data"), str):
            metadata = {key: base64.b64decode(value) for key, value in node["metadata"].items()}
            found.append(Payload(metadata=metadata, data=base64.b64decode(node["data"])))
        for key, value in node.items():
            if key not in _CLEAR_BY_DESIGN or (key == "data" and isinstance(value, str)):
                found.extend(_payloads(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_payloads(item))
    return found


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
def test_every_payload_is_ciphertext_and_decrypts_to_what_clear_histories_hold(path: Path) -> None:
    document = json.loads(path.read_text())
    payloads = _payloads(document)
    assert payloads, path.name
    assert all(payload.metadata["encoding"] == ENCODING for payload in payloads), path.name
    clear = "\n".join(decoded_payloads(document))
    assert "replay@example.com" not in clear and '"enrollment_id"' not in clear and '"webinar_id"' not in clear
    codec = EncryptionCodec(KEYS)
    opened = "\n".join(codec.decrypt(payload).data.decode("utf-8", "replace") for payload in payloads)
    assert '"enrollment_id"' in opened or '"webinar_id"' in opened, path.name
    assert "replay@example.com" not in opened  # #17.5 holds under the codec too
