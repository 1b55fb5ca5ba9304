"""Determinism guard: recorded histories replay against the current workflows.

The enrollment interpreter (``Enrollment``), the "Add Contact to Zoom Webinar" saga
(``AddContactToWebinar``, files ``add-to-webinar-*``) and the webinar sync (``WebinarSync``, files
``webinar-sync-*``). A change to ``workflows/`` that would take another path through an old
history fails here; put it behind ``workflow.patched`` (README, "Changing the interpreter"), then
re-record with ``tests/replay/record_histories.py`` and keep the old files too.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.history import decoded_payloads as _decoded_payloads
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from engine.temporal import DATA_CONVERTER
from worker import WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parent / "histories").glob("*.json"))
SAGA = [path for path in HISTORIES if path.stem.startswith("add-to-webinar-")]
SYNC = [path for path in HISTORIES if path.stem.startswith("webinar-sync-")]
ENROLLMENT = [path for path in HISTORIES if path not in SAGA and path not in SYNC]


def _named(paths: list[Path], stem: str) -> Path:
    return next(path for path in paths if path.stem == stem)


def test_histories_cover_every_kind_of_step() -> None:
    text = "".join(path.read_text() for path in ENROLLMENT)
    for activity in ("plan_delay", "evaluate_branch", "set_property", "call_webhook", "enroll_contact", "finish"):
        assert f'"name": "{activity}"' in text or f'"name":"{activity}"' in text, activity
    assert "TIMER_STARTED" in text and "WORKFLOW_EXECUTION_SIGNALED" in text


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240 (a small file)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_contact_data_stays_out_of_history() -> None:
    """Activities read contact data and render requests themselves: the webhook body (with the
    email) never enters history. History holds ids, outcome codes and step outputs — a value a
    definition itself derives from contact data (``set_property``) is an output and does."""
    for path in ENROLLMENT:
        payloads = list(_decoded_payloads(json.loads(path.read_text())))
        assert any('"enrollment_id"' in payload for payload in payloads), path.name
        assert not [payload for payload in payloads if "replay@example.com" in payload], path.name


def _events(path: Path) -> list[tuple[str, str]]:
    """(event type, name) of each event: the scheduled activity's type, the local activity's
    marker's, or the signal's name."""
    found: list[tuple[str, str]] = []
    for event in json.loads(path.read_text())["events"]:
        kind = event["eventType"].removeprefix("EVENT_TYPE_")
        name = ""
        if kind == "ACTIVITY_TASK_SCHEDULED":
            name = event["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        elif kind == "WORKFLOW_EXECUTION_SIGNALED":
            name = event["workflowExecutionSignaledEventAttributes"]["signalName"]
        elif kind == "MARKER_RECORDED":
            marker = event["markerRecordedEventAttributes"]
            name = marker["markerName"]
            if name == "core_local_activity":
                data = base64.b64decode(marker["details"]["data"]["payloads"][0]["data"])
                name = f"local:{json.loads(data)['activity_type']}"
        found.append((kind, name))
    return found


#: The interpreter's scenarios of ``record_histories.py`` (``--only enrollment``), recorded before and
#: after ``local-store-steps``.
INTERPRETER_SCENARIOS = {
    "every-step",
    "on-error-fail",
    "on-error-continue",
    "on-error-goto",
    "exits-goal",
    "exits-unenroll",
}
#: The enrollment that started ``add-to-webinar-registered``'s saga (``--only saga``), recorded since
#: ``local-store-steps``.
REGISTER_STEP = "enrollment-register-step"

STORE_ACTIVITIES = {
    "plan_delay",
    "evaluate_branch",
    "set_property",
    "prepare_registration",
    "record_outcomes",
    "finish",
}


def test_since_local_store_steps_store_activities_are_local_and_call_outs_are_not() -> None:
    """Histories recorded after the ``local-store-steps`` patch: the patch marker, store-only
    activities as local-activity markers (no activity task), webhooks and enrollments as regular
    activities. The older files (without the marker) replay the regular path above."""
    tagged = [path for path in ENROLLMENT if path.stem.endswith("@local-store-steps")]
    assert {path.stem.removesuffix("@local-store-steps") for path in tagged} == INTERPRETER_SCENARIOS
    # Untagged: the six recorded before the patch, and the register step's recorded after it.
    assert {path.stem for path in ENROLLMENT if "@" not in path.stem} == INTERPRETER_SCENARIOS | {REGISTER_STEP}
    tagged.append(_named(ENROLLMENT, REGISTER_STEP))
    for path in tagged:
        events = _events(path)
        assert ("MARKER_RECORDED", "core_patch") in events, path.name
        scheduled = {name for kind, name in events if kind == "ACTIVITY_TASK_SCHEDULED"}
        local = {name.removeprefix("local:") for _, name in events if name.startswith("local:")}
        assert not scheduled & STORE_ACTIVITIES, path.name
        assert local <= STORE_ACTIVITIES and "finish" in local, path.name
    every = _events(_named(ENROLLMENT, "every-step@local-store-steps"))
    assert [name for _, name in every if name.startswith("local:") or name in {"call_webhook", "enroll_contact"}] == [
        "local:set_property",
        "local:plan_delay",
        "local:evaluate_branch",
        "call_webhook",
        "local:evaluate_branch",
        "enroll_contact",
        "local:finish",
    ]
    old = _events(_named(ENROLLMENT, "every-step"))
    assert len(every) < len(old) * 0.6  # 30 events instead of 53


# --- the saga and the sync (issue #18 point 1; #16: histories recorded before their changes) ----------

SAGA_STEPS = ["resolve_webinar", "check_host", "check_registration_form", "register_contact", "record_registration"]


def _scheduled(path: Path) -> list[str]:
    return [name for kind, name in _events(path) if kind == "ACTIVITY_TASK_SCHEDULED"]


def _ending(path: Path) -> tuple[str, str]:
    """How the run ended: ("COMPLETED", the result's ``code`` or ``status``) or ("FAILED", the failure's type)."""
    last = json.loads(path.read_text())["events"][-1]
    kind = last["eventType"].removeprefix("EVENT_TYPE_WORKFLOW_EXECUTION_")
    if kind == "COMPLETED":
        [payload] = last["workflowExecutionCompletedEventAttributes"]["result"]["payloads"]
        result = json.loads(base64.b64decode(payload["data"]))
        return kind, result.get("code") or result["status"]
    if kind == "FAILED":
        return kind, last["workflowExecutionFailedEventAttributes"]["failure"]["applicationFailureInfo"]["type"]
    return kind, ""


def test_saga_histories_cover_registered_refused_and_compensated() -> None:
    """R-ADD-1…8 as recorded before the saga's rework (#18.3, #16.1): a registration, refusals by the
    business-unit check (before the host check) and by the host check (before add-registrant), and
    the compensation — the store refused for good, the registrant is cancelled, the run fails."""
    assert {path.stem for path in SAGA} >= {
        "add-to-webinar-registered",
        "add-to-webinar-refused-host",
        "add-to-webinar-refused-business-unit",
        "add-to-webinar-compensated",
    }
    registered = _named(SAGA, "add-to-webinar-registered")
    assert _scheduled(registered) == SAGA_STEPS
    assert _ending(registered) == ("COMPLETED", "REGISTERED")
    host = _named(SAGA, "add-to-webinar-refused-host")
    assert _scheduled(host) == SAGA_STEPS[:2]
    assert _ending(host) == ("COMPLETED", "HOST_CANNOT_REGISTER")
    unit = _named(SAGA, "add-to-webinar-refused-business-unit")
    assert _scheduled(unit) == SAGA_STEPS[:1]
    assert _ending(unit) == ("COMPLETED", "BUSINESS_UNIT_MISMATCH")
    compensated = _named(SAGA, "add-to-webinar-compensated")
    assert _scheduled(compensated) == [*SAGA_STEPS, "cancel_registration"]
    assert ("ACTIVITY_TASK_FAILED", "") in _events(compensated)
    assert _ending(compensated) == ("FAILED", "ZOOM_REGISTRATION_COMPENSATED")
    for path in SAGA:  # each run is an enrollment's child, as in production
        started = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]
        assert started["parentWorkflowExecution"]["workflowId"].startswith("enroll:"), path.name


def _child_started(path: Path) -> tuple[str, str]:
    """(workflow type, workflow id) of the one child workflow a history starts."""
    [initiated] = [
        event["startChildWorkflowExecutionInitiatedEventAttributes"]
        for event in json.loads(path.read_text())["events"]
        if "startChildWorkflowExecutionInitiatedEventAttributes" in event
    ]
    return initiated["workflowType"]["name"], initiated["workflowId"]


def test_the_register_step_history_runs_the_saga_as_a_child() -> None:
    """The interpreter's side of ``add_contact_to_zoom_webinar`` (R-ADD-2, #16.1), recorded before the
    saga's rework: the webinar id read by a local activity, the saga started as the child
    ``add-to-webinar:{webinar}:{contact}``, its REGISTERED outcome written to the action log, the
    enrollment closed."""
    path = _named(ENROLLMENT, REGISTER_STEP)
    events = _events(path)
    assert [name for _, name in events if name.startswith("local:")] == [
        "local:prepare_registration",
        "local:record_outcomes",
        "local:finish",
    ]
    kinds = [kind for kind, _ in events]
    assert kinds.index("START_CHILD_WORKFLOW_EXECUTION_INITIATED") < kinds.index("CHILD_WORKFLOW_EXECUTION_COMPLETED")
    workflow_type, workflow_id = _child_started(path)
    assert workflow_type == "AddContactToWebinar"
    assert workflow_id.startswith("add-to-webinar:94000000001:")
    [completed] = [
        event["childWorkflowExecutionCompletedEventAttributes"]
        for event in json.loads(path.read_text())["events"]
        if "childWorkflowExecutionCompletedEventAttributes" in event
    ]
    [payload] = completed["result"]["payloads"]
    assert json.loads(base64.b64decode(payload["data"]))["code"] == "REGISTERED"
    assert _ending(path) == ("COMPLETED", "completed")


def test_sync_histories_cover_a_plain_sync_and_a_wait_for_the_recording() -> None:
    """R-SYNC-1…5 as recorded before the sync's rework: a completed sync (no wait), and a run that
    waits for a transcript — a durable timer, a registration webhook meanwhile (registrants and
    attendees refreshed in the same run, no continue-as-new), then the recording webhook's signal."""
    assert {path.stem for path in SYNC} >= {"webinar-sync-completed", "webinar-sync-waits-for-recording"}
    completed = _named(SYNC, "webinar-sync-completed")
    assert _scheduled(completed) == [
        "plan_sync",
        "sync_registrants",
        "sync_attendees",
        "sync_recordings",
        "publish_events",
        "finish_sync",
    ]
    assert _ending(completed) == ("COMPLETED", "partial")  # a guest without email (R-AUD-3)
    waits = _named(SYNC, "webinar-sync-waits-for-recording")
    events = _events(waits)
    after_wait = events[[kind for kind, _ in events].index("TIMER_STARTED") :]
    assert [(kind, name) for kind, name in after_wait if kind in {"TIMER_STARTED", "WORKFLOW_EXECUTION_SIGNALED"}] == [
        ("TIMER_STARTED", ""),
        ("WORKFLOW_EXECUTION_SIGNALED", "trigger"),
        ("TIMER_STARTED", ""),
        ("WORKFLOW_EXECUTION_SIGNALED", "recording_ready"),
    ]
    assert _scheduled(waits).count("sync_recordings") == 3
    assert _scheduled(waits).count("sync_registrants") == 2
    assert _ending(waits) == ("COMPLETED", "succeeded")


EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: Zoom users of the company in the saga's world (tests/replay/zoom_scenarios.py): hosts and connecting users.
STAFF_EMAILS = {
    "host@rollcall.example",
    "alt.host@rollcall.example",
    "connector@rollcall.example",
    "host@emea.example",
    "connector@emea.example",
}
#: The e-mail of the contact each saga history registers.
SAGA_CONTACTS = {
    "add-to-webinar-registered": "ada@customers.example",
    "add-to-webinar-refused-host": "host@rollcall.example",  # the contact is the webinar's host
    "add-to-webinar-refused-business-unit": "bea@customers.example",
    "add-to-webinar-compensated": "cy@customers.example",
}
#: A personal join link's token.
JOIN_TOKEN = re.compile(r"[?&]tk=[\w-]+")
#: Where personal join links were before ``saga-preflight`` (issue #17 point 5): Zoom's answer to
#: add-registrant, the store write's input and the REGISTERED result.
KNOWN_JOIN_LINK_PLACES = {
    ("ACTIVITY_TASK_COMPLETED", "register_contact"),
    ("ACTIVITY_TASK_SCHEDULED", "record_registration"),
    ("WORKFLOW_EXECUTION_COMPLETED", ""),
}
#: Where hosts' and connecting users' e-mails were before ``saga-preflight`` (issue #17 point 5): the
#: webinar's facts returned by ``resolve_webinar`` and passed on to ``check_host`` and ``record_registration``.
KNOWN_STAFF_EMAIL_PLACES = {
    ("ACTIVITY_TASK_COMPLETED", "resolve_webinar"),
    ("ACTIVITY_TASK_SCHEDULED", "check_host"),
    ("ACTIVITY_TASK_SCHEDULED", "record_registration"),
}


