"""ZoomClient against the loopback emulator over real HTTP: each fact of docs/zoom.md."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from integration.zoom.zoom_world import (
    ALT_HOST_EMAIL,
    FREE,
    HOST_EMAIL,
    MAIN,
    NOW,
    OPEN_COUNTS,
    UUID_DOUBLE_SLASH,
    UUID_LEADING_SLASH,
    UUID_PLUS,
    W_FREE,
    W_MANUAL,
    W_NO_REGISTRATION,
    W_OPEN,
    W_PAST,
    W_QUESTIONS,
    W_ZOOM_EVENT,
    raw_token,
)
from support.zoom import emulator_connection

from engine.zoom import (
    NewRegistrant,
    RateLimitType,
    RegistrantAction,
    RegistrantRef,
    RegistrantStatus,
    ZoomAuthError,
    ZoomClient,
    ZoomHostCannotRegister,
    ZoomNoRecording,
    ZoomNotFound,
    ZoomPageTokenExpired,
    ZoomRateLimited,
    ZoomRegistrationDisabled,
    ZoomValidationError,
    ZoomWebinarOver,
)
from engine.zoom.errors import FieldError
from zoom_emulator import EmulatorAdmin, EmulatorServer, FaultKind, FaultRule, RateLimitMode

# --- OAuth -----------------------------------------------------------------------------------


async def test_token_is_fetched_once_and_reused(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    await zoom.get_user("u-host")
    await zoom.get_webinar(W_OPEN)
    assert (await admin.stats())["tokens_issued"] == {MAIN: 1}


async def test_expired_token_is_refreshed_once_and_the_call_retried(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    """docs/zoom.md, "Authentication": 401 code 124 "Access token is expired." → fetch a new token once and retry."""
    await zoom.get_user("u-host")
    await admin.advance_clock(3601)
    user = await zoom.get_user("u-host")
    assert user.email == HOST_EMAIL
    assert (await admin.stats())["tokens_issued"] == {MAIN: 2}


async def test_concurrent_callers_share_one_token_refresh(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    await zoom.get_user("u-host")
    await admin.advance_clock(3601)
    webinars = await asyncio.gather(*(zoom.get_webinar(W_OPEN) for _ in range(10)))
    assert {w.id for w in webinars} == {str(W_OPEN)}
    assert (await admin.stats())["tokens_issued"] == {MAIN: 2}


async def test_bad_client_credentials_raise_auth_error(emulator_server: EmulatorServer, admin: EmulatorAdmin) -> None:
    connection = emulator_connection(emulator_server, MAIN).model_copy(update={"client_id": "wrong"})
    async with ZoomClient(connection) as client:
        with pytest.raises(ZoomAuthError) as caught:
            await client.get_user("u-host")
    assert caught.value.http_status == 401
    assert "wrong" not in str(caught.value) and "main-secret" not in str(caught.value)


async def test_token_request_sends_the_grant_in_the_form_body(
    emulator_server: EmulatorServer, admin: EmulatorAdmin
) -> None:
    """Query-string grants are refused; bad credentials answer OAuth's {"reason","error"} shape."""
    async with httpx.AsyncClient(base_url=emulator_server.base_url) as http:
        in_query = await http.post(
            "/oauth/token",
            params={"grant_type": "account_credentials", "account_id": MAIN},
            auth=("main-client", "main-secret"),
        )
        wrong = await http.post(
            "/oauth/token", data={"grant_type": "account_credentials", "account_id": MAIN}, auth=("x", "y")
        )
    assert in_query.status_code == 400
    assert wrong.status_code == 401
    assert wrong.json() == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
    assert wrong.headers["x-zm-trackingid"]


async def test_unknown_bearer_token_is_401_code_124(emulator_server: EmulatorServer, admin: EmulatorAdmin) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{emulator_server.api_base_url}/users/me", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {"code": 124, "message": "Invalid access token."}


