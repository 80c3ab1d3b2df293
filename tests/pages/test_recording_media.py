"""The page-side media route: the session cookie opens a stored recording, with Range, for the
signed-in org only (a <video> element cannot send an API key)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import httpx

from models import Booking, IdiSession, Meeting, RecordingFile, new_id, utcnow
from tests.pages.helpers import http_sign_in as sign_in, new_org_key
from models.recording_store import RecordingStore


async def _stored_recording(services, org_id: str, content: bytes, *, status: str = "stored",
                            storage_path: str | None = None) -> tuple[str, str]:
    """A booking of `org_id` with one MP4 on disk under RECORDINGS_DIR; (booking id, file id)."""
    session = IdiSession(org_id=org_id, title="Media study")
    booking = Booking(org_id=org_id, session_id=session.id, participant_name="Pat",
                      participant_email="pat@example.com", start_time=utcnow() + timedelta(days=1),
                      duration_minutes=30, status="completed")
    meeting = Meeting(booking_id=booking.id, org_id=org_id, zoom_meeting_id=str(90000 + len(content)),
                      host_kind="system", start_time=booking.start_time, duration_minutes=30)
    file_id = new_id()
    relative = RecordingStore.relative_path(org_id, booking.id, file_id, "MP4")
    path = Path(services.settings.recordings_dir) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    row = RecordingFile(id=file_id, meeting_id=meeting.id, booking_id=booking.id, org_id=org_id,
                        zoom_file_id=f"zf-{file_id}", file_type="MP4", file_extension="MP4",
                        size_bytes=len(content), status=status,
                        storage_path=storage_path if storage_path is not None else relative)
    async with services.db.session() as s:
        s.add(session)
        await s.flush()
        s.add(booking)
        await s.flush()
        s.add(meeting)
        await s.flush()
        s.add(row)
        await s.commit()
    return booking.id, file_id


async def test_the_cookie_opens_the_orgs_own_recording_with_range(api, page_client):
    org_id, key = await new_org_key(api.services, "Media Org")
    content = os.urandom(64 * 1024)
    booking_id, file_id = await _stored_recording(api.services, org_id, content)
    url = f"/bookings/{booking_id}/recordings/{file_id}"

    assert (await page_client.get(url)).status_code == 401  # not signed in
    await sign_in(page_client, key)
    r = await page_client.get(url, headers={"Range": "bytes=1000-1999"})
    assert r.status_code == 206
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["content-range"] == f"bytes 1000-1999/{len(content)}"
    assert r.content == content[1000:2000]
    whole = await page_client.get(url)
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["content-disposition"].startswith("inline")
    download = await page_client.get(url, params={"download": "1"})
    assert download.headers["content-disposition"].startswith("attachment")

    # Another org's session sees nothing, whatever ids it guesses.
    _, other_key = await new_org_key(api.services, "Other Media Org")
    async with httpx.AsyncClient(base_url=api.url) as other:
        await sign_in(other, other_key)
        r = await other.get(url)
    assert r.status_code == 404
    assert content[:100] not in r.content


async def test_a_file_that_is_not_stored_or_outside_the_store_is_not_served(api, page_client):
    org_id, key = await new_org_key(api.services, "Pending Media Org")
    await sign_in(page_client, key)
    booking_id, file_id = await _stored_recording(api.services, org_id, b"x" * 100, status="downloading")
    r = await page_client.get(f"/bookings/{booking_id}/recordings/{file_id}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "recording_not_stored"
    booking_id, file_id = await _stored_recording(api.services, org_id, b"y" * 100,
                                                  storage_path="../../../../etc/hostname")
    r = await page_client.get(f"/bookings/{booking_id}/recordings/{file_id}")
    assert r.status_code == 409


async def test_the_panel_says_processing_and_why_a_file_failed(api, page_client):
    org_id, key = await new_org_key(api.services, "Panel Org")
    await sign_in(page_client, key)
    booking_id, _ = await _stored_recording(api.services, org_id, b"v" * 100, status="pending")
    async with api.services.db.session() as s:
        booking = await s.get(Booking, booking_id)
        booking.status = "processing_recording"
        s.add(booking)
        first = (await s.exec(
            RecordingFile.__table__.select().where(RecordingFile.booking_id == booking_id))).first()
        s.add(RecordingFile(meeting_id=first.meeting_id, booking_id=booking_id, org_id=org_id,
                            zoom_file_id="zf-audio", file_type="M4A", file_extension="M4A",
                            status="failed", status_reason="size_mismatch"))
        await s.commit()
    r = await page_client.get(f"/bookings/{booking_id}/panel")
    assert r.status_code == 200
    assert "Processing — recordings usually appear 5–30 minutes after the call" in r.text
    assert "Audio could not be stored: the copy Zoom sent was not the size Zoom announced" in r.text
    assert "<video" not in r.text  # nothing is playable yet


async def test_pages_show_nothing_of_another_org(api, page_client):
    org_id, key = await new_org_key(api.services, "Owner Org")
    booking_id, _ = await _stored_recording(api.services, org_id, b"z" * 100)
    async with api.services.db.session() as s:
        session_id = (await s.get(Booking, booking_id)).session_id
    _, other_key = await new_org_key(api.services, "Curious Org")
    await sign_in(page_client, other_key)
    for path in (f"/sessions/{session_id}", f"/sessions/{session_id}/manage",
                 f"/bookings/{booking_id}/card", f"/bookings/{booking_id}/panel"):
        r = await page_client.get(path)
        assert r.status_code == 404, path
        assert "Media study" not in r.text and "pat@example.com" not in r.text
