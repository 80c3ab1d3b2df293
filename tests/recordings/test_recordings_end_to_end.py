"""A booking after its call, end to end: the booking API, the real worker on the Temporal dev
server, the emulator holding the meeting and sending its real signed webhooks to the test API, and
the files landing in the recording store, served back with Range. Waits are seconds (FAST)."""

from __future__ import annotations

import hashlib

from sqlmodel import select

from models import WebhookEvent
from models.recording_store import RecordingStore
from tests.bookings.helpers import (
    book,
    connect_org,
    fresh_zoom_user,
    future,
    history_text,
    new_org_with_session,
    services_with_hosts,
    settled,
)
from tests.recordings.helpers import FAST, FINAL, file_rows, new_system_host, recording_worker, until, webhooks_to
from zoom_emulator.files import expected_sha256, file_bytes

TRANSCRIPT_VTT = """WEBVTT

1
00:00:00.000 --> 00:00:03.000
Morgan Lee: Thanks for joining today, Riley.

2
00:00:03.500 --> 00:00:07.000
Riley Chen: Happy to help. I mostly compare prices on my phone.
"""


async def _booked(api, emulator, name: str):
    org_id, headers, session_id = await new_org_with_session(api, name)
    booking = await book(api, org_id, headers, session_id, start=future(hours=1), duration=30)
    booking = await settled(api, org_id, headers, booking["id"])
    assert booking["status"] == "scheduled", booking
    return org_id, headers, booking, int(booking["meeting"]["zoom_meeting_id"])


async def _final(api, org_id, headers, booking_id, timeout: float = 90) -> dict:
    return await settled(api, org_id, headers, booking_id, until=lambda b: b["status"] in FINAL, timeout=timeout)


async def test_book_meet_record_transcribe_then_download_and_serve(api, emulator, temporal_env):
    svc = services_with_hosts(api.services, f"{await new_system_host(emulator)}:1")
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, svc):
        org_id, headers, booking, meeting_id = await _booked(api, emulator, "End To End Research")
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        await settled(api, org_id, headers, booking["id"], until=lambda b: b["status"] == "ended")
        rec = await emulator.control.complete_recording(meeting_id, ["MP4", "M4A", "CHAT"])
        await settled(api, org_id, headers, booking["id"], until=lambda b: b["status"] == "processing_recording")
        transcript = await emulator.control.complete_transcript(meeting_id)
        booking = await _final(api, org_id, headers, booking["id"])
        deliveries = await emulator.control.deliveries()

    assert (booking["status"], booking["status_reason"]) == ("completed", None), booking
    announced = {f["file_type"]: f for f in rec["files"] + transcript["files"]}
    recordings = {r["file_type"]: r for r in booking["recordings"]}
    assert set(recordings) == {"MP4", "M4A", "CHAT", "TRANSCRIPT"}
    for kind, r in recordings.items():
        f = announced[kind]
        assert set(r) == {"id", "file_type", "file_extension", "size_bytes", "sha256", "status", "status_reason",
                          "participant_id", "file_name"}
        assert (r["status"], r["size_bytes"]) == ("stored", f["size"]), r
        assert r["sha256"] == expected_sha256(f["file_key"], f["size"])
    # Every webhook of this meeting was answered 2xx at its first attempt.
    ours = [d for d in deliveries if str(d["payload"].get("payload", {}).get("object", {}).get("id")) == str(meeting_id)]
    assert len(ours) == 4 and all(d["attempts"][0]["ok"] for d in ours)

    mp4 = recordings["MP4"]
    url = f"/v1/orgs/{org_id}/bookings/{booking['id']}/recordings/{mp4['id']}/content"
    part = await api.http.get(url, headers={**headers, "Range": "bytes=100-1123"})
    assert part.status_code == 206 and part.headers["content-type"] == "video/mp4"
    assert part.headers["content-range"] == f"bytes 100-1123/{mp4['size_bytes']}"
    assert part.content == file_bytes(announced["MP4"]["file_key"], mp4["size_bytes"], 100, 1124)
    whole = await api.http.get(url, headers=headers)
    assert whole.status_code == 200 and hashlib.sha256(whole.content).hexdigest() == mp4["sha256"]
    audio = await api.http.get(url.replace(mp4["id"], recordings["M4A"]["id"]), headers=headers)
    assert audio.headers["content-type"] == "audio/mp4"

    # The emulator's media are real: a playable MP4 and a WebVTT transcript with speaker names.
    assert whole.content[4:8] == b"ftyp" and audio.content[4:8] == b"ftyp"
    served = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking['id']}/transcript", headers=headers)
    assert served.status_code == 200
    assert [c["speaker"] for c in served.json()["cues"][:2]] == ["Alex Rivera", "Sam Participant"]
    # Another transcript in place of the stored one is what the page then reads.
    rows = await file_rows(api.services, booking["id"])
    store = RecordingStore.from_settings(api.services.settings)
    store.stored(rows["TRANSCRIPT"].storage_path).write_text(TRANSCRIPT_VTT)
    text = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking['id']}/transcript", headers=headers)
    assert text.status_code == 200
    assert text.json()["cues"][0] == {"start": "00:00:00.000", "end": "00:00:03.000", "start_seconds": 0.0,
                                      "end_seconds": 3.0, "speaker": "Morgan Lee",
                                      "text": "Thanks for joining today, Riley."}
    assert text.json()["text"].splitlines()[1] == "Riley Chen: Happy to help. I mostly compare prices on my phone."

    # Another org sees none of it; nothing secret reached Temporal's history.
    other_id, other_headers = await api.new_org("Curious Co")
    for path in (url, f"/v1/orgs/{org_id}/bookings/{booking['id']}/transcript"):
        assert (await api.http.get(path, headers=other_headers)).status_code == 404
    history = await history_text(temporal_env.client.get_workflow_handle(booking["workflow_id"]))
    assert rec["download_token"] not in history and "/rec/download/" not in history
    async with api.services.db.session() as s:
        events = (await s.exec(select(WebhookEvent).where(WebhookEvent.booking_id == booking["id"]))).all()
    assert {e.route_status for e in events} == {"routed"}
    assert all(rec["download_token"] not in str(e.payload) for e in events)


