"""The emulator's state in a file (``--state-file``), so a restart carries on where it stopped.

Kept: the clock (its offset from the wall clock, so time passes while the emulator is stopped;
or the frozen moment), every account, user, webinar, registrant, instance, join session and
recording (as a seed document with absolute times), the schedule of what happens next, the
download tokens, and the webhook subscriptions with their outbox (deliveries not yet answered
2xx). Not kept: access tokens (a client gets ``401 code 124`` and fetches a new one), page tokens,
rate-limit counters, faults and the delivery log. Written atomically (temporary file, rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from zoom_emulator.core.emulator import Emulator
from zoom_emulator.core.seeds import parse_seed
from zoom_emulator.core.state import EmulatorState, Instance, Registrant, Webinar
from zoom_emulator.core.webhooks import Delivery, Subscription

FORMAT = "rollcall-zoom-emulator-state"
VERSION = 1


class StateFileError(Exception):
    """The state file cannot be read as an emulator state (say so; never guess)."""


def snapshot(emulator: Emulator) -> dict[str, Any]:
    clock = emulator.clock
    webhooks = emulator.webhooks
    return {
        "format": FORMAT,
        "version": VERSION,
        "clock": {
            "now": clock.now().isoformat(),
            "wall": time.time(),
            "frozen": clock.frozen,
            "speed": clock.speed,
        },
        "world": export_world(emulator.state),
        "schedule": emulator.state.scheduler.to_json(),
        "download_tokens": {token: list(value) for token, value in emulator.state.download_tokens.items()},
        "webhooks": {
            "subscriptions": [{**s.to_json(), "secret_token": s.secret_token} for s in webhooks.subscriptions.values()],
            "outbox": [d.to_json() for d in webhooks.pending()],
            "retry_schedule_seconds": list(webhooks.retry_schedule_seconds),
            "timestamp_clock": webhooks.timestamp_clock,
        },
    }


def fingerprint(document: dict[str, Any]) -> str:
    """What a snapshot says apart from the running clock's reading: two snapshots with the same
    fingerprint restore the same world (a clock that only ran on needs no new write)."""
    clock = document["clock"]
    moment = datetime.fromisoformat(clock["now"]).timestamp()
    anchor = moment if clock["frozen"] else round(moment - float(clock["wall"]) * float(clock["speed"]))
    rest = {key: value for key, value in document.items() if key != "clock"}
    stable = {**rest, "clock": [anchor, clock["frozen"], clock["speed"]]}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def restore(emulator: Emulator, path: Path) -> None:
    """Replace the emulator's world with the one saved in ``path``."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StateFileError(f"{path}: not readable as JSON ({type(exc).__name__})") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or saved.get("version") != VERSION:
        raise StateFileError(f"{path}: not a Zoom emulator state file of version {VERSION}")
    _restore_clock(emulator, saved["clock"])
    emulator.reset(reseed=False)
    emulator.state.apply_seed(parse_seed(saved["world"]))
    emulator.state.scheduler.restore(saved["schedule"])
    emulator.state.download_tokens = {t: (str(v[0]), float(v[1])) for t, v in saved["download_tokens"].items()}
    _restore_webhooks(emulator, saved["webhooks"])
    emulator.tick()  # what came due while it was stopped happens now, in order


def _restore_clock(emulator: Emulator, clock: dict[str, Any]) -> None:
    now = datetime.fromisoformat(clock["now"])
    if not clock["frozen"]:
        # The clock kept running while the emulator was stopped (at its speed).
        now += timedelta(seconds=(time.time() - float(clock["wall"])) * float(clock["speed"]))
    emulator.clock.set(now, frozen=bool(clock["frozen"]), speed=float(clock["speed"]))


def _restore_webhooks(emulator: Emulator, saved: dict[str, Any]) -> None:
    webhooks = emulator.webhooks
    for data in saved["subscriptions"]:
        subscription = Subscription(
            int(data["id"]), str(data["account_id"]), str(data["url"]), str(data["secret_token"]),
            bool(data["validated"]), str(data["validation_error"]),
        )  # fmt: skip
        webhooks.subscriptions[subscription.id] = subscription
    webhooks.restore_ids(max(webhooks.subscriptions, default=0))
    webhooks.retry_schedule_seconds = tuple(float(s) for s in saved["retry_schedule_seconds"])
    webhooks.timestamp_clock = "wall" if saved["timestamp_clock"] == "wall" else "emulator"
    webhooks.restore_pending([Delivery.from_json(d) for d in saved["outbox"]])


# --- the world as a seed document ----------------------------------------------------------------


def export_world(state: EmulatorState) -> dict[str, Any]:
    """Everything the state holds, as a seed document with absolute times (no clock: the state
    file keeps it apart)."""
    return {
        "accounts": [
            {
                "id": account.id,
                "name": account.name,
                "plan": account.plan.value,
                "client_id": account.client_id,
                "client_secret": account.client_secret,
                "rate_limits": {label.value: limit for label, limit in account.rate_limits.items()},
                "users": [
                    {
                        "id": u.id,
                        "email": u.email,
                        "first_name": u.first_name,
                        "last_name": u.last_name,
                        "timezone": u.timezone,
                    }
                    for u in account.users.values()
                ],
                "webinars": [_webinar(w) for w in state.webinars.values() if w.account_id == account.id],
            }
            for account in state.accounts.values()
        ]
    }


def _webinar(webinar: Webinar) -> dict[str, Any]:
    return {
        "id": webinar.id,
        "host_id": webinar.host.id,
        "topic": webinar.topic,
        "type": webinar.type,
        "start_time": webinar.start_time.isoformat(),
        "duration": webinar.duration,
        "timezone": webinar.timezone,
        "approval_type": webinar.approval_type,
        "alternative_hosts": webinar.alternative_hosts,
        "zoom_event": webinar.zoom_event,
        "occurrences": [moment.isoformat() for moment in webinar.occurrences],
        "questions": webinar.questions,
        "custom_questions": webinar.custom_questions,
        "registrants": [_registrant(r) for r in webinar.registrants.values()],
        "instances": [_instance(i) for i in webinar.instances],
        "scenario": webinar.scenario.model_dump(mode="json") if webinar.scenario else None,
    }


def _registrant(registrant: Registrant) -> dict[str, Any]:
    return {
        "id": registrant.id,
        "email": registrant.email,
        "first_name": registrant.first_name,
        "last_name": registrant.last_name,
        "status": "cancelled" if registrant.cancelled else registrant.status,
        "create_time": registrant.create_time.isoformat(),
        "answers": registrant.answers,
        "custom_questions": registrant.custom_answers,
    }


def _instance(instance: Instance) -> dict[str, Any]:
    recording = instance.recording
    return {
        "uuid": instance.uuid,
        "start_time": instance.start_time.isoformat(),
        "duration": instance.duration,
        "sessions": [
            {
                "name": s.name,
                "email": s.email,
                "join_time": s.join_time.isoformat(),
                "leave_time": s.leave_time.isoformat(),
                "guest": not s.email,
                "role": s.role,
            }
            for s in instance.sessions
        ],
        "recording": None
        if recording is None
        else {
            "deleted": recording.deleted,
            "files": [
                {
                    "file_type": f.file_type,
                    "file_extension": f.file_extension,
                    "recording_type": f.recording_type,
                    "file_size": f.file_size,
                    "available_after_minutes": (f.available_at - instance.end_time).total_seconds() / 60,
                }
                for f in recording.files
            ],
        },
    }
