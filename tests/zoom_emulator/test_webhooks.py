"""A meeting's life through the control API, and the webhooks it produces."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from zoom_emulator.testing import running_emulator

from tests.zoom_emulator.helpers import SECRET, create_meeting, ended_meeting, s2s_headers, user_headers


def verify(call: dict, secret: str = SECRET) -> None:
    """Check a received webhook exactly as a receiver must: HMAC over the RAW body."""
    ts = call["headers"]["x-zm-request-timestamp"]
    expected = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + call["raw"],
                                hashlib.sha256).hexdigest()
    assert hmac.compare_digest(call["headers"]["x-zm-signature"], expected)


@pytest.fixture
async def client(hooked):
    async with httpx.AsyncClient(base_url=hooked.base_url, verify=False) as c:
        yield c


async def test_started_and_ended_are_signed_compact_and_carry_a_string_id(hooked, client, receiver):
    headers = await s2s_headers(hooked)
    m = await create_meeting(client, headers, "host1@system.converge.test", topic="Café ☕")
    await hooked.control.start_meeting(m["id"], wait=True)
    await hooked.control.end_meeting(m["id"], wait=True)
    started, ended = receiver.calls
    for call in (started, ended):
        verify(call)
        ts = call["headers"]["x-zm-request-timestamp"]
        assert ts.isdigit() and abs(int(ts) - time.time()) < 30  # Unix seconds
        assert call["headers"]["content-type"].startswith("application/json")
        body = json.loads(call["raw"])
        # compact JSON, non-ASCII kept raw: re-serialising with defaults would not match
        assert call["raw"] == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        assert "Café ☕".encode() in call["raw"]
        assert set(body) == {"event", "event_ts", "payload"}
        assert body["event_ts"] > 10**12  # milliseconds
        assert body["payload"]["account_id"] == "emu-system-account"
        obj = body["payload"]["object"]
        assert obj["id"] == str(m["id"]) and isinstance(obj["id"], str)
        assert obj["uuid"] == m["uuid"] and obj["host_id"] == m["host_id"]
    assert json.loads(started["raw"])["event"] == "meeting.started"
    ended_obj = json.loads(ended["raw"])["payload"]["object"]
    assert json.loads(ended["raw"])["event"] == "meeting.ended" and ended_obj["end_time"]


async def test_control_returns_before_the_receiver_answers(hooked, client, receiver):
    receiver.plan = [(200, 0.4)]
    m = await create_meeting(client, await s2s_headers(hooked), "host1@system.converge.test")
    result = await hooked.control.start_meeting(m["id"])
    # answered while the delivery was still on its way (the receiver takes 0.4 s)
    assert result["deliveries"][0]["state"] == "pending"
    assert result["deliveries"][0]["attempts"] == []
    assert await hooked.control.settle()
    (d,) = await hooked.control.deliveries("meeting.started")
    assert d["state"] == "delivered" and d["attempts"][0]["latency_ms"] >= 350


async def test_starting_past_the_hosts_capacity_ends_the_running_meeting(hooked, client):
    """Pro: 1 at a time; Business: 2. Zoom does not refuse the next start: it ends the running
    meeting (with its meeting.ended), as the host accepts Zoom's offer to end it."""
    alex = await user_headers(hooked, "alex@acme.test")
    a1, a2 = await create_meeting(client, alex), await create_meeting(client, alex)
    first = await hooked.control.start_meeting(a1["id"])
    second = await hooked.control.start_meeting(a2["id"], wait=True)
    assert second["ended_running"] == [{"id": a1["id"], "uuid": first["uuid"],
                                        "ended_at": second["ended_running"][0]["ended_at"]}]
    [ended] = await hooked.control.deliveries("meeting.ended")
    assert ended["payload"]["payload"]["object"]["uuid"] == first["uuid"]
    states = {m["id"]: m["status"] for m in await hooked.control.meetings("alex@acme.test")}
    assert (states[a1["id"]], states[a2["id"]]) == ("waiting", "started")

    s2s = await s2s_headers(hooked)
    ms = [await create_meeting(client, s2s, "host1@system.converge.test") for _ in range(3)]
    await hooked.control.start_meeting(ms[0]["id"])
    assert (await hooked.control.start_meeting(ms[1]["id"]))["ended_running"] == []
    third = await hooked.control.start_meeting(ms[2]["id"])
    assert [e["id"] for e in third["ended_running"]] == [ms[0]["id"]]  # the longest-running one
    # a Basic user on any plan: one at a time
    basil = await user_headers(hooked, "basil@acme.test")
    b1, b2 = await create_meeting(client, basil), await create_meeting(client, basil)
    await hooked.control.start_meeting(b1["id"])
    assert [e["id"] for e in (await hooked.control.start_meeting(b2["id"]))["ended_running"]] == [b1["id"]]


