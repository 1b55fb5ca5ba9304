"""The "Add Contact to Zoom Webinar" activities take their Zoom clients from the worker's pool,
so they share each Zoom account's rate limiter with the webinar sync; configuration problems
stay typed, non-retryable failures."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from temporalio.exceptions import ApplicationError

from activities.zoom_registration import ZoomRegistrationActivities
from engine.zoom.pool import ZoomClientPool
from engine.zoom.settings import ZoomConnectionConfig, ZoomSettings


def connection(name: str, account_id: str) -> ZoomConnectionConfig:
    return ZoomConnectionConfig.model_validate(
        {
            "name": name,
            "account_id": account_id,
            "client_id": f"{name}-client",
            "client_secret": f"{name}-secret",
            "api_base_url": "http://127.0.0.1:9/v2",
            "oauth_base_url": "http://127.0.0.1:9",
        }
    )


def test_the_action_and_the_pool_share_clients_and_one_limiter_per_account() -> None:
    engine = sa.create_engine("sqlite://")
    pool = ZoomClientPool(
        ZoomSettings(rate_limit_enabled=True),
        connections={"a": connection("a", "acct-1"), "b": connection("b", "acct-1"), "c": connection("c", "acct-2")},
    )
    action = ZoomRegistrationActivities(engine, pool=pool)
    assert action._client("a") is pool.client("a")
    # Two connections to one Zoom account draw on one limiter, whoever calls.
    assert pool.client("a")._limiter is pool.client("b")._limiter is not pool.client("c")._limiter


@pytest.mark.parametrize(
    ("connections", "name", "kind"),
    [({}, "a", "ZOOM_NOT_CONFIGURED"), ({"a": connection("a", "acct-1")}, "zz", "ZOOM_CONNECTION_UNKNOWN")],
)
def test_configuration_problems_are_typed_and_not_retried(
    connections: dict[str, ZoomConnectionConfig], name: str, kind: str
) -> None:
    action = ZoomRegistrationActivities(sa.create_engine("sqlite://"), ZoomSettings(), connections=connections)
    with pytest.raises(ApplicationError) as raised:
        action._client(name)
    assert (raised.value.type, raised.value.non_retryable) == (kind, True)