def _activity_type(scheduled: dict[str, Any]) -> str:
    return str(scheduled["activityTaskScheduledEventAttributes"]["activityType"]["name"])


def _places(path: Path, pattern: re.Pattern[str] = EMAIL) -> dict[tuple[str, str], set[str]]:
    """What ``pattern`` finds in each event's decoded payloads, by (event type, activity type)."""
    events = json.loads(path.read_text())["events"]
    scheduled = [event for event in events if "activityTaskScheduledEventAttributes" in event]
    activity = {event["eventId"]: _activity_type(event) for event in scheduled}
    places: dict[tuple[str, str], set[str]] = {}
    for event in events:
        found = {match for payload in _decoded_payloads(event) for match in pattern.findall(payload)}
        if not found:
            continue
        attributes = next(value for key, value in event.items() if key.endswith("EventAttributes"))
        name = activity.get(str(attributes.get("scheduledEventId")), "") or activity.get(event["eventId"], "")
        places.setdefault((event["eventType"].removeprefix("EVENT_TYPE_"), name), set()).update(found)
    return places


def test_saga_histories_hold_no_contact_email_only_the_known_staff_emails() -> None:
    """The registering contact's e-mail is in no saga history (payloads, failure messages, stack
    traces) — except where the contact *is* the host (``refused-host``: issue #17 point 5, the
    contact's own e-mail as the host's). The only e-mails are hosts' and connecting users', in the
    webinar facts of ``KNOWN_STAFF_EMAIL_PLACES``, and personal join links only in
    ``KNOWN_JOIN_LINK_PLACES``. (Since ``saga-preflight`` there are none: see the end of this file;
    these old histories still replay.)"""
    assert set(SAGA_CONTACTS) <= {path.stem for path in SAGA}
    # So "only staff e-mails" means "no registering contact's", but for the host who tried.
    assert set(SAGA_CONTACTS.values()) & STAFF_EMAILS == {SAGA_CONTACTS["add-to-webinar-refused-host"]}
    for path in SAGA:
        text = path.read_text()
        places = _places(path)
        assert set(places) <= KNOWN_STAFF_EMAIL_PLACES, (path.name, places)
        assert set().union(*places.values()) <= STAFF_EMAILS, (path.name, places)
        assert not EMAIL.findall(text), path.name  # outside payloads: messages and stack traces
        assert set(_places(path, JOIN_TOKEN)) <= KNOWN_JOIN_LINK_PLACES, path.name
        assert not JOIN_TOKEN.findall(text), path.name
        assert any('"enrollment_id":' in payload for payload in _decoded_payloads(json.loads(text))), path.name