async def test_a_restarted_meeting_gets_a_new_instance_uuid(hooked, client):
    m = await ended_meeting(hooked, client)
    second = await hooked.control.start_meeting(m["id"])
    assert second["uuid"] != m["uuid"]
    (view,) = await hooked.control.meetings("host1@system.converge.test")
    assert [i["uuid"] for i in view["instances"]] == [m["uuid"], second["uuid"]]


async def test_recording_completed_shape(hooked, client, receiver):
    m = await ended_meeting(hooked, client)
    result = await hooked.control.complete_recording(
        m["id"], ["MP4", {"file_type": "M4A", "size": 1000}, "CHAT", "CC", "TIMELINE",
                  {"file_type": "MP4", "recording_type": "gallery_view", "size": 5}], wait=True)
    (event,) = receiver.events("recording.completed")
    verify(receiver.calls[-1])
    assert event["download_token"] == result["download_token"]
    obj = event["payload"]["object"]
    assert obj["id"] == m["id"] and isinstance(obj["id"], int)  # a NUMBER here
    assert obj["uuid"] == m["uuid"] and obj["host_email"] == "host1@system.converge.test"
    assert obj["recording_count"] == 6
    files = obj["recording_files"]
    assert [f["file_type"] for f in files] == ["MP4", "M4A", "CHAT", "CC", "TIMELINE", "MP4"]
    for f in files:
        assert f["meeting_id"] == m["uuid"] and f["download_url"].startswith(hooked.base_url)
        assert f["recording_start"] and f["recording_end"]
        if f["file_type"] in ("CC", "TIMELINE"):
            assert not {"id", "status", "file_size", "recording_type"} & set(f)
        else:
            assert f["status"] == "completed" and f["id"] and isinstance(f["file_size"], int)
    assert files[1]["file_size"] == 1000 and files[1]["file_extension"] == "M4A"
    assert files[2]["file_extension"] == "TXT" and files[4]["file_extension"] == "JSON"
    assert files[5]["recording_type"] == "gallery_view"
    assert obj["total_size"] == sum(f.get("file_size", 0) for f in files)


async def test_recording_events_per_file_and_twice(hooked, client, receiver):
    await hooked.control.set_webhook(receiver.url, per_file_recording_events=True,
                                     duplicate_events=["recording.completed"])
    m = await ended_meeting(hooked, client)
    await hooked.control.complete_recording(m["id"], ["MP4", "M4A"], wait=True)
    events = receiver.events("recording.completed")
    assert len(events) == 4
    assert [len(e["payload"]["object"]["recording_files"]) for e in events] == [1, 1, 1, 1]
    assert events[0] == events[1] and events[2] == events[3]  # true duplicates
    assert {e["payload"]["object"]["recording_files"][0]["file_type"] for e in events} == {
        "MP4", "M4A"}


async def test_transcript_completes_separately(hooked, client, receiver):
    m = await ended_meeting(hooked, client)
    await hooked.control.complete_recording(m["id"], ["MP4"])
    await hooked.control.complete_transcript(m["id"], size=321, wait=True)
    await hooked.control.settle()
    (event,) = receiver.events("recording.transcript_completed")
    assert "download_token" not in event
    (f,) = event["payload"]["object"]["recording_files"]
    assert (f["file_type"], f["file_extension"], f["recording_type"], f["file_size"]) == (
        "TRANSCRIPT", "VTT", "audio_transcript", 321)
    # a second transcript is refused; the switch adds a download_token
    with pytest.raises(httpx.HTTPStatusError):
        await hooked.control.complete_transcript(m["id"])
    await hooked.control.config(transcript_download_token=True)
    m2 = await ended_meeting(hooked, client)
    result = await hooked.control.complete_transcript(m2["id"], wait=True)  # before the recording
    assert receiver.events("recording.transcript_completed")[-1]["download_token"] == \
        result["download_token"]


