"""After Disconnect, interviews still booked on the old Zoom user are listed on Integrations with
what to do, and their "Start meeting as host" explains in its tab why Converge cannot start them
(the org's connection is gone), instead of landing on the agenda in a new tab."""

from __future__ import annotations

from tests.pages.helpers import book, connect_zoom, create_session, expect, shot, sign_in


async def test_interviews_left_on_the_old_zoom_user_are_listed_and_explained(browser_page, web_stack):
    page = browser_page
    _, key = await web_stack.new_org("Leftover Research")
    email = await web_stack.zoom_user("Drew", "Departed")
    await sign_in(page, key)
    await connect_zoom(page, "Drew Departed", email)
    await expect(page.locator("#old-zoom-user")).to_have_count(0)  # nothing while connected
    session_id = await create_session(page, "Churn interviews")
    card = await book(page, "Kim Lo", "kim@example.com")
    await expect(card.locator(".host-kind")).to_have_text("Your organization's Zoom account")
    booking_id = (await card.get_attribute("id")).removeprefix("booking-")
    meeting_id = (await card.locator(".meeting-id").inner_text()).strip()

    await page.goto("/settings/integrations")
    await page.click("#disconnect-zoom")
    await page.click("#confirm-disconnect")
    await expect(page.locator("#zoom-status")).to_have_text("Disconnected")
    left = page.locator("#old-zoom-user")
    await expect(left).to_contain_text("What to do")
    await expect(left).to_contain_text("start each one from the Zoom app signed in as its host")
    row = left.locator(f"li.stranded[data-booking='{booking_id}']")
    await expect(row).to_contain_text("Kim Lo")
    await expect(row).to_contain_text(f"Zoom meeting {meeting_id}, host {email}")
    await expect(row.locator("a")).to_have_attribute(
        "href", f"/sessions/{session_id}#booking-{booking_id}")
    await shot(page, "integrations-old-zoom-user")

    # Its start button opens a tab that says why not and what to do instead.
    await page.goto(f"/sessions/{session_id}")
    async with page.expect_popup() as opened:
        await page.locator(f"#booking-{booking_id} button:has-text('Start meeting as host')").click()
    tab = await opened.value
    await tab.wait_for_load_state()
    await expect(tab.locator("#start-failed h1")).to_have_text(
        "This meeting cannot be started from Converge")
    await expect(tab.locator("#start-failed-reason")).to_contain_text("disconnected")
    await expect(tab.locator("#start-failed")).to_contain_text(f"sign in to the Zoom app as that user")
    await expect(tab.locator("#start-failed")).to_contain_text(email)
    await shot(tab, "start-meeting-explained")
    await tab.close()
