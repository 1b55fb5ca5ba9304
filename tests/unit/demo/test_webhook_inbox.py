"""The demo's webhook inbox (engine/demo/inbox.py): records what webhook steps send, masks
credentials, answers queued statuses, lists by path prefix; a bad status request is a 422."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from engine.demo.inbox import DEMO_SECRETS, Inbox, create_inbox_app


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, httpx.AsyncClient]]:
    recorder = Inbox(capacity=3)
    transport = httpx.ASGITransport(create_inbox_app(recorder))
    async with httpx.AsyncClient(transport=transport, base_url="http://inbox.test") as client:
        yield recorder, client


async def test_requests_are_recorded_with_credentials_masked(inbox: tuple[Inbox, httpx.AsyncClient]) -> None:
    _, client = inbox
    sent = await client.post(
        "/hooks/crm/vip-alert?x=1",
        json={"contact": {"email": "vera@customers.example"}},
        headers={"Authorization": "Bearer s3cret", "X-Api-Key": "k3y", "X-Rollcall-Enrollment": "7"},
    )
    assert sent.status_code == 200 and sent.json() == {"received": 1}
    await client.put("/hooks/email/send", content=b"plain text")

    listing = (await client.get("/_inbox")).json()
    assert listing["count"] == 2
    first, second = listing["requests"]
    assert (first["method"], first["path"], first["query"]) == ("POST", "/hooks/crm/vip-alert", "x=1")
    assert first["body"] == {"contact": {"email": "vera@customers.example"}}
    assert (first["headers"]["authorization"], first["headers"]["x-api-key"]) == ("Bearer …", "…")
    assert first["headers"]["x-rollcall-enrollment"] == "7"
    assert (second["method"], second["body"]) == ("PUT", "plain text")
    assert [r["path"] for r in (await client.get("/_inbox", params={"path": "/hooks/email"})).json()["requests"]] == [
        "/hooks/email/send"
    ]


async def test_queued_statuses_answer_the_next_requests_then_200(inbox: tuple[Inbox, httpx.AsyncClient]) -> None:
    _, client = inbox
    queued = await client.post("/_inbox/statuses", json={"path": "/hooks/ops-alerts", "statuses": [503, 429]})
    assert queued.json() == {"path": "/hooks/ops-alerts", "queued": [503, 429]}
    answers = [(await client.post("/hooks/ops-alerts", json={})).status_code for _ in range(3)]
    assert answers == [503, 429, 200]
    assert (await client.post("/hooks/other", json={})).status_code == 200


@pytest.mark.parametrize(
    "body", [{"path": "/hooks/x", "statuses": [42]}, {"statuses": [500]}, {"path": "/hooks/x", "statuses": "no"}]
)
async def test_a_bad_status_request_is_a_422(inbox: tuple[Inbox, httpx.AsyncClient], body: object) -> None:
    _, client = inbox
    answer = await client.post("/_inbox/statuses", json=body)
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "INVALID_REQUEST"


async def test_only_the_last_requests_are_kept(inbox: tuple[Inbox, httpx.AsyncClient]) -> None:
    _, client = inbox
    for number in range(5):
        await client.post(f"/hooks/n/{number}", json={})
    assert [r["path"] for r in (await client.get("/_inbox")).json()["requests"]] == [
        "/hooks/n/2",
        "/hooks/n/3",
        "/hooks/n/4",
    ]


def test_the_demo_stands_in_for_every_secret_the_examples_use() -> None:
    import re
    from pathlib import Path

    used = set()
    for path in (Path(__file__).resolve().parents[3] / "definitions").glob("*.yaml"):
        used |= set(re.findall(r"secrets\.([A-Z_]+)", path.read_text()))
    assert used and used <= set(DEMO_SECRETS), used - set(DEMO_SECRETS)