async def test_a_missed_recording_webhook_is_recovered_by_polling_zoom(api, emulator, temporal_env):
    svc = services_with_hosts(api.services, f"{await new_system_host(emulator)}:1")
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, svc):
        await emulator.control.set_webhook(f"{api.url}/v1/zoom/webhooks", events=[  # Zoom drops this one
            "meeting.started", "meeting.ended", "recording.transcript_completed"])
        org_id, headers, booking, meeting_id = await _booked(api, emulator, "Missed Webhook Research")
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        rec = await emulator.control.complete_recording(meeting_id, ["MP4", "TRANSCRIPT"])
        booking = await _final(api, org_id, headers, booking["id"])
    assert (booking["status"], booking["status_reason"]) == ("completed", None), booking
    by_type = {f["file_type"]: f for f in rec["files"]}
    for r in booking["recordings"]:
        assert r["status"] == "stored"
        assert r["sha256"] == expected_sha256(by_type[r["file_type"]]["file_key"], r["size_bytes"])
    async with api.services.db.session() as s:
        kinds = (await s.exec(select(WebhookEvent.event_type).where(WebhookEvent.booking_id == booking["id"]))).all()
    assert "recording.completed" not in kinds  # it really never came; Zoom's list had the files


async def test_a_late_transcript_arrives_after_zoom_was_asked_and_is_stored(api, emulator, temporal_env):
    svc = services_with_hosts(api.services, f"{await new_system_host(emulator)}:1")
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, svc):
        org_id, headers, booking, meeting_id = await _booked(api, emulator, "Late Transcript Research")
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        await emulator.control.complete_recording(meeting_id, ["MP4"])
        lists = lambda log: [r for r in log if (r["route"] or "").endswith("/recordings")]  # noqa: E731
        before = len(lists(await emulator.control.requests()))
        # The workflow asks Zoom for the overdue transcript (and finds none) before it comes.
        await until(lambda: _more(emulator, lists, before))
        assert (await settled(api, org_id, headers, booking["id"],
                              until=lambda b: True))["status"] == "processing_recording"
        await emulator.control.complete_transcript(meeting_id)
        booking = await _final(api, org_id, headers, booking["id"])
    assert (booking["status"], booking["status_reason"]) == ("completed", None), booking
    assert {r["file_type"]: r["status"] for r in booking["recordings"]} == {"MP4": "stored", "TRANSCRIPT": "stored"}


async def _more(emulator, lists, before: int) -> bool:
    return len(lists(await emulator.control.requests())) > before


async def test_no_transcript_by_the_deadline_completes_without_it(api, emulator, temporal_env):
    svc = services_with_hosts(api.services, f"{await new_system_host(emulator)}:1")
    timings = FAST.model_copy(update={"transcript_deadline": FAST.transcript_first_poll * 3})
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, svc, timings=timings):
        org_id, headers, booking, meeting_id = await _booked(api, emulator, "No Transcript Research")
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        await emulator.control.complete_recording(meeting_id, ["MP4", "M4A"])
        booking = await _final(api, org_id, headers, booking["id"])
    assert (booking["status"], booking["status_reason"]) == ("completed", "transcript_not_available"), booking
    assert "Create audio transcript" in booking["status_message"]
    assert {r["status"] for r in booking["recordings"]} == {"stored"}
    missing = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking['id']}/transcript", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "transcript_not_available"


async def test_a_basic_org_host_ends_no_recording_with_the_reason(api, emulator, temporal_env):
    org_id, headers, session_id = await new_org_with_session(api, "Basic Plan Research")
    email = await fresh_zoom_user(emulator, type=1, account_id="emu-acme", first="Basil")
    await connect_org(api, emulator, org_id, headers, email)
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, api.services):
        booking = await settled(api, org_id, headers,
                                (await book(api, org_id, headers, session_id, start=future(hours=1)))["id"])
        assert booking["meeting"]["host_kind"] == "org", booking
        meeting_id = int(booking["meeting"]["zoom_meeting_id"])
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        booking = await _final(api, org_id, headers, booking["id"])
    assert (booking["status"], booking["status_reason"]) == ("no_recording", "host_cannot_cloud_record"), booking
    assert "Basic (free) Zoom user" in booking["status_message"] and email not in booking["status_message"]