def test_the_register_step_history_holds_no_email_and_the_join_link_only_in_the_child_result() -> None:
    """The enrollment's side: no e-mail at all (the contact's is read by activities); the personal
    join link only in the saga's result as the parent receives it (before ``saga-preflight``, #17.5)."""
    path = _named(ENROLLMENT, REGISTER_STEP)
    text = path.read_text()
    assert not EMAIL.findall(text), path.name
    assert not _places(path), path.name
    assert set(_places(path, JOIN_TOKEN)) == {("CHILD_WORKFLOW_EXECUTION_COMPLETED", "")}, path.name


def test_sync_histories_hold_no_email_at_all() -> None:
    """Zoom lists never enter the sync's history (chunk activities return counts and cursors): no
    registrant's or attendee's e-mail, nor the host's, in any payload, message or trace."""
    for path in SYNC:
        text = path.read_text()
        assert not EMAIL.findall(text), path.name
        assert not [payload for payload in _decoded_payloads(json.loads(text)) if EMAIL.search(payload)], path.name


# --- since the saga's ``saga-preflight`` patch (#16.1, #17.5, #18.3) -----------------------------------

PREFLIGHT = "saga-preflight"


def _since_preflight(stem: str) -> Path:
    return _named([*SAGA, *ENROLLMENT], f"{stem}@{PREFLIGHT}")


