"""Attendance end to end: the booking API, the real worker on the Temporal dev server, and the
emulator playing the meeting, its people and its signed webhooks.

- live -> attended -> completed, with a rejoin, minutes added up, and the host's join time;
- a no-show (interviewee never joins) ends `no_show` with its recording still stored, and a
  meeting without its host says so too;
- participant webhooks Zoom never sent: the record comes from Zoom's past-meeting participants
  list, asked once after the meeting;
- no participant name or email in any of these bookings' Temporal histories.
"""

from __future__ import annotations

from sqlmodel import select

from models import Attendee
from tests.attendance.helpers import a_while_ago, at, booked, person, stack, until_status
from tests.bookings.helpers import history_text, settled
from workflows.contract import booking_workflow_id


async def _history(temporal_env, booking_id: str) -> str:
    return await history_text(temporal_env.client.get_workflow_handle(booking_workflow_id(booking_id)))


async def test_live_then_attended_then_completed(api, emulator, temporal_env):
    base = a_while_ago()
    async with stack(api, emulator, temporal_env):
        b = await booked(api, "Attended Research")
        started = await emulator.control.start_meeting(b.meeting_id, wait=True)
        live = await until_status(api, b, "in_progress")
        assert live["attendance"]["status"] is None  # not settled while it runs
        await emulator.control.join(b.meeting_id, "Converge Host", host=True, at=at(base, 0))
        first = await emulator.control.join(b.meeting_id, b.name, email=b.email, at=at(base, 2))
        # While it runs the record already shows the interviewee in the meeting.
        now_in = await settled(api, b.org_id, b.headers, b.id,
                               until=lambda x: (person(x, "interviewee") or {}).get("segments"))
        assert now_in["status"] == "in_progress"
        assert person(now_in, "interviewee")["segments"][0]["left_at"] is None
        await emulator.control.leave(b.meeting_id, first["participant_id"], at=at(base, 12))
        second = await emulator.control.join(b.meeting_id, b.name, email=b.email, at=at(base, 14))
        await emulator.control.leave(b.meeting_id, second["participant_id"], at=at(base, 34))
        await emulator.control.end_meeting(b.meeting_id, wait=True)
        await until_status(api, b, "ended", "processing_recording")
        rec = await emulator.control.complete_recording(b.meeting_id, ["MP4", "M4A"], participant_audio=True)
        assert len(rec["participant_audio_files"]) == 2  # the host's and the interviewee's
        await until_status(api, b, "processing_recording", "completed")
        await emulator.control.complete_transcript(b.meeting_id)
        done = await until_status(api, b, "completed", "no_show", "failed", "no_recording")
        history = await _history(temporal_env, b.id)

    assert (done["status"], done["status_reason"]) == ("completed", None), done
    att = done["attendance"]
    assert (att["status"], att["source"]) == ("attended", "webhooks"), att
    assert att["host_joined_at"] == at(base, 0)
    assert att["interviewee_minutes"] == 30  # 10 + 20, the gap not counted
    guest = person(done, "interviewee")
    assert (guest["name"], guest["email"], guest["matched_by"], guest["minutes"]) == (b.name, b.email, "email", 30)
    assert [(s["joined_at"][11:16], s["left_at"][11:16]) for s in guest["segments"]] == [
        (at(base, 2)[11:16], at(base, 12)[11:16]), (at(base, 14)[11:16], at(base, 34)[11:16])]
    assert person(done, "host")["matched_by"] == "host_user_id"
    # Each participant's own audio is stored (verified like the rest) and shown under them.
    own = [r for r in done["recordings"] if r["file_name"]]
    assert len(own) == 2 and all(r["status"] == "stored" and r["sha256"] for r in own), own
    assert {r["participant_id"] for r in own} == {guest["id"], person(done, "host")["id"]}
    assert started["uuid"]
    # Signals carry ids only: the person's name and email never reach Temporal.
    assert b.name not in history and b.email not in history and "Converge Host" not in history


