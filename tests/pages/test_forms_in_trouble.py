"""The pages when something goes wrong, over plain HTTP: a refused form comes back to its own
page (303) in the form's words, unknown page addresses get the styled 404 (API paths keep JSON),
the layout links a favicon, and Sessions has one Create Session button."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import select

from models import Booking
from tests.pages.helpers import csrf_of, http_sign_in, new_org_key


async def _signed_in_with_session(api, client, org_name: str) -> tuple[str, str]:
    """Signed in; a Zoom IDI session made through its form. Returns (session id, csrf)."""
    _, key = await new_org_key(api.services, org_name)
    await http_sign_in(client, key)
    csrf = csrf_of((await client.get("/sessions")).text)
    r = await client.post("/sessions", data={"csrf_token": csrf, "title": "Phone study",
                                             "kind": "idi", "meeting_provider": "zoom_app"})
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1], csrf


def _booking_form(csrf: str, **changes) -> dict[str, str]:
    return {"csrf_token": csrf, "idempotency_key": "form-1", "tz": "Europe/Berlin",
            "participant_name": "Pat Doe", "participant_email": "pat@example.com",
            "start": _in_days(30), "duration_minutes": "60", **changes}


def _in_days(days: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(days=days)).strftime("%Y-%m-%dT10:00")


async def test_a_refused_booking_comes_back_to_the_agenda_naming_the_page_field(api, page_client):
    session_id, csrf = await _signed_in_with_session(api, page_client, "Typo Research")
    r = await page_client.post(f"/sessions/{session_id}/bookings",
                               data=_booking_form(csrf, participant_email="pat.example.com",
                                                  start=_in_days(40)))
    # Back to the page with a GET: a reload or a bookmark never re-posts or shows the POST URL.
    assert r.status_code == 303, r.text
    assert r.headers["location"] == f"/sessions/{session_id}#booking-error"
    page = await page_client.get(r.headers["location"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="booking-error"' in page.text
    assert "Interviewee email &#39;pat.example.com&#39; is not an email address" in page.text
    assert "participant_email" not in page.text.split('id="booking-error"')[1].split("</p>")[0]
    assert 'value="pat.example.com"' in page.text and 'value="Pat Doe"' in page.text
    assert f'value="{_in_days(40)}"' in page.text  # what was typed, not the default
    # Shown once: a reload is the plain agenda.
    again = await page_client.get(f"/sessions/{session_id}")
    assert again.status_code == 200 and 'id="booking-error"' not in again.text

    r = await page_client.post(f"/sessions/{session_id}/bookings",
                               data=_booking_form(csrf, idempotency_key="form-2",
                                                  duration_minutes="5"))
    assert r.status_code == 303
    page = await page_client.get(r.headers["location"])
    assert "Duration (minutes) must be between 15 and 480" in page.text
    async with api.services.db.session() as s:  # nothing was booked
        assert (await s.exec(select(Booking).where(Booking.session_id == session_id))).all() == []


async def test_a_refused_session_form_comes_back_to_sessions(api, page_client):
    _, key = await new_org_key(api.services, "Blank Title Org")
    await http_sign_in(page_client, key)
    csrf = csrf_of((await page_client.get("/sessions")).text)
    r = await page_client.post("/sessions", data={"csrf_token": csrf, "title": "   ",
                                                  "kind": "idi", "meeting_provider": "zoom_app"})
    assert r.status_code == 303 and r.headers["location"] == "/sessions#session-error"
    page = await page_client.get("/sessions")
    error = page.text.split('id="session-error"')[1].split("</p>")[0]
    assert "Title" in error and "title" not in error.replace("Title", "")


async def test_unknown_page_addresses_get_the_styled_404_and_api_paths_keep_json(api, page_client):
    r = await page_client.get("/sesions")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Page not found" in r.text and 'href="/static/pages.css"' in r.text
    # Signed in, the page has the header (the org and Sign out) like every other page.
    _, key = await new_org_key(api.services, "Lost Org")
    await http_sign_in(page_client, key)
    r = await page_client.get("/settings/nowhere")
    assert r.status_code == 404 and "Lost Org" in r.text and "Sign out" in r.text
    # A form's POST address opened as a page (a bookmark): a page, not JSON.
    r = await page_client.get("/sessions/abc/bookings")
    assert r.status_code == 405 and r.headers["content-type"].startswith("text/html")
    for path in ("/v1/nothing", "/v1/orgs/x/nothing", "/static/nothing.css"):
        r = await page_client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/json"), path
        assert r.json()["error"]["code"] == "not_found", path


async def test_the_layout_links_a_favicon_that_is_served(api, page_client):
    page = await page_client.get("/signin")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
    icon = await page_client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert icon.text.startswith("<svg") and "</svg>" in icon.text


async def test_sessions_has_one_create_session_button(api, page_client):
    _, key = await new_org_key(api.services, "One Button Org")
    await http_sign_in(page_client, key)
    page = await page_client.get("/sessions")  # no sessions yet: the form is open
    assert page.text.count("Create Session</") == 1, page.text