def test_since_saga_preflight_a_registration_is_a_pre_flight_and_one_activity() -> None:
    """R-ADD-1…8 recorded after the patch: the marker, then the pre-flight — a local activity that
    decides from the store when the worker's cache knows the webinar, else an activity that asks
    Zoom — whose first refusal is the outcome (business unit before host, both before
    add-registrant), then add-registrant and the store write in one activity; the store's permanent
    refusal comes back as a result and is compensated by the cancellation. The recorded runs cover
    a cold cache (the first run of each webinar) and a warm one. A registration's history is a
    good third shorter than before the patch: 23 events instead of 39 (cold cache), the compensated
    one 22 instead of 45 (warm)."""
    assert {path.stem for path in SAGA if path.stem.endswith(f"@{PREFLIGHT}")} == {
        f"{stem}@{PREFLIGHT}" for stem in SAGA_CONTACTS
    }
    expected = {
        "add-to-webinar-registered": (["register_and_record"], ("COMPLETED", "REGISTERED")),
        "add-to-webinar-refused-host": ([], ("COMPLETED", "HOST_CANNOT_REGISTER")),
        "add-to-webinar-refused-business-unit": ([], ("COMPLETED", "BUSINESS_UNIT_MISMATCH")),
        "add-to-webinar-compensated": (
            ["register_and_record", "cancel_registration"],
            ("FAILED", "ZOOM_REGISTRATION_COMPENSATED"),
        ),
    }
    asked_zoom: set[bool] = set()
    for stem, (after_preflight, ending) in expected.items():
        path = _since_preflight(stem)
        events = _events(path)
        assert ("MARKER_RECORDED", "core_patch") in events, path.name
        assert [name for _, name in events if name.startswith("local:")] == ["local:preflight_from_cache"], path.name
        scheduled = _scheduled(path)
        cold = scheduled[:1] == ["preflight_registration"]
        asked_zoom.add(cold)
        assert scheduled[cold:] == after_preflight, path.name
        assert ("ACTIVITY_TASK_FAILED", "") not in events, path.name
        assert _ending(path) == ending, path.name
        if after_preflight:  # the registrations: shorter than before the patch, even with a cold cache
            assert len(events) < 0.7 * len(_events(_named(SAGA, stem))), path.name
    assert asked_zoom == {True, False}
    parent = _since_preflight(REGISTER_STEP)
    assert _child_started(parent)[0] == "AddContactToWebinar"
    assert _ending(parent) == ("COMPLETED", "completed")


