"""The interview record in the browser: the card says the interview is live, the Manage IDI panel
shows the attendance timeline (in the org's time zone, which the page names), and the session's
bookings download as CSV. The meeting and its people are played by the emulator."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from tests.pages.helpers import book, create_session, expect, open_panel, shot, sign_in


def _at(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def test_live_badge_attendance_timeline_and_csv(browser_page, web_stack):
    page = browser_page
    control = web_stack.emulator.control
    org_id, key = await web_stack.new_org("Timeline Research")
    async with httpx.AsyncClient(base_url=web_stack.url) as http:
        r = await http.patch(f"/v1/orgs/{org_id}", json={"time_zone": "Europe/Berlin"},
                             headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["time_zone"] == "Europe/Berlin", r.text
    await sign_in(page, key)
    session_id = await create_session(page, "Attendance interviews")
    card = await book(page, "Riley Chen", "riley.timeline@example.com", duration=30)
    await expect(card.locator(".when")).to_contain_text("Europe/Berlin")
    meeting_id = int((await card.locator(".meeting-id").inner_text()).strip())
    # The interviewee was registered on the meeting: the card gives their own link first.
    own_link = await card.locator(".interviewee-join-url").get_attribute("href")
    assert own_link and own_link != await card.locator(".join-url").get_attribute("href")

    await control.start_meeting(meeting_id, wait=True)
    badge = card.locator(".badge")
    while await badge.inner_text() != "Live now":
        await page.reload()
    await expect(card.locator("[data-live]")).to_contain_text("The interview is live")
    await shot(page, "agenda-live")

    base = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(second=0, microsecond=0)
    await control.join(meeting_id, "Converge Host", host=True, at=_at(base))
    first = await control.join(meeting_id, "Riley Chen", email="riley.timeline@example.com",
                               join_url=own_link, at=_at(base + timedelta(minutes=3)))
    await control.leave(meeting_id, first["participant_id"], at=_at(base + timedelta(minutes=13)))
    await page.goto(f"/sessions/{session_id}/manage")
    await open_panel(page, "button.participant:has-text('Riley Chen')")
    panel = page.locator("#panel")
    await expect(panel.locator("#live")).to_contain_text("live now")
    await control.join(meeting_id, "Riley Chen", email="riley.timeline@example.com",
                       at=_at(base + timedelta(minutes=15)))
    await control.end_meeting(meeting_id, wait=True)

    guest = panel.locator(".person[data-role=interviewee]")
    while not await panel.locator("[data-attendance-status=attended]").count():
        await open_panel(page)
    berlin = lambda m: (base + timedelta(minutes=m)).astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M")
    await expect(panel.locator("#attendance")).to_contain_text("times in Europe/Berlin")
    await expect(guest.locator(".segment")).to_have_count(2)
    await expect(guest.locator(".segment").first).to_have_text(f"{berlin(3)} – {berlin(13)}")
    await expect(guest).to_contain_text("recognised by their own registration link")
    await expect(panel.locator(".person[data-role=host] .segment")).to_have_count(1)
    await shot(page, "manage-idi-attendance")

    await page.goto(f"/sessions/{session_id}/manage")
    await expect(page.locator(f"[data-attendance]")).to_contain_text("Attended")
    async with page.expect_download() as download_info:
        await page.click("#bookings-csv")
    download = await download_info.value
    assert download.suggested_filename.endswith("-bookings.csv")
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text())))
    assert len(rows) == 1
    row = rows[0]
    assert (row["participant_name"], row["attendance"], row["matched_by"]) == ("Riley Chen", "attended", "registrant_id")
    assert row["interviewee_joins"] == "2" and int(row["interviewee_minutes"]) >= 10
    assert row["interviewee_first_joined_at"] == (base + timedelta(minutes=3)).isoformat()
