"""The demo's copy of webinar-invite (#15.5, README walk-through) is webinar-invite but for its key,
name, description and the delay after the webinar: a change to one must be made to the other."""

from __future__ import annotations

from pathlib import Path

from engine.dsl.validation import validate_path

DEFINITIONS = Path(__file__).resolve().parents[3] / "definitions"


def test_the_demo_copy_differs_from_webinar_invite_only_in_its_timing() -> None:
    (shipped,) = validate_path(DEFINITIONS / "webinar-invite.yaml")
    (demo,) = validate_path(DEFINITIONS / "webinar-invite-demo.yaml")
    assert shipped.definition is not None and demo.definition is not None
    assert not shipped.errors and not demo.errors
    original = shipped.definition.model_dump(mode="json", by_alias=True)
    copy = demo.definition.model_dump(mode="json", by_alias=True)
    delays = {step["id"]: step for step in copy["steps"] if step["type"] == "delay"}
    assert (copy["key"], delays["wait_for_webinar_end"]["offset"]) == ("webinar-invite-demo", "1m")
    assert original["steps"][3]["offset"] == "1h"
    for document in (original, copy):
        for name in ("key", "name", "description"):
            document.pop(name)
        for step in document["steps"]:
            step.pop("offset", None)
    assert copy == original
