"""The pages on a phone: at 375 px nothing is wider than the screen (header, cards, badges, the
Manage IDI panel), measured in Chromium as document.scrollingElement.scrollWidth on each page."""

from __future__ import annotations

import pytest_asyncio

from tests.pages.helpers import book, connect_zoom, create_session, expect, open_panel, shot, sign_in

PHONE = {"width": 375, "height": 812}

# The elements sticking out past the right edge, to say what overflows when the test fails.
WIDER_THAN_SCREEN = """() => {
  const w = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > w + 0.5) out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}.${el.className} right=${Math.round(r.right)}`);
  }
  return out.slice(0, 8);
}"""


@pytest_asyncio.fixture
async def phone(chromium, web_stack):
    context = await chromium.new_context(viewport=PHONE, base_url=web_stack.url, is_mobile=True,
                                         has_touch=True, device_scale_factor=2)
    context.set_default_timeout(30_000)
    page = await context.new_page()
    yield page
    await context.close()


async def assert_fits(page) -> None:
    width = await page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], (page.url, width, await page.evaluate(WIDER_THAN_SCREEN))


async def test_every_page_fits_a_375px_phone(phone, web_stack):
    page = phone
    _, key = await web_stack.new_org("Featherstonehaugh & Wolfeschlegel Consumer Research")
    email = await web_stack.zoom_user("Maximiliana", "Featherstonehaugh")
    await sign_in(page, key)
    await assert_fits(page)  # Sessions, empty, with the Create Session form open

    await connect_zoom(page, "Maximiliana Featherstonehaugh", email)
    await assert_fits(page)  # Integrations: Active, the Zoom user's name and email

    session_id = await create_session(page, "Quarterly pricing and packaging interviews, wave 2")
    card = await book(page, "Bartholomew Fitzgerald-Okonkwo",
                      "bartholomew.fitzgerald-okonkwo@research-participants.example.com")
    await expect(card.locator(".badge")).to_have_text("Scheduled")
    # The meeting is already on the card, so the confirmation promises nothing about it.
    await expect(page.locator(".banner.notice")).to_have_text(
        "Booked Bartholomew Fitzgerald-Okonkwo. Their interview is on the agenda below.")
    await assert_fits(page)  # the agenda with the booking card (long join link and host)
    await shot(page, "phone-agenda", full_page=True)

    await page.goto("/sessions")
    await expect(page.locator("#session-list")).to_be_visible()
    await assert_fits(page)  # the sessions list

    await page.goto(f"/sessions/{session_id}/manage")
    await assert_fits(page)  # Manage IDI
    await open_panel(page, "button.participant")
    await expect(page.locator("#panel h2")).to_have_text("Bartholomew Fitzgerald-Okonkwo")
    await assert_fits(page)  # ... with the panel open
    await shot(page, "phone-manage-idi-panel", full_page=True)