async def test_no_show_keeps_the_recording_and_a_missing_host_is_named(api, emulator, temporal_env):
    base = a_while_ago()
    async with stack(api, emulator, temporal_env):
        b = await booked(api, "No Show Research")
        await emulator.control.start_meeting(b.meeting_id)
        await until_status(api, b, "in_progress")
        await emulator.control.join(b.meeting_id, "Converge Host", host=True, at=at(base, 0))
        await emulator.control.end_meeting(b.meeting_id, wait=True)
        no_show = await until_status(api, b, "no_show")
        await emulator.control.complete_recording(b.meeting_id, ["MP4"])
        kept = await settled(api, b.org_id, b.headers, b.id,
                             until=lambda x: any(r["status"] == "stored" for r in x["recordings"]))

        lonely = await booked(api, "Hostless Research", name="Sam Stone")
        await emulator.control.start_meeting(lonely.meeting_id)
        await until_status(api, lonely, "in_progress")
        await emulator.control.join(lonely.meeting_id, lonely.name, email=lonely.email, at=at(base, 1))
        await emulator.control.end_meeting(lonely.meeting_id, wait=True)
        hostless = await until_status(api, lonely, "no_show")
        histories = await _history(temporal_env, b.id) + await _history(temporal_env, lonely.id)

    assert no_show["status_reason"] == "interviewee_no_show", no_show
    assert "did not join" in no_show["status_message"]
    assert no_show["attendance"]["status"] == "no_show" and person(no_show, "interviewee") is None
    assert kept["status"] == "no_show"  # the stored recording does not turn it into completed
    assert [r["file_type"] for r in kept["recordings"] if r["status"] == "stored"] == ["MP4"]
    assert hostless["status_reason"] == "host_no_show", hostless
    assert hostless["attendance"]["status"] == "host_absent"
    assert person(hostless, "interviewee")["matched_by"] == "email"
    for secret in (b.email, lonely.name, lonely.email):
        assert secret not in histories


async def test_missed_participant_webhooks_are_recovered_from_zoom_list(api, emulator, temporal_env):
    base = a_while_ago()
    async with stack(api, emulator, temporal_env):
        await emulator.control.config(participant_webhooks=False)
        b = await booked(api, "Missed Events Research")
        await emulator.control.start_meeting(b.meeting_id)
        await until_status(api, b, "in_progress")
        await emulator.control.join(b.meeting_id, "Converge Host", host=True, at=at(base, 0))
        # Joined from another address: only the display name says who this is.
        first = await emulator.control.join(b.meeting_id, b.name, email="riley.personal@elsewhere.test",
                                            at=at(base, 5))
        await emulator.control.leave(b.meeting_id, first["participant_id"], at=at(base, 20))
        await emulator.control.join(b.meeting_id, b.name, email="riley.personal@elsewhere.test",
                                    at=at(base, 22))
        ended = await emulator.control.end_meeting(b.meeting_id, wait=True)
        assert not [d for d in ended["deliveries"] if d["event"].startswith("meeting.participant")]
        settled_ = await settled(api, b.org_id, b.headers, b.id,
                                 until=lambda x: x["attendance"]["status"] is not None)
        history = await _history(temporal_env, b.id)
        async with api.services.db.session() as s:
            rows = (await s.exec(select(Attendee).where(Attendee.booking_id == b.id))).all()

    att = settled_["attendance"]
    assert (att["status"], att["source"]) == ("attended", "zoom_participants_list"), att
    guest = person(settled_, "interviewee")
    assert guest["matched_by"] == "display_name" and len(guest["segments"]) == 2
    assert guest["minutes"] >= 15  # 15 min, then from 22 min until the meeting ended (now)
    assert {r.role for r in rows} == {"host", "interviewee"}
    assert b.name not in history and "riley.personal@elsewhere.test" not in history



async def test_a_late_participant_event_reopens_nobody(api, emulator, temporal_env):
    """Zoom's webhooks come in any order: a guest's join that arrives after the meeting ended is
    recorded, closed at the meeting's end, and changes no outcome."""
    from tests.webhooks.helpers import post_signed

    base = a_while_ago()
    async with stack(api, emulator, temporal_env):
        b = await booked(api, "Late Events Research")
        started = await emulator.control.start_meeting(b.meeting_id)
        await until_status(api, b, "in_progress")
        await emulator.control.join(b.meeting_id, "Converge Host", host=True, at=at(base, 0))
        await emulator.control.join(b.meeting_id, b.name, email=b.email, at=at(base, 1))
        await emulator.control.end_meeting(b.meeting_id, wait=True)
        first = await settled(api, b.org_id, b.headers, b.id,
                              until=lambda x: x["attendance"]["status"] is not None)
        late = {"event": "meeting.participant_joined", "event_ts": 1, "payload": {
            "account_id": "emu-system-account", "object": {
                "id": str(b.meeting_id), "uuid": started["uuid"], "host_id": "h", "type": 2, "participant": {
                    "user_id": "99", "user_name": "Late Guest", "email": "late@guest.test",
                    "participant_uuid": "LATE1", "join_time": at(base, 5)}}}}
        assert (await post_signed(api.http, late)).status_code == 200
        again = await settled(api, b.org_id, b.headers, b.id, until=lambda x: person(x, "other"))
    assert first["attendance"]["status"] == again["attendance"]["status"] == "attended"
    assert again["status"] == first["status"] or again["status"] in ("processing_recording", "completed", "ended")
    guest = person(again, "other")
    assert guest["name"] == "Late Guest" and all(seg["left_at"] for seg in guest["segments"])
