"""ZoomApi against the Zoom emulator over HTTP (docs/zoom.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import pytest

from zoom.client import ZoomApi
from zoom.errors import (
    ZoomBadRequest,
    ZoomDailyLimit,
    ZoomHostingNotAllowed,
    ZoomMeetingNotFound,
    ZoomMissingScope,
    ZoomRecordingNotFound,
    ZoomTokenRejected,
    ZoomTransientError,
    ZoomUserNotFound,
)
from zoom.ids import meeting_id_str
from zoom.oauth import ZoomOAuth, ZoomS2S, authorize_url, new_pkce_pair
from zoom_emulator.state import DEFAULT_REDIRECT_URI as REDIRECT_URI

HOST1 = "host1@system.converge.test"
HOST2 = "host2@system.converge.test"
GET_USER = "GET /v2/users/{user_id}"
LIST_MEETINGS = "GET /v2/users/{user_id}/meetings"


def _meeting_body(topic: str = "IDI: participant 42", minutes_ahead: int = 60) -> dict:
    start = datetime.now(timezone.utc) + timedelta(minutes=minutes_ahead)
    return {
        "topic": topic,
        "type": 2,
        "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration": 45,
        "timezone": "UTC",
        "settings": {"auto_recording": "cloud", "waiting_room": True},
    }


async def _route_count(emu, route: str) -> int:
    return (await emu.control.stats())["routes"].get(route, 0)


@pytest.fixture
async def system_api(s2s: ZoomS2S, api_for) -> ZoomApi:
    token = await s2s.fetch_token()
    return api_for(token.access_token.get_secret_value())


@pytest.fixture
async def alex_api(connect, api_for) -> ZoomApi:
    tokens = await connect("alex@acme.test")
    return api_for(tokens.access_token.get_secret_value())


# --- users ----------------------------------------------------------------------------------


async def test_get_me(alex_api: ZoomApi) -> None:
    me = await alex_api.get_me()
    assert me["email"] == "alex@acme.test"
    assert me["type"] == 2
    assert me["id"] and me["account_id"]


async def test_get_user_by_email_with_s2s(system_api: ZoomApi) -> None:
    user = await system_api.get_user(HOST1)
    assert user["email"] == HOST1


async def test_unknown_user_is_1001(system_api: ZoomApi, alex_api: ZoomApi) -> None:
    from metrics import WORKER_REGISTRY

    def counted() -> float:  # converge_zoom_api_errors_total, by status and Zoom's code
        return WORKER_REGISTRY.get_sample_value(
            "converge_zoom_api_errors_total", {"status": "404", "code": "1001"}) or 0.0

    before = counted()
    with pytest.raises(ZoomUserNotFound) as info:
        await system_api.get_user("nobody@system.converge.test")
    assert info.value.code == 1001 and info.value.status == 404
    assert counted() == before + 1
    # A user-level token may only act on its own user.
    with pytest.raises(ZoomUserNotFound):
        await alex_api.get_user(HOST1)


# --- meetings -------------------------------------------------------------------------------


async def test_meeting_lifecycle(emu, alex_api: ZoomApi) -> None:
    created = await alex_api.create_meeting("me", _meeting_body())
    assert isinstance(created["id"], int) and created["id"] > 2**32  # int64, as in Zoom
    mid = meeting_id_str(created["id"])
    assert created["join_url"] and created["start_url"]
    assert created["settings"]["auto_recording"] == "cloud"

    fetched = await alex_api.get_meeting(mid)  # string id works as well as the number
    assert fetched["id"] == created["id"]
    assert fetched["topic"] == "IDI: participant 42"

    result = await alex_api.update_meeting(created["id"], {"topic": "Rescheduled", "duration": 30})
    assert result is None  # 204, no body
    fetched = await alex_api.get_meeting(created["id"])
    assert (fetched["topic"], fetched["duration"]) == ("Rescheduled", 30)

    await alex_api.delete_meeting(mid)
    with pytest.raises(ZoomMeetingNotFound):
        await alex_api.get_meeting(mid)
    # Deleting again (e.g. a retried cancel) is not an error: the meeting is gone either way.
    await alex_api.delete_meeting(mid)
    stats = await emu.control.stats()
    assert (stats["meetings_created"], stats["meetings_updated"], stats["meetings_deleted"]) == (1, 1, 1)


async def test_update_of_missing_meeting_is_not_found(alex_api: ZoomApi) -> None:
    with pytest.raises(ZoomMeetingNotFound):
        await alex_api.update_meeting(81234567890, {"topic": "x"})


async def test_create_for_system_host_with_s2s(emu, system_api: ZoomApi) -> None:
    created = await system_api.create_meeting(HOST1, _meeting_body())
    assert created["host_email"] == HOST1
    meetings = await emu.control.meetings(host=HOST1)
    assert [m["id"] for m in meetings] == [created["id"]]


async def test_validation_error_keeps_field_errors(alex_api: ZoomApi) -> None:
    body = {**_meeting_body(), "duration": -5}
    with pytest.raises(ZoomBadRequest) as info:
        await alex_api.create_meeting("me", body)
    assert info.value.code == 300
    assert any(e.get("field") == "duration" for e in info.value.errors)


async def test_list_meetings_follows_pages(emu, system_api: ZoomApi) -> None:
    created = set()
    for i in range(5):
        created.add((await system_api.create_meeting(HOST2, _meeting_body(f"m{i}", 60 + i)))["id"])
    before = await _route_count(emu, LIST_MEETINGS)
    seen = [m["id"] async for m in system_api.list_meetings(HOST2, page_size=2)]
    assert sorted(seen) == sorted(created)
    assert await _route_count(emu, LIST_MEETINGS) - before == 3  # 2 + 2 + 1


async def test_list_meetings_empty(system_api: ZoomApi) -> None:
    assert [m async for m in system_api.list_meetings(HOST1)] == []


async def test_hosting_not_allowed_for_unlicensed_user(connect, api_for) -> None:
    nora = api_for((await connect("nora@acme.test")).access_token.get_secret_value())
    with pytest.raises(ZoomHostingNotAllowed) as info:
        await nora.create_meeting("me", _meeting_body())
    assert info.value.code == 3161


async def test_missing_scope(emu, http: httpx.AsyncClient, api_for) -> None:
    await emu.control.register_client(
        "narrow-client", "narrow-secret", scopes=["user:read:admin"], redirect_uris=[REDIRECT_URI]
    )
    oauth = ZoomOAuth(http, emu.oauth_base_url, "narrow-client", "narrow-secret")
    pkce = new_pkce_pair()
    url = authorize_url(emu.oauth_base_url, "narrow-client", REDIRECT_URI, "s", pkce.challenge)
    location = await emu.control.authorize(url, "alex@acme.test")
    code = httpx.URL(location).params["code"]
    tokens = await oauth.exchange_code(code, REDIRECT_URI, pkce.verifier)
    api = api_for(tokens.access_token.get_secret_value())
    assert (await api.get_me())["email"] == "alex@acme.test"
    with pytest.raises(ZoomMissingScope):
        await api.create_meeting("me", _meeting_body())


# --- daily cap ------------------------------------------------------------------------------


def _next_midnight() -> datetime:
    today = datetime.now(timezone.utc).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), timezone.utc)


@pytest.mark.parametrize("style", ["429", "300"])
async def test_daily_limit(emu, alex_api: ZoomApi, style: str) -> None:
    await emu.control.config(daily_limit=2, daily_limit_style=style)
    first = await alex_api.create_meeting("me", _meeting_body())
    await alex_api.update_meeting(first["id"], {"topic": "moved"})
    midnights = {_next_midnight()}
    with pytest.raises(ZoomDailyLimit) as info:
        await alex_api.create_meeting("me", _meeting_body())
    midnights.add(_next_midnight())  # in case the test straddles 00:00 UTC
    assert info.value.retry_at in midnights
    assert info.value.status == (429 if style == "429" else 400)
    with pytest.raises(ZoomDailyLimit):
        await alex_api.update_meeting(first["id"], {"topic": "again"})


# --- token rejected: one retry --------------------------------------------------------------


async def test_124_drops_token_and_retries_once(emu, http: httpx.AsyncClient, connect) -> None:
    stale = await connect("alex@acme.test")
    fresh = await connect("alex@acme.test")  # a newer authorization kills the earlier tokens
    current = {"token": stale.access_token.get_secret_value()}
    rejected: list[int] = []

    async def get_token() -> str:
        return current["token"]

    async def on_token_rejected() -> None:
        rejected.append(1)
        current["token"] = fresh.access_token.get_secret_value()

    api = ZoomApi(http, emu.api_base_url, get_token, on_token_rejected)
    before = await _route_count(emu, GET_USER)
    assert (await api.get_me())["email"] == "alex@acme.test"
    assert rejected == [1]
    assert await _route_count(emu, GET_USER) - before == 2


async def test_124_retry_of_create_makes_one_meeting(emu, http: httpx.AsyncClient, connect) -> None:
    stale = await connect("alex@acme.test")
    fresh = await connect("alex@acme.test")
    tokens = iter([stale.access_token.get_secret_value(), fresh.access_token.get_secret_value()])

    async def get_token() -> str:
        return next(tokens)

    async def on_token_rejected() -> None:
        pass

    api = ZoomApi(http, emu.api_base_url, get_token, on_token_rejected)
    await api.create_meeting("me", _meeting_body())
    assert (await emu.control.stats())["meetings_created"] == 1


async def test_second_124_raises(emu, http: httpx.AsyncClient, connect) -> None:
    stale = await connect("alex@acme.test")
    await connect("alex@acme.test")
    rejected: list[int] = []

    async def get_token() -> str:
        return stale.access_token.get_secret_value()  # the manager has nothing better

    async def on_token_rejected() -> None:
        rejected.append(1)

    api = ZoomApi(http, emu.api_base_url, get_token, on_token_rejected)
    before = await _route_count(emu, GET_USER)
    with pytest.raises(ZoomTokenRejected) as info:
        await api.get_me()
    assert info.value.code == 124 and info.value.status == 401
    assert rejected == [1]
    assert await _route_count(emu, GET_USER) - before == 2  # exactly one retry
    assert stale.access_token.get_secret_value() not in str(info.value)


async def test_124_without_callback_does_not_retry_same_token(emu, connect, api_for) -> None:
    stale = await connect("alex@acme.test")
    await connect("alex@acme.test")
    before = await _route_count(emu, GET_USER)
    with pytest.raises(ZoomTokenRejected):
        await api_for(stale.access_token.get_secret_value()).get_me()
    assert await _route_count(emu, GET_USER) - before == 1


async def test_expired_access_token_is_rejected(emu, alex_api: ZoomApi) -> None:
    await emu.control.advance_clock(3600)
    with pytest.raises(ZoomTokenRejected):
        await alex_api.get_me()


# --- transient failures ---------------------------------------------------------------------


async def test_5xx_is_transient_and_creates_nothing(emu, alex_api: ZoomApi) -> None:
    await emu.control.add_fault("/v2/users/*/meetings", method="POST", status=500, count=1)
    with pytest.raises(ZoomTransientError) as info:
        await alex_api.create_meeting("me", _meeting_body())
    assert info.value.status == 500
    assert (await emu.control.stats())["meetings_created"] == 0


async def test_5xx_with_non_json_body_is_transient(emu, alex_api: ZoomApi) -> None:
    await emu.control.add_fault(
        "/v2/users/*", method="GET", status=502, body="<html>Bad Gateway</html>", count=1
    )
    with pytest.raises(ZoomTransientError):
        await alex_api.get_me()


async def test_dropped_connection_is_transient(emu, alex_api: ZoomApi) -> None:
    await emu.control.add_fault("/v2/meetings/*", action="drop", count=1)
    with pytest.raises(ZoomTransientError):
        await alex_api.get_meeting(81234567890)


async def test_per_second_429_is_transient(emu, alex_api: ZoomApi) -> None:
    await emu.control.add_fault("/v2/users/*", action="qps", headers={"Retry-After": "1"}, count=1)
    with pytest.raises(ZoomTransientError) as info:
        await alex_api.get_me()
    assert info.value.status == 429
    assert info.value.retry_after_seconds == 1
    assert (await alex_api.get_me())["email"] == "alex@acme.test"


# --- recordings -----------------------------------------------------------------------------


async def _recorded_meeting(emu, api: ZoomApi) -> tuple[int, str]:
    created = await api.create_meeting(HOST1, _meeting_body())
    await emu.control.start_meeting(created["id"])
    await emu.control.end_meeting(created["id"])
    done = await emu.control.complete_recording(created["id"])
    return created["id"], done["uuid"]


@pytest.mark.parametrize("uuid_style", ["leading_slash", "double_slash", "plain"])
async def test_recordings_by_uuid(
    emu, system_api: ZoomApi, http: httpx.AsyncClient, uuid_style: str
) -> None:
    await emu.control.config(uuid_style=uuid_style)
    meeting_id, uuid = await _recorded_meeting(emu, system_api)
    if uuid_style != "plain":
        assert uuid.startswith("/") or "//" in uuid

    recordings = await system_api.get_recordings(uuid, ttl=600)
    assert recordings["uuid"] == uuid
    assert meeting_id_str(recordings["id"]) == meeting_id_str(meeting_id)
    assert recordings["download_access_token"]
    types = {f["file_type"] for f in recordings["recording_files"]}
    assert {"MP4", "M4A"} <= types

    without = await system_api.get_recordings(uuid, download_access_token=False)
    assert "download_access_token" not in without


async def test_single_encoded_hazardous_uuid_fails_at_the_emulator(
    emu, system_api: ZoomApi, s2s: ZoomS2S, http: httpx.AsyncClient
) -> None:
    """Why double encoding exists: encoded once, a '/'-leading uuid is 'not found'."""
    await emu.control.config(uuid_style="leading_slash")
    _, uuid = await _recorded_meeting(emu, system_api)
    token = (await s2s.fetch_token()).access_token.get_secret_value()
    response = await http.get(
        f"{emu.api_base_url}/meetings/{quote(uuid, safe='')}/recordings",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 404 and response.json()["code"] == 3001


async def test_recordings_by_numeric_id_is_latest_instance(emu, system_api: ZoomApi) -> None:
    meeting_id, uuid = await _recorded_meeting(emu, system_api)
    recordings = await system_api.get_recordings(meeting_id)
    assert recordings["uuid"] == uuid


async def test_no_recording_yet(emu, system_api: ZoomApi) -> None:
    created = await system_api.create_meeting(HOST1, _meeting_body())
    with pytest.raises(ZoomRecordingNotFound):
        await system_api.get_recordings(created["id"])


async def test_recordings_ttl_is_checked_before_calling(system_api: ZoomApi) -> None:
    with pytest.raises(ValueError):
        await system_api.get_recordings("abc==", ttl=604801)
