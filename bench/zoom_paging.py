"""Benchmark: list 10,000 registrants and 12,000 report rows through ZoomClient + the emulator.

Run: ``.venv/bin/python bench/zoom_paging.py``. Prints rows/s for the client and for a bare httpx
loop over the same pages in the same run (limits off on both sides), and their ratio.
Targets: ≤ 2 s for the 22,000 rows; client ≤ 1.3 × bare httpx.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from engine.zoom import RegistrantStatus, ZoomClient, collect
from engine.zoom.settings import ZoomConnectionConfig
from engine.zoom.uuids import encode_path_id
from zoom_emulator import EmulatorAdmin, EmulatorServer, RateLimitMode, SeedDocument
from zoom_emulator.core.seeds import generated_webinar_seed

ACCOUNT = "bench-account"
WEBINAR = 93000000001
INSTANCE = "/bench//Instance+Uuid=="
START = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)
REGISTRANTS = 10_000
REPORT_ROWS = 12_000  # 10,000 attendees, every 5th rejoins once: 12,000 join sessions
ROUNDS = 3


def seed() -> SeedDocument:
    return generated_webinar_seed(
        clock=START + timedelta(days=1),
        account_id=ACCOUNT,
        host_email="bench@rollcall.example",
        webinars=[(WEBINAR, INSTANCE, REGISTRANTS, REGISTRANTS, 5, None)],
    )


async def with_client(client: ZoomClient) -> int:
    registrants = await collect(client.registrant_pages(WEBINAR, RegistrantStatus.APPROVED))
    rows = await collect(client.participant_report_pages(INSTANCE))
    return len(registrants) + len(rows)


async def bare_httpx(server: EmulatorServer, http: httpx.AsyncClient, token: str) -> int:
    """The same requests a careful hand-written loop would make, JSON-decoded but not typed."""
    headers = {"Authorization": f"Bearer {token}"}
    total = 0
    for path, params, key in (
        (f"/webinars/{WEBINAR}/registrants", {"status": "approved"}, "registrants"),
        (
            f"/report/webinars/{encode_path_id(INSTANCE)}/participants",
            {"include_fields": "registrant_id"},
            "participants",
        ),
    ):
        page_token = ""
        while True:
            query: dict[str, Any] = {**params, "page_size": 300}
            if page_token:
                query["next_page_token"] = page_token
            body = (await http.get(server.api_base_url + path, params=query, headers=headers)).json()
            total += len(body[key])
            page_token = body["next_page_token"]
            if not page_token:
                break
    return total


async def main() -> None:
    with EmulatorServer() as server:
        async with EmulatorAdmin(server.base_url) as admin, httpx.AsyncClient(timeout=30) as http:
            await admin.set_rate_limit_mode(RateLimitMode.OFF)
            await admin.seed(seed())
            token = (
                await http.post(
                    f"{server.base_url}/oauth/token",
                    data={"grant_type": "account_credentials", "account_id": ACCOUNT},
                    auth=("bench", "bench"),
                )
            ).json()["access_token"]
            config = ZoomConnectionConfig.model_validate({"name": ACCOUNT, **server.connection_fields(ACCOUNT)})
            async with ZoomClient(config, rate_limit=False) as client:
                await with_client(client)  # warm-up: token, connections, caches
                await bare_httpx(server, http, token)
                client_times, bare_times = [], []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    rows = await with_client(client)
                    client_times.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    bare_rows = await bare_httpx(server, http, token)
                    bare_times.append(time.perf_counter() - started)
    assert rows == bare_rows == REGISTRANTS + REPORT_ROWS, (rows, bare_rows)
    best_client, best_bare = min(client_times), min(bare_times)
    print(f"rows per run:     {rows:,} ({REGISTRANTS:,} registrants + {REPORT_ROWS:,} report rows, 300 per page)")
    print(f"ZoomClient:       {best_client:.3f} s  ({rows / best_client:,.0f} rows/s)  best of {ROUNDS}")
    print(f"bare httpx:       {best_bare:.3f} s  ({rows / best_bare:,.0f} rows/s)  best of {ROUNDS}")
    print(f"client / bare:    {best_client / best_bare:.2f}x  (target ≤ 1.30x; ≤ 2 s for all rows)")
    targets = {"client_to_bare_max": 1.30, "client_seconds_max": 2.0}
    line = {
        "bench": "zoom_paging",
        "cores": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
        "rows": rows,
        "client_seconds": round(best_client, 3),
        "bare_seconds": round(best_bare, 3),
        "client_to_bare": round(best_client / best_bare, 3),
        "targets": targets,
        "holds": {
            "client_to_bare": best_client / best_bare <= targets["client_to_bare_max"],
            "client_seconds": best_client <= targets["client_seconds_max"],
        },
    }
    print("BENCH " + json.dumps(line, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
