"""Fault injection over real HTTP: the client turns each fault into the right typed error."""

from __future__ import annotations

import httpx
import pytest
from integration.zoom.zoom_world import MAIN, W_OPEN
from support.zoom import emulator_connection

from engine.zoom import ZoomClient, ZoomServerError, ZoomTimeout, ZoomTransportError
from zoom_emulator import EmulatorAdmin, EmulatorServer, FaultKind, FaultRule


async def test_scheduled_5xx_fails_the_next_calls_then_stops(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    await admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.ERROR, status=503, times=2))
    for _ in range(2):
        with pytest.raises(ZoomServerError) as caught:
            await zoom.get_webinar(W_OPEN)
        assert (caught.value.http_status, caught.value.retryable) == (503, True)
    assert (await zoom.get_webinar(W_OPEN)).id == str(W_OPEN)


async def test_fault_on_one_operation_leaves_others_alone(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    await admin.add_fault(FaultRule(operation="add_registrant", kind=FaultKind.ERROR, times=1))
    assert (await zoom.get_webinar(W_OPEN)).id == str(W_OPEN)
    assert (await admin.stats())["faults_fired"] == []


async def test_dropped_connection_is_a_retryable_transport_error(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    await admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.DROP, times=1))
    with pytest.raises(ZoomTransportError) as caught:
        await zoom.get_webinar(W_OPEN)
    assert caught.value.retryable
    assert (await zoom.get_webinar(W_OPEN)).id == str(W_OPEN)


async def test_latency_beyond_the_timeout_is_a_retryable_timeout(
    emulator_server: EmulatorServer, admin: EmulatorAdmin
) -> None:
    await admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.LATENCY, latency_ms=500, times=1))
    async with ZoomClient(emulator_connection(emulator_server, MAIN), timeout_seconds=0.2) as client:
        await client.get_user("u-host")  # the token fetch is not delayed
        with pytest.raises(ZoomTimeout) as caught:
            await client.get_webinar(W_OPEN)
    assert caught.value.retryable


async def test_probabilistic_faults_are_reproducible_with_a_seed(
    emulator_server: EmulatorServer, admin: EmulatorAdmin
) -> None:
    async def outcomes() -> list[int]:
        await admin.clear_faults(seed=42)
        await admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.ERROR, probability=0.5))
        async with httpx.AsyncClient() as http:
            token = (
                await http.post(
                    f"{emulator_server.base_url}/oauth/token",
                    data={"grant_type": "account_credentials", "account_id": MAIN},
                    auth=("main-client", "main-secret"),
                )
            ).json()["access_token"]
            return [
                (
                    await http.get(
                        f"{emulator_server.api_base_url}/webinars/{W_OPEN}",
                        headers={"Authorization": f"Bearer {token}"},
                    )
                ).status_code
                for _ in range(12)
            ]

    first, second = await outcomes(), await outcomes()
    assert first == second
    assert {200, 503} == set(first)