async def test_basic_hosts_get_no_cloud_recording(hooked, client, receiver):
    basil = await user_headers(hooked, "basil@acme.test")
    m = await ended_meeting(hooked, client, basil, "me")
    for call in (hooked.control.complete_recording(m["id"]),
                 hooked.control.complete_transcript(m["id"])):
        with pytest.raises(httpx.HTTPStatusError) as err:
            await call
        assert err.value.response.status_code == 409
        assert err.value.response.json()["code"] == "no_cloud_recording"
    await hooked.control.settle()
    assert not receiver.events("recording.completed")


async def test_recording_needs_an_ended_meeting(hooked, client):
    m = await create_meeting(client, await s2s_headers(hooked), "host1@system.converge.test")
    await hooked.control.start_meeting(m["id"])
    with pytest.raises(httpx.HTTPStatusError) as err:
        await hooked.control.complete_recording(m["id"])
    assert err.value.response.json()["code"] == "not_ended"


async def test_app_deauthorized_shape_and_dead_tokens(hooked, client, receiver):
    tokens = await hooked.control.user_token("alex@acme.test")
    result = await hooked.control.deauthorize("alex@acme.test", wait=True)
    assert result["had_authorization"] is True
    (call,) = receiver.calls
    verify(call)
    event = json.loads(call["raw"])
    assert set(event) == {"event", "payload"} and event["event"] == "app_deauthorized"
    p = event["payload"]
    assert set(p) == {"account_id", "user_id", "client_id", "deauthorization_time", "signature",
                      "event_ts", "user_data_retention"}
    assert (p["account_id"], p["client_id"], p["user_data_retention"]) == (
        "emu-acme", "emu-client-id", False)
    assert p["user_id"] == result["user_id"]
    r = await client.get("/v2/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert r.status_code == 401
    r = await client.post("/oauth/token", auth=("emu-client-id", "emu-client-secret"),
                          data={"grant_type": "refresh_token",
                                "refresh_token": tokens["refresh_token"]})
    assert r.json()["error"] == "invalid_grant"


async def test_revoke_sends_app_deauthorized_only_by_switch(hooked, client, receiver):
    for switch in (False, True):
        await hooked.control.config(revoke_sends_deauthorized=switch)
        tokens = await hooked.control.user_token("alex@acme.test")
        await client.post("/oauth/revoke", auth=("emu-client-id", "emu-client-secret"),
                          data={"token": tokens["access_token"]})
        await hooked.control.settle()
        assert len(receiver.events("app_deauthorized")) == int(switch)


async def test_failed_deliveries_are_retried_on_zoom_schedule_then_dropped(hooked, client, receiver):
    factor = 0.0002  # 5/20/60 minutes become 60/240/720 ms
    receiver.plan = [(500, 0), (503, 0)]
    m = await create_meeting(client, await s2s_headers(hooked), "host1@system.converge.test")
    await hooked.control.start_meeting(m["id"], wait=True)
    (d,) = await hooked.control.deliveries("meeting.started")
    assert d["state"] == "delivered"
    assert [a["status"] for a in d["attempts"]] == [500, 503, 200]
    gaps = [b["at"] - a["at"] for a, b in zip(receiver.calls, receiver.calls[1:])]
    assert gaps[0] >= 300 * factor * 0.9 and gaps[1] >= 1200 * factor * 0.9
    assert len({c["raw"] for c in receiver.calls}) == 1  # same body every time
    assert len({c["headers"]["x-zm-request-id"] for c in receiver.calls}) == 1
    for call in receiver.calls:
        verify(call)

    receiver.calls.clear()
    receiver.plan = [(500, 0)] * 4
    await hooked.control.end_meeting(m["id"], wait=True)
    (d,) = await hooked.control.deliveries("meeting.ended")
    assert d["state"] == "dropped" and len(d["attempts"]) == 4 == len(receiver.calls)


async def test_slow_answers_count_as_failures(hooked, client, receiver):
    receiver.plan = [(200, 0.8)]  # longer than webhook_timeout=0.5
    m = await create_meeting(client, await s2s_headers(hooked), "host1@system.converge.test")
    await hooked.control.start_meeting(m["id"], wait=True)
    (d,) = await hooked.control.deliveries("meeting.started")
    first, second = d["attempts"]
    assert first["ok"] is False and first["status"] is None and "0.5 s" in first["error"]
    assert second["ok"] is True and d["state"] == "delivered"


async def test_unreachable_endpoint_is_logged(client):
    async with running_emulator(webhook_url="http://127.0.0.1:9/nothing", time_factor=0.00001,
                                webhook_timeout=0.5) as emu:
        async with httpx.AsyncClient(base_url=emu.base_url, verify=False) as http:
            m = await create_meeting(http, await s2s_headers(emu), "host1@system.converge.test")
            await emu.control.start_meeting(m["id"], wait=True)
            (d,) = await emu.control.deliveries()
            assert d["state"] == "dropped"
            assert all(a["error"] and "Connect" in a["error"] for a in d["attempts"])


async def test_retry_signature_and_timestamp_switches(hooked, client, receiver):
    await hooked.control.config(webhook_resign_retries=False, webhook_timestamp_unit="ms")
    receiver.plan = [(500, 0)]
    m = await create_meeting(client, await s2s_headers(hooked), "host1@system.converge.test")
    await hooked.control.start_meeting(m["id"], wait=True)
    first, second = receiver.calls
    assert len(first["headers"]["x-zm-request-timestamp"]) == 13  # milliseconds
    assert first["headers"]["x-zm-signature"] == second["headers"]["x-zm-signature"]
    verify(second)


async def test_url_validation(hooked, receiver):
    result = await hooked.control.validate_webhook()
    assert result["passed"] is True and result["status"] == 200
    verify(receiver.calls[0])
    event = json.loads(receiver.calls[0]["raw"])
    assert event["event"] == "endpoint.url_validation" and event["payload"]["plainToken"]
    receiver.validation_secret = "wrong-secret"
    result = await hooked.control.validate_webhook()
    assert result["passed"] is False and "encryptedToken" in result["reason"]
    assert (await hooked.control.set_webhook(receiver.url))["validation"]["passed"] is False


async def test_event_subscription_filter_and_no_endpoint(hooked, client, receiver):
    await hooked.control.set_webhook(receiver.url, events=["meeting.ended"])
    m = await ended_meeting(hooked, client)
    await hooked.control.settle()
    assert [e["event"] for e in receiver.events()] == ["meeting.ended"]
    await hooked.control.set_webhook(None, events=None)
    await hooked.control.start_meeting(m["id"])
    assert (await hooked.control.deliveries("meeting.started"))[0]["state"] == "no_endpoint"


async def test_the_endpoint_is_revalidated_every_72_hours(hooked, client, receiver):
    assert (await hooked.control.advance_clock(71 * 3600))["revalidation"] is None
    assert receiver.calls == []
    result = (await hooked.control.advance_clock(3600 + 1))["revalidation"]
    assert result["passed"] is True
    [call] = receiver.calls
    assert json.loads(call["raw"])["event"] == "endpoint.url_validation"
    assert (await hooked.control.advance_clock(3600))["revalidation"] is None  # next one in 72 h
    # A failed re-validation stops events until the endpoint validates again.
    receiver.validation_secret = "wrong-secret"
    assert (await hooked.control.advance_clock(72 * 3600))["revalidation"]["passed"] is False
    m = await ended_meeting(hooked, client)
    assert {d["state"] for d in await hooked.control.deliveries("meeting.ended")} == {
        "endpoint_not_validated"}
    receiver.validation_secret = SECRET
    assert (await hooked.control.validate_webhook())["passed"] is True
    await hooked.control.start_meeting(m["id"], wait=True)
    assert (await hooked.control.deliveries("meeting.started"))[-1]["state"] == "delivered"
