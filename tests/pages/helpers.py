"""Steps the page tests share: signing in over HTTP, and the browser walk-through's steps.

The browser steps work on a Playwright page whose base URL is the test stack (conftest.py), and
use the product's own words and element ids, as a person would follow them.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import httpx

try:
    from playwright.async_api import expect
except ImportError:  # the browser tests skip themselves (conftest's `chromium` fixture)
    expect = None

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- over plain HTTP ----------------------------------------------------------------------------


def csrf_of(page_html: str) -> str:
    match = _CSRF.search(page_html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


async def new_org_key(services, name: str = "Acme Research") -> tuple[str, str]:
    from api.orgs import create_org

    created = await create_org(services, name)
    return created.id, created.api_key


async def http_sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    """Sign in as a browser would: GET the form (token + cookie), POST it back."""
    form = await client.get("/signin")
    assert form.status_code == 200
    return await client.post("/signin", data={"api_key": key, "csrf_token": csrf_of(form.text),
                                              "next": "/sessions"})


# --- in the browser -----------------------------------------------------------------------------


async def shot(page, name: str, *, full_page: bool = False) -> None:
    """A screenshot of the viewport (1280x800, or the phone's 375 px) for docs/screenshots/, when
    asked for with UPDATE_SCREENSHOTS=1 (an ordinary test run leaves the committed pictures
    alone); `full_page` takes the whole page, as a phone user scrolls it."""
    if os.environ.get("UPDATE_SCREENSHOTS") != "1":
        return
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


async def sign_in(page, key: str, start: str = "/sessions") -> None:
    await page.goto(start)
    assert "/signin" in page.url
    await page.fill("input[name=api_key]", key)
    await page.click("button:has-text('Sign in')")
    await expect(page.locator("header .org")).to_be_visible()


async def connect_zoom(page, name: str, email: str) -> None:
    """Integrations → Connect Zoom → the emulator's consent page → Allow → back, Active."""
    await page.goto("/settings/integrations")
    await page.click("#connect-zoom")
    await page.select_option("select[name=user]", label=f"{name} <{email}>")
    await page.click("button:has-text('Allow')")
    await page.click("#confirm-connect")  # Converge asks which Zoom user goes to which org
    await expect(page.locator("#zoom-status")).to_have_text("Active")


async def create_session(page, title: str) -> str:
    await page.goto("/sessions")
    if await page.locator("#create-session").get_attribute("open") is None:
        await page.click("#create-session summary")
    await page.fill("input[name=title]", title)
    await page.check("input[name=kind][value=idi]")
    await page.check("input[name=meeting_provider][value=zoom_app]")
    await page.click("#create-session button:has-text('Create Session')")
    await expect(page.locator("#session-title")).to_have_text(title)
    return page.url.rsplit("/", 1)[1]


async def book(page, name: str, email: str, duration: int = 45):
    """Schedule interviewees → a manual booking; its card once the meeting shows."""
    await page.click("#schedule summary")
    await page.fill("input[name=participant_name]", name)
    await page.fill("input[name=participant_email]", email)
    await page.fill("input[name=duration_minutes]", str(duration))
    await page.click("#booking-form button:has-text('Add booking')")
    card = page.locator("article.booking", has_text=name)
    await expect(card.locator(".join-url")).to_be_visible()
    return card


async def open_panel(page, opener: str = "[data-panel-refresh]") -> None:
    """Open (or check again) the Manage IDI panel and wait until its new content is in."""
    await page.click(opener)
    await expect(page.locator("#panel[aria-busy]")).to_have_count(0)


# --- real media for the playback test ----------------------------------------------------------
# The emulator's recording files are a deterministic byte pattern (right sizes and checksums, no
# pictures, and a transcript that is not WebVTT), so no browser can play them. To prove the panel
# plays what is stored, through the cookie-checked media route with Range, the playback test swaps
# the stored MP4 for a real clip of a couple of seconds, recorded by Chromium's own MediaRecorder
# from a canvas (no ffmpeg needed), and the transcript for a small real WebVTT.

RECORD_CANVAS = """async () => {
  const c = document.createElement('canvas'); c.width = 160; c.height = 120;
  document.body.appendChild(c);
  const ctx = c.getContext('2d'); let i = 0;
  const paint = setInterval(() => { ctx.fillStyle = `hsl(${(i++ * 20) % 360},80%,50%)`;
                                    ctx.fillRect(0, 0, 160, 120); }, 40);
  const type = MediaRecorder.isTypeSupported('video/mp4') ? 'video/mp4' : 'video/webm';
  const rec = new MediaRecorder(c.captureStream(25), {mimeType: type});
  const chunks = []; rec.ondataavailable = e => chunks.push(e.data);
  const stopped = new Promise(r => rec.onstop = r);
  rec.start(); await new Promise(r => setTimeout(r, 2500)); rec.stop(); await stopped;
  clearInterval(paint);
  const bytes = new Uint8Array(await new Blob(chunks).arrayBuffer());
  let s = ''; for (let k = 0; k < bytes.length; k++) s += String.fromCharCode(bytes[k]);
  return btoa(s);
}"""

TRANSCRIPT_VTT = """WEBVTT

1
00:00:00.000 --> 00:00:03.000
Morgan Lee: Thanks for joining today, Riley.

2
00:00:03.500 --> 00:00:07.000
Riley Chen: Happy to help. I mostly compare prices on my phone.
"""


async def playable_video(context) -> bytes:
    """A short real video (MP4 where Chromium can record it, else WebM)."""
    page = await context.new_page()
    try:
        await page.set_content("<!doctype html><body></body>")
        return base64.b64decode(await page.evaluate(RECORD_CANVAS))
    finally:
        await page.close()
