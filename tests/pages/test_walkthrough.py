"""The README's walk-through in a real browser (Chromium), against the real stack.

Sign in with the org's key → Integrations says meetings run on Converge's Zoom → a first booking
lands on Converge's account with that reason → Connect Zoom through the emulator's consent page →
Active with the Zoom user's name and email → a second booking lands on the org's Zoom with its
host's name → Manage IDI opens the participant's panel → Disconnect (with its confirmation) →
the sessions, bookings and meetings are all still there. Screenshots of each page go to
docs/screenshots/ (viewport 1280x800) when UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

from sqlmodel import select

from models import ZoomConnection
from tests.pages.helpers import book, connect_zoom, create_session, expect, open_panel, shot, sign_in


async def test_walk_through_connect_book_manage_disconnect(browser_page, web_stack):
    page = browser_page
    emulator = web_stack.emulator
    _, key = await web_stack.new_org("Northwind Research")
    zoom_email = await web_stack.zoom_user("Morgan", "Lee")

    # Sign in (asked for by the Integrations page itself), bad key first.
    await page.goto("/settings/integrations")
    assert "/signin" in page.url
    await page.fill("input[name=api_key]", "cvg_wrong")
    await page.click("button:has-text('Sign in')")
    await expect(page.locator("#signin-error")).to_contain_text("That API key is not valid")
    await shot(page, "signin")
    await page.fill("input[name=api_key]", key)
    await page.click("button:has-text('Sign in')")
    await expect(page).to_have_url(f"{web_stack.url}/settings/integrations")
    await expect(page.locator("#zoom-summary")).to_have_text(
        "Not connected. Meetings are hosted on Converge's Zoom account.")
    await expect(page.locator("#connect-zoom")).to_have_text("Connect Zoom")

    # A first booking before connecting: Converge's account, and why.
    session_id = await create_session(page, "Pricing study")
    first = await book(page, "Pat Doe", "pat@example.com")
    await expect(first.locator(".host-kind")).to_contain_text(
        "Converge's Zoom account, because your organization has not connected a Zoom account")
    await expect(first.locator(".host-name")).to_contain_text("Converge Host")

    # Connect Zoom: Zoom's (the emulator's) consent page, Allow, back to Integrations.
    await page.goto("/settings/integrations")
    await shot(page, "integrations-not-connected")
    await page.click("#connect-zoom")
    await expect(page.locator("h1")).to_contain_text("Authorize")
    await page.select_option("select[name=user]", label=f"Morgan Lee <{zoom_email}>")
    await shot(page, "zoom-consent")
    await page.click("button:has-text('Allow')")
    # Back at Converge: which Zoom user goes to which org, and nothing stored until Connect.
    await expect(page.locator("#confirm-zoom-email")).to_have_text(zoom_email)
    await expect(page.locator("#confirm-org")).to_be_visible()
    await page.click("#confirm-connect")
    await expect(page).to_have_url(f"{web_stack.url}/settings/integrations?zoom=connected")
    await expect(page.locator(".banner.notice")).to_have_text("Zoom is connected.")
    await expect(page.locator("#zoom-status")).to_have_text("Active")
    await expect(page.locator("#zoom-user-name")).to_have_text("Morgan Lee")
    await expect(page.locator("#zoom-email")).to_have_text(zoom_email)
    await expect(page.locator("#zoom-warnings")).to_have_count(0)
    await shot(page, "integrations-active")

    # A second booking: the org's own Zoom user hosts it.
    await page.goto(f"/sessions/{session_id}")
    second = await book(page, "Riley Chen", "riley@example.com", duration=30)
    await expect(second.locator(".host-kind")).to_have_text("Your organization's Zoom account")
    await expect(second.locator(".host-name")).to_contain_text("Morgan Lee")
    await expect(second.locator(".host-name")).to_contain_text(zoom_email)
    meeting_id = (await second.locator(".meeting-id").inner_text()).strip()
    assert any(str(m["id"]) == meeting_id and m["host_email"] == zoom_email
               for m in await emulator.control.meetings(host=zoom_email)), meeting_id
    await page.evaluate("window.scrollTo(0, 0)")
    await shot(page, "agenda")

    # When the time comes, the host starts the meeting from the agenda (a fresh start URL).
    async with page.expect_popup() as opened:
        await second.locator("button:has-text('Start meeting as host')").click()
    start_page = await opened.value
    await start_page.wait_for_load_state()
    assert f"/s/{meeting_id}?zak=" in start_page.url
    await start_page.close()

    # Manage IDI: the participant's panel; no call yet, so it says so.
    await page.click("#manage-idi")
    await open_panel(page, "button.participant:has-text('Riley Chen')")
    panel = page.locator("#panel")
    await expect(panel.locator("h2")).to_have_text("Riley Chen")
    await expect(panel.locator("#not-held")).to_contain_text("has not taken place yet")
    await shot(page, "manage-idi-panel")
    await page.click("[data-panel-close]")
    await expect(panel).to_be_hidden()

    # Disconnect, with its confirmation step.
    await page.goto("/settings/integrations")
    await page.click("#disconnect-zoom")
    await expect(page.locator("h1")).to_have_text("Disconnect Zoom?")
    await expect(page.locator("main")).to_contain_text("No historical data is deleted")
    await shot(page, "disconnect-confirm")
    await page.click("#confirm-disconnect")
    await expect(page).to_have_url(f"{web_stack.url}/settings/integrations")
    await expect(page.locator(".banner.notice")).to_contain_text("Zoom is disconnected")
    await expect(page.locator("#zoom-status")).to_have_text("Disconnected")
    await expect(page.locator("#connect-zoom")).to_have_text("Connect Zoom")
    await shot(page, "integrations-disconnected")

    # The history is all still there.
    await page.goto(f"/sessions/{session_id}")
    kept = page.locator("article.booking", has_text="Riley Chen")
    await expect(kept.locator(".meeting-id")).to_have_text(meeting_id)
    await expect(kept.locator(".host-kind")).to_have_text("Your organization's Zoom account")
    await expect(page.locator("article.booking", has_text="Pat Doe").locator(".join-url")).to_be_visible()
    await page.goto(f"/sessions/{session_id}/manage")
    await expect(page.locator("button.participant")).to_have_count(2)
    await page.goto("/sessions")
    await expect(page.locator("#session-list")).to_contain_text("Pricing study")
    await shot(page, "sessions")


async def test_a_basic_host_is_warned_at_connect_time(browser_page, web_stack):
    page = browser_page
    _, key = await web_stack.new_org("Basil's Lab")
    email = await web_stack.zoom_user("Basil", "Free", type=1)
    await sign_in(page, key)
    await connect_zoom(page, "Basil Free", email)
    warning = page.locator("#zoom-warnings li[data-code=basic_host]")
    await expect(warning).to_contain_text("cannot record to the cloud")
    await expect(warning).to_contain_text("reconnect Zoom")
    await shot(page, "integrations-basic-warning")


async def test_an_expired_connection_says_why_and_offers_reconnect(browser_page, web_stack):
    page = browser_page
    org_id, key = await web_stack.new_org("Expiring Org")
    email = await web_stack.zoom_user("Sam", "Stale")
    await sign_in(page, key)
    await connect_zoom(page, "Sam Stale", email)
    async with web_stack.services.db.session() as s:
        row = (await s.exec(select(ZoomConnection).where(ZoomConnection.org_id == org_id))).one()
    await web_stack.services.tokens.mark_expired(row.id, "refresh_failed")
    await page.reload()
    await expect(page.locator("#zoom-status")).to_have_text("Expired")
    problem = page.locator("#zoom-problem")
    await expect(problem).to_contain_text("Zoom stopped accepting Converge's access")
    await expect(problem).to_contain_text("click Reconnect Zoom")
    await expect(page.locator("#zoom-user-name")).to_have_text("Sam Stale")
    await expect(page.locator("#connect-zoom")).to_have_text("Reconnect Zoom")
    await shot(page, "integrations-expired")


async def test_the_meeting_appears_on_the_agenda_without_a_reload(browser_page, web_stack):
    """Zoom is slow to create the meeting (longer than the booking response waits): the card
    says so, then shows the meeting by itself."""
    page = browser_page
    _, key = await web_stack.new_org("Slow Zoom Org")
    await sign_in(page, key)
    await create_session(page, "Patience study")
    await web_stack.emulator.control.add_fault(
        "/v2/users/*/meetings", method="POST", action="delay", latency_ms=4000, count=1)
    await page.click("#schedule summary")
    await page.fill("input[name=participant_name]", "Jo Wait")
    await page.fill("input[name=participant_email]", "jo@example.com")
    await page.click("#booking-form button:has-text('Add booking')")
    card = page.locator("article.booking", has_text="Jo Wait")
    await expect(card.locator(".pending-note")).to_contain_text("Creating the Zoom meeting")
    await page.evaluate("window.__stillTheSamePage = true")
    await expect(card.locator(".join-url")).to_be_visible()
    await expect(card.locator(".host-kind")).to_contain_text("Converge's Zoom account")
    assert await page.evaluate("window.__stillTheSamePage === true")


async def test_a_revoked_connection_says_the_app_was_removed(browser_page, web_stack):
    """The Zoom user removes the app in Zoom: a signed app_deauthorized webhook arrives, and the
    page says Revoked, why, and what to do."""
    page = browser_page
    _, key = await web_stack.new_org("Revoking Org")
    email = await web_stack.zoom_user("Rae", "Removed")
    await sign_in(page, key)
    await connect_zoom(page, "Rae Removed", email)
    await web_stack.emulator.control.deauthorize(email, wait=True)
    await page.goto("/settings/integrations")
    await expect(page.locator("#zoom-status")).to_have_text("Revoked")
    await expect(page.locator("#zoom-problem")).to_contain_text(
        "The Converge app was removed from this Zoom account")
    await expect(page.locator("#connect-zoom")).to_have_text("Reconnect Zoom")