def test_since_saga_preflight_histories_hold_no_email_and_no_join_link() -> None:
    """Issue #17 point 5: in the histories recorded after the patch — the saga's and the enrollment's
    that started one — no payload, message or stack trace holds an e-mail (not the contact's, not
    the host's, an alternative host's or the connecting user's: hosts are compared inside the
    pre-flight, and appear as the host's Zoom user id) nor a personal join link (``tk=``: it goes
    from Zoom's answer to the CRM store inside ``register_and_record``)."""
    paths = [_since_preflight(stem) for stem in [*SAGA_CONTACTS, REGISTER_STEP]]
    people = STAFF_EMAILS | set(SAGA_CONTACTS.values())
    for path in paths:
        text = path.read_text()
        payloads = "\n".join(_decoded_payloads(json.loads(text)))
        assert not _places(path) and not _places(path, JOIN_TOKEN), path.name
        assert not EMAIL.findall(text) and not JOIN_TOKEN.findall(text), path.name
        assert "tk=" not in payloads and '"join_url":"' not in payloads, path.name
        assert not [email for email in people if email in payloads.lower()], path.name
    registered = "\n".join(_decoded_payloads(json.loads(_since_preflight("add-to-webinar-registered").read_text())))
    assert '"host_id":"host"' in registered  # the host as its Zoom user id


def _upserted(path: Path) -> set[str]:
    """The search attributes a history's runs upserted (their names)."""
    names: set[str] = set()
    for event in json.loads(path.read_text())["events"]:
        if event["eventType"] == "EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            fields = event["upsertWorkflowSearchAttributesEventAttributes"]["searchAttributes"]["indexedFields"]
            names |= set(fields)
    return names


def test_operator_view_histories_fail_failed_enrollments_and_carry_the_new_attributes() -> None:
    """#14.1 (``operator-view``): the enrollment that ends ``failed`` fails its run with the step's
    code after the store is written; completed and cancelled ones complete."""
    tagged = {path.stem.removesuffix("@operator-view"): path for path in HISTORIES if "@operator-view" in path.stem}
    assert _ending(tagged["on-error-fail"]) == ("FAILED", "WEBHOOK_RETRYABLE_STATUS")
    assert _ending(_named(ENROLLMENT, "on-error-fail@local-step-failures"))[0] == "COMPLETED"
    for name in ("every-step", "on-error-continue", "exits-goal", "exits-unenroll"):
        assert _ending(tagged[name])[0] == "COMPLETED", name
    assert "RollcallStatus" in _upserted(tagged["on-error-fail"])


# --- the quick path (#16.1, ``quick-registration``) ------------------------------------------------------

QUICK = "quick-registration"
#: The enrollments of ``record_histories.py --only quick``: the step's outcome, and the contact's e-mail.
QUICK_SCENARIOS = {
    "enrollment-quick-registered": ("REGISTERED", "dee@customers.example"),
    "enrollment-quick-refused-alternative-host": ("HOST_CANNOT_REGISTER", "alt.host@rollcall.example"),
}


def test_since_quick_registration_a_known_webinar_is_registered_in_one_local_activity() -> None:
    """Recorded after the patch, with the worker knowing the webinar: the step is the patch marker,
    ``prepare_registration``, ``register_quickly`` and the action log (``record_outcomes``) as local
    activities, then the end — no child workflow, no activity task, no e-mail (the contact's or the alternative
    host's) and no join link in any payload. A registration is 17 events in all, where the saga
    took the enrollment's 18 and the child's 16 to 23."""
    tagged = {path.stem.removesuffix(f"@{QUICK}"): path for path in ENROLLMENT if path.stem.endswith(f"@{QUICK}")}
    assert set(tagged) == set(QUICK_SCENARIOS)
    for stem, (outcome, email) in QUICK_SCENARIOS.items():
        path = tagged[stem]
        events = _events(path)
        assert ("MARKER_RECORDED", "core_patch") in events, path.name
        assert [name for _, name in events if name.startswith("local:")] == [
            "local:prepare_registration",
            "local:register_quickly",
            "local:record_outcomes",
            "local:finish",
        ], path.name
        assert not [kind for kind, _ in events if kind.startswith(("START_CHILD", "ACTIVITY_TASK"))], path.name
        assert _ending(path) == ("COMPLETED", "completed"), path.name
        assert len(events) <= 18, path.name
        text = path.read_text()
        payloads = "\n".join(_decoded_payloads(json.loads(text)))
        assert f'"outcomes":{{"register":"{outcome}"}}' in payloads.replace(" ", ""), path.name
        assert email not in payloads.lower() and not EMAIL.findall(text), path.name
        assert "tk=" not in payloads and not JOIN_TOKEN.findall(text), path.name