# --- webinars --------------------------------------------------------------------------------


async def test_webinar_settings_are_typed(zoom: ZoomClient) -> None:
    webinar = await zoom.get_webinar(W_OPEN)
    assert webinar.host_email == HOST_EMAIL
    assert webinar.settings.alternative_hosts == ["alt.one@rollcall.example", ALT_HOST_EMAIL]
    assert webinar.registration_enabled
    assert not webinar.is_zoom_event


async def test_zoom_event_webinar_is_marked_by_creation_source(zoom: ZoomClient) -> None:
    """R-SCOPE-2: the emulator's seed marker surfaces as creation_source "zoom_events"."""
    assert (await zoom.get_webinar(W_ZOOM_EVENT)).is_zoom_event


async def test_unknown_webinar_is_not_found_3001(zoom: ZoomClient) -> None:
    with pytest.raises(ZoomNotFound) as caught:
        await zoom.get_webinar(12345678901)
    assert caught.value.zoom_code == 3001
    assert caught.value.http_status == 404
    assert caught.value.tracking_id
    assert not caught.value.retryable


async def test_another_accounts_webinar_is_not_found(zoom: ZoomClient) -> None:
    with pytest.raises(ZoomNotFound):
        await zoom.get_webinar(W_FREE)


async def test_unknown_user_is_not_found_1001(zoom: ZoomClient) -> None:
    with pytest.raises(ZoomNotFound) as caught:
        await zoom.get_user("nobody@rollcall.example")
    assert caught.value.zoom_code == 1001


async def test_user_webinars_list_unexpired_ones(zoom: ZoomClient) -> None:
    ids = {w.id for w in await zoom.list_user_webinars("u-host")}
    assert ids == {str(w) for w in (W_OPEN, W_MANUAL, W_QUESTIONS, W_NO_REGISTRATION, W_ZOOM_EVENT, W_PAST)}


async def test_list_users_returns_every_user(zoom: ZoomClient) -> None:
    assert [u.email for u in await zoom.list_users()] == [HOST_EMAIL, ALT_HOST_EMAIL]


async def test_registration_questions_list_extra_required_fields(zoom: ZoomClient) -> None:
    """R-ADD-5: city and the custom question are required beyond first name and email."""
    questions = await zoom.get_registration_questions(W_QUESTIONS)
    assert questions.extra_required_fields() == ["city", "Company size"]


# --- registration ----------------------------------------------------------------------------


async def test_add_result_id_is_the_webinar_and_registrant_id_is_separate(
    zoom: ZoomClient, admin: EmulatorAdmin
) -> None:
    """The registrant-id trap: the 201 body's ``id`` is the WEBINAR id."""
    created = await zoom.add_registrant(W_OPEN, NewRegistrant(email="new@customers.example", first_name="New"))
    stored = [r for r in await admin.registrants(W_OPEN) if r["email"] == "new@customers.example"]
    assert created.webinar_id == str(W_OPEN)
    assert created.registrant_id == stored[0]["id"] != created.webinar_id
    assert created.join_url == stored[0]["join_url"]


