"""Zoom rate limits shared by every process (#16.2): the budgets in the CRM store (both backends),
the limiter built on them, and processes that call the emulator through it.

The emulator's clock runs here (the seeded world freezes it, and with it Zoom's per-second windows).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from integration.zoom.zoom_world import FREE, MAIN, NOW, W_FREE, W_OPEN
from sqlalchemy import Engine
from sqlmodel import Session
from support.zoom import emulator_connection

from engine.crm.db import create_db_engine
from engine.crm.tables import ZoomRateBudget
from engine.crm.zoom_rate_budgets import StoreRateBudgets
from engine.zoom import RateLabel, ZoomRateLimited
from engine.zoom.pool import ZoomClientPool
from engine.zoom.ratelimit import SAFETY_FACTOR, RateBudgetsUnavailable, RateLimiterRegistry, SharedRateLimiter
from engine.zoom.settings import ZoomPlan, ZoomSettings
from zoom_emulator import EmulatorAdmin, EmulatorServer, FaultKind, FaultRule

REPO_ROOT = Path(__file__).resolve().parents[3]
CALLER = REPO_ROOT / "tests" / "support" / "paced_zoom_calls.py"
#: The Free plan's Light budget: 4 calls a second per account.
FREE_LIGHT = 4


# --- the store ------------------------------------------------------------------------------------


def test_concurrent_reservations_each_get_a_slot_of_their_own(db_engine: Engine) -> None:
    """Four threads (each its own connection) reserve 100 slots 10 s apart at once: every slot
    0…99 is given exactly once, whatever the interleaving; a backoff moves the next slot past it."""
    budgets = StoreRateBudgets(db_engine)
    interval = 10.0
    started = time.time()
    slots: list[int] = []
    lock = threading.Lock()

    def reserve_many() -> None:
        for _ in range(25):
            reservation = budgets.reserve("acct", "Light", interval, 1)
            slot = round((reservation.wait + time.time() - started) / interval)
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=reserve_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(slots) == list(range(100))

    # Five slots at once: the next reservation comes five intervals later.
    batch = budgets.reserve("acct", "Light", interval, 5)
    after = budgets.reserve("acct", "Light", interval, 1)
    assert after.wait - batch.wait == pytest.approx(5 * interval, abs=0.5)
    # Another account and another category have budgets of their own.
    assert budgets.reserve("other", "Light", interval, 1).wait == pytest.approx(0, abs=0.5)
    assert budgets.reserve("acct", "Medium", interval, 1).wait == pytest.approx(0, abs=0.5)

    budgets.back_off("acct", "Medium", 30.0)
    budgets.back_off("acct", "Medium", 5.0)  # a shorter one never shortens the backoff
    pushed = budgets.reserve("acct", "Medium", interval, 1)
    assert pushed.wait == pytest.approx(30.0, abs=0.5)
    assert pushed.backoff == pytest.approx(30.0, abs=0.5)
    with Session(db_engine) as session:
        row = session.get(ZoomRateBudget, ("acct", "Medium"))
        assert row is not None and row.backoffs == 2


async def test_a_store_without_the_table_falls_back_to_pacing_alone(tmp_path: Path) -> None:
    """The store cannot answer (here: never migrated): the limiter says so and paces this process
    alone, as Rollcall did before budgets were shared."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    budgets = StoreRateBudgets(engine)
    with pytest.raises(RateBudgetsUnavailable):
        budgets.reserve("acct", "Light", 1.0, 1)
    registry = RateLimiterRegistry(budgets)
    limiter = registry.for_account("acct", ZoomPlan.FREE)
    assert isinstance(limiter, SharedRateLimiter)
    started = time.monotonic()
    for _ in range(3):
        await limiter.acquire(RateLabel.LIGHT)
    # A burst of one, then one call every 1 / (4 × SAFETY_FACTOR) s.
    assert time.monotonic() - started >= 2 / (FREE_LIGHT * SAFETY_FACTOR) - 0.05
    registry.close()
    engine.dispose()


# --- the limiter against the emulator -------------------------------------------------------------


async def test_a_per_second_429_holds_back_every_process(
    emulator_server: EmulatorServer, admin: EmulatorAdmin, db_engine: Engine
) -> None:
    """Two pools share nothing but the store (two workers): the 429 one of them gets stops the
    other's calls of that category for Zoom's Retry-After (1 s), not its calls of another one."""
    await admin.set_clock(NOW, frozen=False)
    connection = emulator_connection(emulator_server, MAIN, name="main")
    pools = [ZoomClientPool(ZoomSettings(), connections={"main": connection}, budgets=StoreRateBudgets(db_engine))]
    pools.append(ZoomClientPool(ZoomSettings(), connections={"main": connection}, budgets=StoreRateBudgets(db_engine)))
    first, second = (pool.client("main") for pool in pools)
    await second.get_webinar(W_OPEN)  # its OAuth token, before the clock starts
    await admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.RATE_LIMIT, times=1))
    with pytest.raises(ZoomRateLimited):
        await first.get_webinar(W_OPEN)
    started = time.monotonic()
    await second.list_registrants(W_OPEN)  # Medium: not held back
    assert time.monotonic() - started < 0.9
    await second.get_webinar(W_OPEN)  # Light: after the backoff
    assert time.monotonic() - started >= 0.9
    with Session(db_engine) as session:
        row = session.get(ZoomRateBudget, (connection.account_id, "Light"))
        assert row is not None and row.backoffs == 1
    for pool in pools:
        await pool.aclose()