# --- one patch marker per run, the registration in one local activity (#16.1, ``interpreter-generation-2``) ---

GENERATION = "interpreter-generation-2"


def _generation_histories() -> dict[str, Path]:
    return {
        path.stem.removesuffix(f"@{GENERATION}"): path for path in ENROLLMENT if path.stem.endswith(f"@{GENERATION}")
    }


def test_since_interpreter_generation_2_a_run_records_one_patch_marker() -> None:
    """A run of the generation asks ``workflow.patched`` once: one marker and one
    ``TemporalChangeVersion`` upsert, where a registration had four of each (every change asked
    on its own). The histories recorded before replay through the changes one by one."""
    tagged = _generation_histories()
    assert set(tagged) >= {"every-step", "on-error-fail", "render-error", REGISTER_STEP, *QUICK_SCENARIOS}
    for path in tagged.values():
        assert [name for _, name in _events(path) if name == "core_patch"] == ["core_patch"], path.name


def test_since_interpreter_generation_2_a_known_webinar_is_registered_in_one_local_activity() -> None:
    """The add-to-webinar step is ``register_to_webinar`` (the step's checks, the webinar id and the
    quick registration in one local activity); its outcome reaches the action log with the next
    activity (here the enrollment's close; the recorder checks the log): 11 events in all (17
    before), no child, no activity task, no e-mail and no join link in any payload."""
    tagged = _generation_histories()
    for stem, (outcome, email) in QUICK_SCENARIOS.items():
        path = tagged[stem]
        events = _events(path)
        assert [name for _, name in events if name.startswith("local:")] == [
            "local:register_to_webinar",
            "local:finish",
        ], path.name
        assert not [kind for kind, _ in events if kind.startswith(("START_CHILD", "ACTIVITY_TASK"))], path.name
        assert _ending(path) == ("COMPLETED", "completed"), path.name
        assert len(events) <= 11, path.name
        text = path.read_text()
        payloads = "\n".join(_decoded_payloads(json.loads(text))).replace(" ", "")
        assert f'"outcomes":{{"register":"{outcome}"}}' in payloads, path.name
        # The local activity's answer: what the quick way did (the workflow reads the outcome from it).
        assert '"quick":{"preflight":{"webinar":{"webinar_id":"94000000001"' in payloads, path.name
        assert email not in payloads.lower() and not EMAIL.findall(text), path.name
        assert "tk=" not in payloads and not JOIN_TOKEN.findall(text), path.name


def test_since_interpreter_generation_2_the_saga_runs_when_the_quick_way_cannot_decide() -> None:
    """Quick path off (the recorder's saga group): ``register_to_webinar`` says so and the
    enrollment starts the ``AddContactToWebinar`` child, whose REGISTERED goes to the action log
    with the close (the recorder checks the log)."""
    path = _generation_histories()[REGISTER_STEP]
    events = _events(path)
    assert [name for _, name in events if name.startswith("local:")] == ["local:register_to_webinar", "local:finish"]
    workflow_type, workflow_id = _child_started(path)
    assert (workflow_type, workflow_id.startswith("add-to-webinar:94000000001:")) == ("AddContactToWebinar", True)
    payloads = "\n".join(_decoded_payloads(json.loads(path.read_text()))).replace(" ", "")
    assert '"quick":{"preflight":null,"outcome":null,"saga":"thequickpathisoff' in payloads
    assert '{"code":"REGISTERED"' in payloads
    assert _ending(path) == ("COMPLETED", "completed")


