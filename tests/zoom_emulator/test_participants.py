"""People in a meeting: participant_joined / _left webhooks shaped as Zoom's (Rivet's types), a
switch that drops them (missed events), everyone leaving when the meeting ends, the past-meeting
participants list (one entry per join, paged, ended instances only), and per-participant audio."""

from __future__ import annotations

from urllib.parse import quote

import httpx

from tests.zoom_emulator.helpers import create_meeting, s2s_headers


async def _live(emu, http) -> dict:
    meeting = await create_meeting(http, await s2s_headers(emu), "host1@system.converge.test")
    started = await emu.control.start_meeting(meeting["id"])
    return {**meeting, "uuid": started["uuid"]}


def _participants_url(uuid: str) -> str:
    return f"/v2/past_meetings/{quote(quote(uuid, safe=''), safe='')}/participants"


async def test_joins_and_leaves_send_webhooks_and_end_closes_them(hooked, receiver):
    async with httpx.AsyncClient(base_url=hooked.base_url) as http:
        m = await _live(hooked, http)
        await hooked.control.join(m["id"], host=True)
        guest = await hooked.control.join(m["id"], "Riley Chen", email="riley@example.com",
                                          registrant_id="REG1", at="2030-01-01T10:01:00Z")
        await hooked.control.leave(m["id"], guest["participant_id"], at="2030-01-01T10:11:00Z")
        await hooked.control.end_meeting(m["id"], wait=True)
    joined = receiver.events("meeting.participant_joined")
    left = receiver.events("meeting.participant_left")
    assert len(joined) == 2 and len(left) == 2  # the host left when the meeting ended
    p = joined[1]["payload"]["object"]["participant"]
    assert (p["user_name"], p["email"], p["registrant_id"], p["join_time"]) == (
        "Riley Chen", "riley@example.com", "REG1", "2030-01-01T10:01:00Z")
    assert joined[1]["payload"]["object"]["id"] == str(m["id"])  # a string, as in meeting.* events
    host = joined[0]["payload"]["object"]["participant"]
    assert host["id"] and host["participant_user_id"] == host["id"]
    assert {e["payload"]["object"]["participant"]["leave_time"] for e in left} >= {"2030-01-01T10:11:00Z"}


async def test_past_participants_list_pages_and_needs_an_ended_meeting(emu, http):
    s2s = await s2s_headers(emu)
    await emu.control.config(participant_webhooks=False)
    m = await _live(emu, http)
    first = await emu.control.join(m["id"], "Riley Chen", email="riley@example.com")
    running = await http.get(_participants_url(m["uuid"]), headers=s2s)
    assert running.status_code == 404 and running.json()["code"] == 3001
    await emu.control.leave(m["id"], first["participant_id"])
    await emu.control.join(m["id"], "Riley Chen", email="riley@example.com")
    await emu.control.join(m["id"], host=True)
    await emu.control.end_meeting(m["id"])
    page1 = (await http.get(_participants_url(m["uuid"]), headers=s2s, params={"page_size": 2})).json()
    assert page1["total_records"] == 3 and len(page1["participants"]) == 2 and page1["next_page_token"]
    page2 = (await http.get(_participants_url(m["uuid"]), headers=s2s,
                            params={"page_size": 2, "next_page_token": page1["next_page_token"]})).json()
    entries = page1["participants"] + page2["participants"]
    assert page2["next_page_token"] == ""
    assert [e["user_email"] for e in entries].count("riley@example.com") == 2  # a rejoin is a new entry
    assert all(e["leave_time"] and e["duration"] >= 0 for e in entries)
    assert set(entries[0]) >= {"id", "user_id", "name", "user_email", "join_time", "leave_time",
                               "duration", "registrant_id", "status"}
    nobody = await http.get(_participants_url("nope=="), headers=s2s)
    assert nobody.status_code == 404


async def test_participant_audio_files_in_recording_completed(hooked, receiver):
    async with httpx.AsyncClient(base_url=hooked.base_url) as http:
        m = await _live(hooked, http)
        await hooked.control.join(m["id"], host=True)
        await hooked.control.join(m["id"], "Riley Chen", email="riley@example.com")
        await hooked.control.end_meeting(m["id"], wait=True)
        rec = await hooked.control.complete_recording(m["id"], ["MP4"], participant_audio=True, wait=True)
        (event,) = receiver.events("recording.completed")
        audio = event["payload"]["object"]["participant_audio_files"]
        assert [a["file_name"] for a in audio][1] == "Audio only - Riley Chen"
        assert all(a["file_type"] == "M4A" and a["file_size"] > 0 for a in audio)
        got = await http.get(audio[1]["download_url"], follow_redirects=True,
                             headers={"Authorization": f"Bearer {rec['download_token']}"})
        assert got.status_code == 200 and len(got.content) == audio[1]["file_size"]
