"""Manage IDI's side panel after a real call: processing first, then the recording plays in the
browser (through the cookie-checked media route, with Range), the audio is there and the
transcript reads as text. The meeting is driven through the emulator's control API, and its
webhooks, downloads and files go through the recordings work (api/webhooks.py, the booking
workflow's post-call steps)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from models.recording_store import RecordingStore
from models import RecordingFile
from tests.pages.helpers import (
    TRANSCRIPT_VTT,
    book,
    connect_zoom,
    create_session,
    expect,
    open_panel,
    playable_video,
    shot,
    sign_in,
)


async def stored_files(services, booking_id: str) -> dict[str, Path]:
    async with services.db.session() as s:
        rows = (await s.exec(select(RecordingFile).where(RecordingFile.booking_id == booking_id))).all()
    return {r.file_type: RecordingStore.from_settings(services.settings).stored(r.storage_path) for r in rows if r.status == "stored"}


async def test_the_panel_plays_the_recording_and_shows_the_transcript(browser_page, web_stack):
    page = browser_page
    control = web_stack.emulator.control
    _, key = await web_stack.new_org("Harbor Insights")
    email = await web_stack.zoom_user("Morgan", "Lee")
    await sign_in(page, key)
    await connect_zoom(page, "Morgan Lee", email)
    session_id = await create_session(page, "Checkout interviews")
    card = await book(page, "Riley Chen", "riley@example.com", duration=30)
    booking_id = (await card.get_attribute("id")).removeprefix("booking-")
    meeting_id = int((await card.locator(".meeting-id").inner_text()).strip())

    # The call happens; Zoom is still processing the recording.
    await control.start_meeting(meeting_id)
    await control.end_meeting(meeting_id, wait=True)
    await page.goto(f"/sessions/{session_id}/manage")
    await open_panel(page, "button.participant:has-text('Riley Chen')")
    panel = page.locator("#panel")
    while not await panel.locator("#processing").count():
        await open_panel(page)
    await expect(panel.locator("#processing")).to_have_text(
        "Processing — recordings usually appear 5–30 minutes after the call, depending on its length.")
    await shot(page, "manage-idi-processing")

    # Zoom finishes the recording, then the transcript; the service downloads them.
    await control.complete_recording(meeting_id, ["MP4", "M4A"], wait=True)
    await control.complete_transcript(meeting_id, wait=True)
    while True:
        files = await stored_files(web_stack.services, booking_id)
        if {"MP4", "M4A", "TRANSCRIPT"} <= files.keys():
            break
        await page.wait_for_timeout(200)
    files["MP4"].write_bytes(await playable_video(page.context))
    files["TRANSCRIPT"].write_text(TRANSCRIPT_VTT)

    badge = panel.locator("[data-panel-badge]")
    while True:  # the booking completes a moment after its last file is stored
        await open_panel(page)
        if await badge.inner_text() == "Recording ready":
            break
    video = panel.locator("video")
    await expect(video).to_have_count(1)
    await expect(panel.locator("audio")).to_have_count(1)
    await expect(panel.locator("#processing")).to_have_count(0)
    await video.evaluate("v => { v.muted = true; return v.play(); }")
    await page.wait_for_function(
        "() => { const v = document.querySelector('#panel video'); return v.currentTime > 0.5; }")
    assert await video.evaluate("v => v.readyState") >= 2
    src = await video.get_attribute("src")
    ranged = await page.request.get(src, headers={"Range": "bytes=0-9"})
    assert ranged.status == 206 and len(await ranged.body()) == 10
    transcript = panel.locator("#transcript")
    await expect(transcript).to_contain_text("Thanks for joining today, Riley.")
    await expect(transcript).to_contain_text("I mostly compare prices on my phone.")
    # The participant list shows what the panel found (it was rendered before the call).
    await expect(page.locator("#participants .badge")).to_have_text("Recording ready")
    await transcript.scroll_into_view_if_needed()
    await shot(page, "manage-idi-recording")

    # Disconnecting Zoom deletes none of it.
    await page.goto("/settings/integrations")
    await page.click("#disconnect-zoom")
    await page.click("#confirm-disconnect")
    await expect(page.locator("#zoom-status")).to_have_text("Disconnected")
    await page.goto(f"/sessions/{session_id}/manage")
    await open_panel(page, "button.participant:has-text('Riley Chen')")
    await expect(panel.locator("video")).to_have_count(1)
    await expect(panel.locator("audio")).to_have_count(1)
    await expect(panel.locator("#transcript")).to_contain_text("Thanks for joining today, Riley.")
    kept = await page.request.get(src, headers={"Range": "bytes=0-9"})
    assert kept.status == 206
