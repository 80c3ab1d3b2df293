"""Zoom's WebVTT transcript read into text and timed cues (transcripts.py), and the recording
routes' answers when a file is not there to serve (api/recordings.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import Booking, IdiSession, Meeting, RecordingFile, utcnow
from tests.webhooks.helpers import new_meeting_id
from api.transcripts import TranscriptError, parse_vtt

ZOOM_VTT = """WEBVTT

1
00:00:01.230 --> 00:00:04.560
Morgan Lee: Thanks for joining,
and welcome.

NOTE Zoom does not write notes, but WebVTT allows them

2
00:01:05,000 --> 00:01:07.500
Riley Chen: Happy: truly.

3
01:02.000 --> 01:03.000
<v Sam Voice>Spoken with a voice tag</v>

4
00:02:00.000 --> 00:02:01.000
No speaker here
"""


def test_zoom_vtt_becomes_cues_with_speakers_and_seconds():
    t = parse_vtt(ZOOM_VTT.encode())
    assert [(c.start, c.end, c.speaker, c.text) for c in t.cues] == [
        ("00:00:01.230", "00:00:04.560", "Morgan Lee", "Thanks for joining, and welcome."),
        ("00:01:05.000", "00:01:07.500", "Riley Chen", "Happy: truly."),
        ("00:01:02.000", "00:01:03.000", "Sam Voice", "Spoken with a voice tag"),
        ("00:02:00.000", "00:02:01.000", None, "No speaker here"),
    ]
    assert (t.cues[1].start_seconds, t.cues[1].end_seconds) == (65.0, 67.5)
    assert t.text.splitlines() == ["Morgan Lee: Thanks for joining, and welcome.", "Riley Chen: Happy: truly.",
                                   "Sam Voice: Spoken with a voice tag", "No speaker here"]


def test_crlf_and_a_byte_order_mark_are_fine():
    t = parse_vtt(("\ufeff" + ZOOM_VTT).replace("\n", "\r\n").encode())
    assert len(t.cues) == 4


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00", b"1\n00:00:01.000 --> 00:00:02.000\nhi\n",
                                     b"\xff\xfe\x00W\x00E"])
def test_anything_that_is_not_webvtt_is_refused(content):
    with pytest.raises(TranscriptError):
        parse_vtt(content)


async def _booking_with_file(api, org_id: str, **file) -> tuple[str, str]:
    session = IdiSession(org_id=org_id, title="Routes study")
    booking = Booking(org_id=org_id, session_id=session.id, participant_name="Pat", participant_email="p@x.test",
                      start_time=utcnow() - timedelta(hours=1), duration_minutes=30, status="completed")
    meeting = Meeting(booking_id=booking.id, org_id=org_id, zoom_meeting_id=str(new_meeting_id()),
                      host_kind="system", start_time=booking.start_time, duration_minutes=30)
    row = RecordingFile(meeting_id=meeting.id, booking_id=booking.id, org_id=org_id, zoom_file_id="zf",
                        file_type="M4A", file_extension="M4A", **file)
    async with api.services.db.session() as s:
        for r in (session, booking, meeting, row):
            s.add(r)
            await s.flush()
        await s.commit()
    return booking.id, row.id


async def test_a_file_not_stored_is_409_with_its_reason_and_the_booking_lists_why(api):
    org_id, headers = await api.new_org("Routes Org")
    booking_id, file_id = await _booking_with_file(api, org_id, status="failed", status_reason="size_mismatch")
    r = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking_id}/recordings/{file_id}/content", headers=headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "recording_not_stored"
    assert "size_mismatch" in r.json()["error"]["message"]
    [listed] = (await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking_id}", headers=headers)).json()["recordings"]
    assert (listed["status"], listed["status_reason"]) == ("failed", "size_mismatch")
    missing = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking_id}/transcript", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "transcript_not_available"


async def test_a_row_pointing_outside_the_store_is_never_served(api):
    org_id, headers = await api.new_org("Escape Org")
    booking_id, file_id = await _booking_with_file(api, org_id, status="stored", size_bytes=10,
                                                   storage_path="../../../../etc/hostname")
    r = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking_id}/recordings/{file_id}/content", headers=headers)
    assert r.status_code == 409
    other = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking_id}/recordings/nope/content", headers=headers)
    assert other.status_code == 404