async def test_same_email_returns_the_same_registrant(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    first = await zoom.add_registrant(W_OPEN, NewRegistrant(email="twice@customers.example", first_name="T"))
    again = await zoom.add_registrant(W_OPEN, NewRegistrant(email="Twice@customers.example", first_name="T"))
    assert (again.registrant_id, again.join_url) == (first.registrant_id, first.join_url)
    assert len(await admin.registrants(W_OPEN)) == sum(OPEN_COUNTS.values()) + 1


async def test_fourth_add_of_one_email_in_a_day_is_429(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    registrant = NewRegistrant(email="eager@customers.example", first_name="E")
    for _ in range(3):
        await zoom.add_registrant(W_OPEN, registrant)
    with pytest.raises(ZoomRateLimited) as caught:
        await zoom.add_registrant(W_OPEN, registrant)
    assert caught.value.message == (
        "You have exceeded the daily rate limit of (3) for Add a webinar registrant API requests for the "
        "registrant (eager@customers.example). You can resume these API requests at GMT 00:00:00."
    )
    assert caught.value.limit_type is RateLimitType.DAILY
    assert caught.value.retry_after == (datetime(2025, 6, 3, tzinfo=UTC) - NOW).total_seconds()
    assert (await admin.stats())["add_calls"] == {str(W_OPEN): 3}


async def test_add_limit_resets_on_the_next_utc_day(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    registrant = NewRegistrant(email="eager@customers.example", first_name="E")
    for _ in range(3):
        await zoom.add_registrant(W_OPEN, registrant)
    await admin.advance_clock(24 * 3600)  # the client also refreshes its expired token here
    assert (await zoom.add_registrant(W_OPEN, registrant)).webinar_id == str(W_OPEN)


@pytest.mark.parametrize("email", [HOST_EMAIL, ALT_HOST_EMAIL.upper()])
async def test_host_and_alternative_host_cannot_register_3027(zoom: ZoomClient, email: str) -> None:
    """R-ADD-4: HTTP 400 code 3027 "Host cannot register."."""
    with pytest.raises(ZoomHostCannotRegister) as caught:
        await zoom.add_registrant(W_OPEN, NewRegistrant(email=email, first_name="H"))
    assert (caught.value.http_status, caught.value.zoom_code, caught.value.message) == (
        400,
        3027,
        "Host cannot register.",
    )


async def test_registration_off_is_3000(zoom: ZoomClient) -> None:
    """R-ADD-6: approval_type 2 means no registration."""
    with pytest.raises(ZoomRegistrationDisabled) as caught:
        await zoom.add_registrant(W_NO_REGISTRATION, NewRegistrant(email="x@customers.example", first_name="X"))
    assert caught.value.zoom_code == 3000
    assert caught.value.message == f"This webinar does not have registration as required: {W_NO_REGISTRATION}."


async def test_ended_webinar_is_3038(zoom: ZoomClient) -> None:
    with pytest.raises(ZoomWebinarOver) as caught:
        await zoom.add_registrant(W_PAST, NewRegistrant(email="late@customers.example", first_name="L"))
    assert (caught.value.http_status, caught.value.zoom_code) == (400, 3038)


async def test_missing_required_answers_are_validation_300_with_fields(zoom: ZoomClient) -> None:
    with pytest.raises(ZoomValidationError) as caught:
        await zoom.add_registrant(W_QUESTIONS, NewRegistrant(email="form@customers.example", first_name="F"))
    assert caught.value.zoom_code == 300
    assert caught.value.message == "Validation Failed."
    assert caught.value.field_errors == (
        FieldError("city", "city is required."),
        FieldError("custom_questions", "Company size is required."),
    )


async def test_manual_approval_registrant_is_listed_only_under_pending(zoom: ZoomClient) -> None:
    created = await zoom.add_registrant(W_MANUAL, NewRegistrant(email="wait@customers.example", first_name="W"))
    assert await zoom.list_registrants(W_MANUAL) == []
    pending = await zoom.list_registrants(W_MANUAL, RegistrantStatus.PENDING)
    assert [(r.id, r.status) for r in pending] == [(created.registrant_id, RegistrantStatus.PENDING)]


async def test_listing_without_status_returns_approved_only(
    emulator_server: EmulatorServer, admin: EmulatorAdmin
) -> None:
    async with httpx.AsyncClient() as http:
        token = await raw_token(emulator_server, http)
        body = (
            await http.get(
                f"{emulator_server.api_base_url}/webinars/{W_OPEN}/registrants",
                params={"page_size": 300},
                headers={"Authorization": f"Bearer {token}"},
            )
        ).json()
    assert body["total_records"] == OPEN_COUNTS["approved"]
    assert {r["status"] for r in body["registrants"]} == {"approved"}


async def test_every_status_pages_through_all_registrants(zoom: ZoomClient) -> None:
    """Paging follows next_page_token with page_size 300 and stops on the empty token."""
    for status, expected in OPEN_COUNTS.items():
        pages = [page async for page in zoom.registrant_pages(W_OPEN, RegistrantStatus(status))]
        registrants = [r for page in pages for r in page.items]
        assert len(registrants) == expected == len({r.id for r in registrants})
        assert [p.next_page_token == "" for p in pages][-1]
    assert [len(p.items) for p in [page async for page in zoom.registrant_pages(W_OPEN)]] == [300, 220]


async def test_paging_resumes_from_a_saved_token(zoom: ZoomClient) -> None:
    first = await anext(zoom.registrant_pages(W_OPEN))
    resumed = [p async for p in zoom.registrant_pages(W_OPEN, start_token=first.next_page_token)]
    assert [len(p.items) for p in resumed] == [220]
    assert {r.id for r in first.items}.isdisjoint({r.id for r in resumed[0].items})


async def test_page_token_expires_after_15_minutes(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    first = await anext(zoom.registrant_pages(W_OPEN))
    await admin.advance_clock(15 * 60 + 1)
    with pytest.raises(ZoomPageTokenExpired) as caught:
        await anext(zoom.registrant_pages(W_OPEN, start_token=first.next_page_token))
    assert (caught.value.http_status, caught.value.zoom_code, caught.value.message) == (
        400,
        300,
        "The next page token is invalid or expired.",
    )


async def test_page_token_is_still_valid_at_14_minutes(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    first = await anext(zoom.registrant_pages(W_OPEN))
    await admin.advance_clock(14 * 60)
    assert len((await anext(zoom.registrant_pages(W_OPEN, start_token=first.next_page_token))).items) == 220


async def test_cancelled_registrant_is_listed_under_denied(zoom: ZoomClient) -> None:
    created = await zoom.add_registrant(W_OPEN, NewRegistrant(email="bye@customers.example", first_name="B"))
    await zoom.update_registrant_status(W_OPEN, RegistrantAction.CANCEL, [RegistrantRef(id=created.registrant_id)])
    denied = {r.id for r in await zoom.list_registrants(W_OPEN, RegistrantStatus.DENIED)}
    approved = {r.id for r in await zoom.list_registrants(W_OPEN)}
    assert created.registrant_id in denied
    assert created.registrant_id not in approved
    assert len(denied) == OPEN_COUNTS["denied"] + 1


async def test_approving_pending_registrants_by_email_in_batches(zoom: ZoomClient) -> None:
    refs = [RegistrantRef(email=f"pending{n}@customers.example") for n in range(OPEN_COUNTS["pending"])]
    await zoom.update_registrant_status(W_OPEN, RegistrantAction.APPROVE, refs)  # 65 → three calls of ≤ 30
    assert await zoom.list_registrants(W_OPEN, RegistrantStatus.PENDING) == []
    assert len(await zoom.list_registrants(W_OPEN)) == OPEN_COUNTS["approved"] + OPEN_COUNTS["pending"]


# --- past instances, attendance, recordings --------------------------------------------------


async def test_past_instances_list_every_ended_instance(zoom: ZoomClient) -> None:
    instances = await zoom.list_past_instances(W_PAST)
    assert [i.uuid for i in instances] == [UUID_LEADING_SLASH, UUID_DOUBLE_SLASH, UUID_PLUS]


@pytest.mark.parametrize("uuid", [UUID_LEADING_SLASH, UUID_DOUBLE_SLASH, UUID_PLUS])
async def test_awkward_uuids_reach_their_instance(zoom: ZoomClient, uuid: str) -> None:
    """UUID path rule: double-encode a leading "/" or "//"; always encode "+", "/" and "="."""
    rows = await zoom.list_participant_report(uuid)
    past = [p async for p in zoom.past_participant_pages(uuid)]
    assert rows and len(rows) == len(past[0].items)


@pytest.mark.parametrize("uuid", [UUID_LEADING_SLASH, UUID_DOUBLE_SLASH])
async def test_single_encoded_awkward_uuid_is_404(
    emulator_server: EmulatorServer, admin: EmulatorAdmin, uuid: str
) -> None:
    async with httpx.AsyncClient() as http:
        token = await raw_token(emulator_server, http)
        once = await http.get(
            f"{emulator_server.api_base_url}/report/webinars/{quote(uuid, safe='')}/participants",
            headers={"Authorization": f"Bearer {token}"},
        )
        twice = await http.get(
            f"{emulator_server.api_base_url}/report/webinars/{quote(quote(uuid, safe=''), safe='')}/participants",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert once.status_code == 404
    assert once.json()["code"] == 3001
    assert twice.status_code == 200


async def test_unencoded_plus_in_a_uuid_is_404(emulator_server: EmulatorServer, admin: EmulatorAdmin) -> None:
    async with httpx.AsyncClient() as http:
        token = await raw_token(emulator_server, http)
        raw_plus = await http.get(
            f"{emulator_server.api_base_url}/past_webinars/Ab+Cd%2FEfGhIjKlMnOpQrSw%3D%3D/participants",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert raw_plus.status_code == 404


async def test_rejoin_gives_one_row_per_session(zoom: ZoomClient) -> None:
    """Someone who left and rejoined has several rows; durations are per session, in seconds."""
    rows = [r for r in await zoom.list_participant_report(UUID_LEADING_SLASH) if r.user_email]
    assert [(r.user_email, r.duration) for r in rows] == [
        ("jonas@customers.example", 1200),
        ("jonas@customers.example", 2100),
    ]
    assert rows[0].registrant_id == rows[1].registrant_id != ""
    assert rows[0].user_id != rows[1].user_id
    assert rows[0].participant_user_id == rows[1].participant_user_id


async def test_guest_rows_have_empty_email_and_ids(zoom: ZoomClient) -> None:
    """R-SCOPE-3: guests' user_email is the empty string, not null; name and times are kept."""
    guests = [r for r in await zoom.list_participant_report(UUID_LEADING_SLASH) if not r.has_email]
    assert [(g.name, g.user_email, g.id, g.participant_user_id, g.duration) for g in guests] == [
        ("Guest 1", "", "", "", 1800)
    ]


async def test_numeric_id_reports_only_the_latest_instance(zoom: ZoomClient) -> None:
    by_id = await zoom.list_participant_report(W_PAST)
    latest = await zoom.list_participant_report(UUID_PLUS)
    assert [r.user_id for r in by_id] == [r.user_id for r in latest]
    assert (await zoom.get_recordings(W_PAST)).uuid == UUID_PLUS


async def test_transcript_appears_later_than_the_video(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    """R-SYNC-5: the transcript (TRANSCRIPT/VTT) is ready two hours after the end here."""
    early = await zoom.get_recordings(UUID_PLUS)
    assert [f.file_type for f in early.recording_files] == ["MP4"]
    assert early.transcript is None
    await admin.advance_clock(2 * 3600)
    later = await zoom.get_recordings(UUID_PLUS)
    assert later.transcript is not None
    assert (later.transcript.file_extension, later.transcript.meeting_id) == ("VTT", UUID_PLUS)


async def test_deleted_recording_is_3301(zoom: ZoomClient) -> None:
    with pytest.raises(ZoomNoRecording) as caught:
        await zoom.get_recordings(UUID_DOUBLE_SLASH)
    assert (caught.value.http_status, caught.value.zoom_code, caught.value.message) == (
        404,
        3301,
        "There is no recording for this meeting.",
    )


async def test_instance_without_recording_is_3301(zoom: ZoomClient) -> None:
    with pytest.raises(ZoomNoRecording):
        await zoom.get_recordings(UUID_LEADING_SLASH)


async def test_api_registrations_do_not_become_participants(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    await zoom.add_registrant(W_OPEN, NewRegistrant(email="viewer@customers.example", first_name="V"))
    assert await zoom.list_participant_report(W_PAST) == await zoom.list_participant_report(UUID_PLUS)
    assert "viewer@customers.example" not in {r.user_email for r in await zoom.list_participant_report(W_PAST)}


async def test_absentees_are_approved_registrants_who_did_not_join(zoom: ZoomClient) -> None:
    pages = [p async for p in zoom.absentee_pages(UUID_LEADING_SLASH)]
    assert [r.email for r in pages[0].items] == ["greta@customers.example", "absent@customers.example"]


# --- rate limits -----------------------------------------------------------------------------


async def test_per_second_limit_is_qps_429_with_headers(emulator_server: EmulatorServer, admin: EmulatorAdmin) -> None:
    """Free plan, Heavy label: 1 request per second per account; the QPS 429 says to retry after a
    second (``Retry-After`` in seconds, #15.3)."""
    async with ZoomClient(emulator_connection(emulator_server, FREE), rate_limit=False) as client:
        await client.list_participant_report(W_FREE)
        with pytest.raises(ZoomRateLimited) as caught:
            await client.list_participant_report(W_FREE)
    assert caught.value.limit_type is RateLimitType.QPS
    assert caught.value.retry_after == 1.0
    assert caught.value.retryable


async def test_client_rate_limiter_keeps_under_the_per_second_limit(
    emulator_server: EmulatorServer, admin: EmulatorAdmin
) -> None:
    """The same two calls as above succeed when Rollcall's own bucket (0.8/s here) spaces them."""
    await admin.set_clock(NOW, frozen=False)
    async with ZoomClient(emulator_connection(emulator_server, FREE)) as client:
        started = asyncio.get_running_loop().time()
        for _ in range(2):
            await client.list_participant_report(W_FREE)
        elapsed = asyncio.get_running_loop().time() - started
    assert elapsed >= 1.0


async def test_daily_429_with_iso_retry_after_gives_a_delay(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    await admin.set_clock(datetime(2025, 6, 2, 23, 59, tzinfo=UTC), frozen=True)
    await admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.RATE_LIMIT, daily=True, times=1))
    async with ZoomClient(zoom.connection, utcnow=lambda: datetime(2025, 6, 2, 23, 59, tzinfo=UTC)) as client:
        with pytest.raises(ZoomRateLimited) as caught:
            await client.get_webinar(W_OPEN)
    assert caught.value.limit_type is RateLimitType.DAILY
    assert caught.value.retry_after == 60.0


async def test_429_without_any_header_is_still_rate_limited(zoom: ZoomClient, admin: EmulatorAdmin) -> None:
    await admin.add_fault(FaultRule(operation="get_webinar", kind=FaultKind.RATE_LIMIT, omit_headers=True, times=1))
    with pytest.raises(ZoomRateLimited) as caught:
        await zoom.get_webinar(W_OPEN)
    assert caught.value.limit_type is RateLimitType.QPS  # told by the message alone
    assert caught.value.retry_after is None
    assert (await zoom.get_webinar(W_OPEN)).id == str(W_OPEN)


async def test_no_headers_mode_drops_rate_limit_headers(emulator_server: EmulatorServer, admin: EmulatorAdmin) -> None:
    await admin.set_rate_limit_mode(RateLimitMode.NO_HEADERS)
    async with ZoomClient(emulator_connection(emulator_server, FREE), rate_limit=False) as client:
        await client.list_participant_report(W_FREE)
        with pytest.raises(ZoomRateLimited) as caught:
            await client.list_participant_report(W_FREE)
    assert caught.value.retry_after is None
    assert caught.value.limit_type is RateLimitType.QPS