async def test_the_category_zoom_names_is_the_one_held_back(
    emulator_server: EmulatorServer, admin: EmulatorAdmin, db_engine: Engine
) -> None:
    """The emulator's own per-second 429 names its category (Heavy: 1 a second on the Free plan):
    that category waits out the backoff, Light calls go on."""
    await admin.set_clock(NOW, frozen=False)
    # Configured as Business, Rollcall lets Heavy calls through faster than the Free account takes.
    connection = emulator_connection(emulator_server, FREE, name="free", plan=ZoomPlan.BUSINESS)
    pool = ZoomClientPool(ZoomSettings(), connections={"free": connection}, budgets=StoreRateBudgets(db_engine))
    client = pool.client("free")
    await client.get_webinar(W_FREE)
    with pytest.raises(ZoomRateLimited) as caught:
        for _ in range(3):  # within a second: two of them share one of Zoom's windows
            await client.list_participant_report(W_FREE)
    limited = time.monotonic()
    assert caught.value.category == "Heavy"
    await client.get_webinar(W_FREE)
    assert time.monotonic() - limited < 0.5
    await client.list_participant_report(W_FREE)
    assert time.monotonic() - limited >= 0.9
    with Session(db_engine) as session:
        row = session.get(ZoomRateBudget, (FREE, "Heavy"))
        assert row is not None and row.backoffs == 1
    await pool.aclose()


def _run_callers(database_url: str, connection: str, *, calls: int, shared: bool) -> tuple[list[dict[str, Any]], float]:
    """Three ``paced_zoom_calls.py`` processes let go together once all are ready; their reports
    and the longest time one of them took."""
    env = {
        **os.environ,
        "ROLLCALL_ZOOM_CONNECTIONS": connection,
        "ROLLCALL_ZOOM_RATE_LIMIT_SHARED": str(shared).lower(),
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-P", str(CALLER), database_url, str(W_FREE), str(calls)],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready", process.stderr and process.stderr.read()
        reports = []
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            out, err = process.communicate(timeout=90)
            assert process.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return reports, max(report["elapsed"] for report in reports)


def _connection_json(server: EmulatorServer) -> str:
    connection = emulator_connection(server, FREE, name="free").model_dump(mode="json")
    connection["client_secret"] = server.emulator.state.accounts[FREE].client_secret
    return json.dumps([connection])


def _free_light(stats: dict[str, Any]) -> dict[str, int]:
    limits: dict[str, int] = stats["rate_limits"].get(FREE, {}).get("Light", {})
    return limits


@pytest.mark.heavy
@pytest.mark.timeout(180)
async def test_three_processes_send_one_accounts_budget_and_get_no_429(
    emulator_server: EmulatorServer, admin: EmulatorAdmin, database_url: str, db_engine: Engine
) -> None:
    """Three processes ask for 12 Light calls each at once on a Free account (4 a second): through
    the store they take turns — not one 429, never more than 4 calls in a second, and the 36 calls
    take as long as one process would need for them."""
    await admin.set_clock(NOW, frozen=False)
    reports, elapsed = await asyncio.to_thread(
        _run_callers, database_url, _connection_json(emulator_server), calls=12, shared=True
    )
    light = _free_light(await admin.stats())
    assert [report["rate_limited"] for report in reports] == [0, 0, 0]
    assert light.get("QPS", 0) == 0
    assert light["peak_per_second"] <= FREE_LIGHT
    assert elapsed >= (36 - 1) / (FREE_LIGHT * SAFETY_FACTOR) - 1.0


@pytest.mark.heavy
@pytest.mark.timeout(180)
async def test_processes_pacing_alone_overrun_the_account(
    emulator_server: EmulatorServer, admin: EmulatorAdmin, tmp_path: Path
) -> None:
    """The control: the same three processes, each pacing alone (``ROLLCALL_ZOOM_RATE_LIMIT_SHARED
    =false``), send three times the budget and get 429s."""
    await admin.set_clock(NOW, frozen=False)
    reports, _ = await asyncio.to_thread(
        _run_callers, f"sqlite:///{tmp_path / 'unused.db'}", _connection_json(emulator_server), calls=12, shared=False
    )
    light = _free_light(await admin.stats())
    assert sum(report["rate_limited"] for report in reports) == light["QPS"] > 0