def test_since_interpreter_generation_2_a_branch_on_outcomes_is_decided_by_the_workflow() -> None:
    """``every-step``: the branch on the contact's data (``route``) is still a local activity that
    reads the store; the branch on an earlier outcome (``after_notify``) is decided by the workflow,
    its COMPLETED note written by the next activity (``enroll_contact``)."""
    path = _generation_histories()["every-step"]
    events = _events(path)
    assert [name for _, name in events if name == "local:evaluate_branch"] == ["local:evaluate_branch"]
    assert [name for kind, name in events if kind == "ACTIVITY_TASK_SCHEDULED"] == ["call_webhook", "enroll_contact"]
    scheduled = [
        event["activityTaskScheduledEventAttributes"]
        for event in json.loads(path.read_text())["events"]
        if "activityTaskScheduledEventAttributes" in event
    ]
    [enroll] = [attributes for attributes in scheduled if attributes["activityType"]["name"] == "enroll_contact"]
    [context, _] = [json.loads(base64.b64decode(payload["data"])) for payload in enroll["input"]["payloads"]]
    [note] = context["pending"]
    assert (note["step_id"], note["outcome"], note["data"]) == (
        "after_notify",
        "COMPLETED",
        {"case": 0, "next": "follow"},
    )
    assert _ending(path) == ("COMPLETED", "completed")


# --- the registration plans the delay after it (#16.1, ``interpreter-generation-3``) ---

GENERATION_3 = "interpreter-generation-3"


def _generation_3_histories() -> dict[str, Path]:
    return {
        path.stem.removesuffix(f"@{GENERATION_3}"): path
        for path in ENROLLMENT
        if path.stem.endswith(f"@{GENERATION_3}")
    }


def test_since_interpreter_generation_3_a_run_still_records_one_patch_marker() -> None:
    """Generation 3 (generation 2 and ``registration-look-ahead``) is asked once too; generation 2's
    histories replay through generation 2 (``test_recorded_history_replays``)."""
    tagged = _generation_3_histories()
    assert set(tagged) >= {
        "every-step",
        "on-error-fail",
        "render-error",
        "enrollment-quick-look-ahead",
        *QUICK_SCENARIOS,
    }
    for path in tagged.values():
        assert [name for _, name in _events(path) if name == "core_patch"] == ["core_patch"], path.name
        payloads = "\n".join(_decoded_payloads(json.loads(path.read_text())))
        assert GENERATION_3 in payloads and "registration-look-ahead" not in payloads, path.name


def test_since_interpreter_generation_3_the_registration_plans_the_delay_after_it() -> None:
    """register → branch on REGISTERED → a 1 s delay: ``register_to_webinar`` also writes the
    registration's and the branch's outcomes and plans the delay (the recorder checks the action
    log: register, check, wait, done). The first workflow task is the patch, the one local
    activity and the timer — no ``plan_delay`` — and the answer carries the plan."""
    path = _generation_3_histories()["enrollment-quick-look-ahead"]
    events = _events(path)
    assert [name for _, name in events if name.startswith("local:")] == ["local:register_to_webinar", "local:finish"]
    first_task = [kind for kind, _ in events[: events.index(("TIMER_STARTED", "")) + 1]]
    assert first_task.count("WORKFLOW_TASK_COMPLETED") == 1 and "TIMER_STARTED" in first_task
    assert not [kind for kind, _ in events if kind.startswith(("START_CHILD", "ACTIVITY_TASK"))]
    payloads = "\n".join(_decoded_payloads(json.loads(path.read_text()))).replace(" ", "")
    assert '"planned":{"step_id":"wait"' in payloads
    assert _ending(path) == ("COMPLETED", "completed")
    assert len(events) <= 16
