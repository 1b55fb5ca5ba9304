"""A process that calls Zoom as fast as Rollcall's limiter lets it: ``tests/integration/zoom/
test_shared_rate_limits.py`` starts three of them against the emulator and lets them go together.

``python -P tests/support/paced_zoom_calls.py <database-url> <webinar-id> <calls>``, with the
connection in ``ROLLCALL_ZOOM_CONNECTIONS`` and ``ROLLCALL_ZOOM_RATE_LIMIT_SHARED`` as the test
wants. Once its client holds a token it prints ``ready`` and waits for a line on stdin; then it
sends ``calls`` ``get_webinar`` calls at once (each waits for its turn) and prints one JSON line:
how many succeeded, how many were 429s, and the seconds from the go to the last call's end.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from engine.crm.db import create_db_engine
from engine.crm.zoom_rate_budgets import StoreRateBudgets
from engine.zoom import ZoomRateLimited
from engine.zoom.pool import ZoomClientPool


async def main(database_url: str, webinar_id: str, calls: int) -> dict[str, object]:
    engine = create_db_engine(database_url)
    pool = ZoomClientPool(budgets=StoreRateBudgets(engine))
    (name,) = pool.connections()
    client = pool.client(name)
    await client.get_webinar(webinar_id)  # the OAuth token, before the go
    limited = 0

    async def call() -> None:
        nonlocal limited
        try:
            await client.get_webinar(webinar_id)
        except ZoomRateLimited:
            limited += 1

    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    started = time.monotonic()
    await asyncio.gather(*(call() for _ in range(calls)))
    elapsed = time.monotonic() - started
    await pool.aclose()
    engine.dispose()
    return {"ok": calls - limited, "rate_limited": limited, "elapsed": elapsed}


if __name__ == "__main__":
    database_url, webinar_id, calls = sys.argv[1:4]
    print(json.dumps(asyncio.run(main(database_url, webinar_id, int(calls)))), flush=True)
