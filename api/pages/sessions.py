"""Sessions: create one, its agenda, and "Schedule interviewees" (a manual booking).

The booking form turns a local date, time and the browser's time zone into the RFC 3339 start the
API wants, and sends a per-form Idempotency-Key, so a double click or a reload of the POST makes
one booking, not two. The new booking's card polls its own fragment until the meeting exists.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from api.context import SERVICES
from api.openapi import documented
from api.pages import session as sessions, wording
from api.pages.access import Stop, app_page, guarded, posted_form, signed_in, org_time_zone
from api.pages.backend import ApiFailed, Backend
from api.pages.render import html, see_other

routes = web.RouteTableDef()

KINDS = [("idi", "In-Depth Interviews"), ("focus_group", "Focus Group"), ("live", "Live Session")]
PROVIDERS = [("zoom_app", "Zoom App"), ("external_link", "External meeting link")]
LABELS = dict(kind_labels=dict(KINDS), provider_labels=dict(PROVIDERS), kinds=KINDS,
              providers=PROVIDERS)


def not_found_page(current, what: str) -> web.Response:
    return html("error.html", status=404, session=current, title=f"{what} not found",
                message=f"This {what.lower()} does not exist, or it belongs to another "
                        "organization.")


async def get_or_not_found(backend: Backend, current, path: str, what: str) -> dict:
    """GET `path` from the API, or end the request with the not-found page (another org's id
    reads as missing too, so the page never tells the two apart)."""
    try:
        return await backend.get(path)
    except ApiFailed as failed:
        if failed.status == 404:
            raise Stop(not_found_page(current, what)) from None
        raise


# --- sessions ----------------------------------------------------------------------------------


async def _sessions_page(request, current) -> web.Response:
    listed = await Backend(request, current).get("/sessions")
    kept = await sessions.take_form(request.app[SERVICES], current, "/sessions") or {}
    form = kept.get("form") or {"title": "", "kind": "idi", "meeting_provider": "zoom_app"}
    return await app_page(request, current, "sessions.html", nav="sessions",
                          title="Sessions", sessions=listed["sessions"], form=form,
                          error=kept.get("error"), **LABELS)


async def refused(request, current, page: str, error: str, values: dict[str, str],
                  labels: dict[str, str], anchor: str) -> web.Response:
    """Back to the form's page (303) with the error, in the form's own words, and what was typed."""
    await sessions.keep_form(request.app[SERVICES], current, page,
                             wording.as_labelled(error, labels), values)
    return see_other(f"{page}#{anchor}")


@routes.get("/sessions")
@documented("Sessions: the org's sessions and Create Session", auth="session",
            content_type="text/html")
@guarded
async def get_sessions(request: web.Request) -> web.Response:
    return await _sessions_page(request, await signed_in(request))


@routes.post("/sessions")
@documented("Create Session (form); continues to its agenda, or back to Sessions with the error",
            auth="session", status=303, content_type="text/html", errors=(403,))
@guarded
async def post_session(request: web.Request) -> web.Response:
    current = await signed_in(request)
    form = await posted_form(request, current)
    body = {k: str(form.get(k) or "") for k in ("title", "kind", "meeting_provider")}
    try:
        created = await Backend(request, current).post("/sessions", json=body)
    except ApiFailed as failed:
        return await refused(request, current, "/sessions", failed.message, body,
                             wording.SESSION_FORM_LABELS, "session-error")
    return see_other(f"/sessions/{created['id']}")


# --- agenda and bookings ------------------------------------------------------------------------


def _default_form() -> dict[str, str]:
    # Tomorrow, on the hour, in UTC; the page's script shows it in the browser's own zone.
    start = (datetime.now(timezone.utc) + timedelta(days=1)).replace(minute=0, second=0,
                                                                   microsecond=0)
    return {"participant_name": "", "participant_email": "", "duration_minutes": "60",
            "start": start.strftime("%Y-%m-%dT%H:%M"), "tz": "UTC"}


async def _agenda_page(request, current, session_id: str) -> web.Response:
    backend = Backend(request, current)
    s = await get_or_not_found(backend, current, f"/sessions/{session_id}", "Session")
    bookings = (await backend.get(f"/sessions/{session_id}/bookings"))["bookings"]
    kept = await sessions.take_form(request.app[SERVICES], current, f"/sessions/{session_id}") or {}
    return await app_page(request, current, "agenda.html", nav="sessions",
                          title=s["title"], s=s, bookings=bookings,
                          form=kept.get("form") or _default_form(),
                          error=kept.get("error"), csrf=current.csrf,
                          idempotency_key=secrets.token_urlsafe(16), **LABELS)


@routes.get("/sessions/{session}")
@documented("A session's agenda: its bookings with their meetings, and Schedule interviewees",
            auth="session", content_type="text/html", errors=(404,))
@guarded
async def get_agenda(request: web.Request) -> web.Response:
    return await _agenda_page(request, await signed_in(request), request.match_info["session"])


class FormProblem(ValueError):
    pass


def start_time(local: str, tz: str) -> str:
    """`2026-03-02T10:00` in zone `tz` as RFC 3339 with its offset (what the API requires)."""
    try:
        zone = ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise FormProblem(f"The time zone {tz[:60]!r} is not known; reload the page.") from None
    try:
        naive = datetime.strptime(local.strip(), "%Y-%m-%dT%H:%M")
    except ValueError:
        raise FormProblem("Enter the start as a date and a time.") from None
    return naive.replace(tzinfo=zone).isoformat()


@routes.post("/sessions/{session}/bookings")
@documented("Schedule interviewees: add a manual booking (form); back to the agenda, where its "
            "meeting appears (or the error, with what was typed)", auth="session", status=303,
            content_type="text/html", errors=(403, 404))
@guarded
async def post_booking(request: web.Request) -> web.Response:
    current = await signed_in(request)
    form = await posted_form(request, current)
    session_id = request.match_info["session"]
    values = {k: str(form.get(k) or "") for k in
              ("participant_name", "participant_email", "start", "duration_minutes", "tz")}
    try:
        duration = int(values["duration_minutes"])
    except ValueError:
        duration = None
    try:
        if duration is None:
            raise FormProblem("Enter the duration in minutes, e.g. 60.")
        body = {"participant_name": values["participant_name"],
                "participant_email": values["participant_email"],
                "start_time": start_time(values["start"], values["tz"]),
                "duration_minutes": duration}
        key = str(form.get("idempotency_key") or "")[:100] or secrets.token_urlsafe(16)
        booking = await Backend(request, current).post(
            f"/sessions/{session_id}/bookings", json=body, headers={"Idempotency-Key": key})
    except FormProblem as problem:
        return await refused(request, current, f"/sessions/{session_id}", str(problem), values,
                             wording.BOOKING_FORM_LABELS, "booking-error")
    except ApiFailed as failed:
        if failed.status == 404:
            return not_found_page(current, "Session")
        message = failed.message
        if failed.code == "idempotency_key_reused":
            # The same form page was sent again with other values (back button, edit, resend).
            message = ("This form was already used for another booking, so nothing was booked. "
                       "Check the details below and send them again.")
        return await refused(request, current, f"/sessions/{session_id}", message, values,
                             wording.BOOKING_FORM_LABELS, "booking-error")
    # The card below says where its meeting is (often already there: Zoom answered within the
    # booking's wait), so the notice makes no promise about it either way.
    await sessions.flash(request.app[SERVICES], current, "notice",
                         f"Booked {booking['participant_name']}. Their interview is on the agenda "
                         "below.")
    return see_other(f"/sessions/{session_id}#booking-{booking['id']}")


@routes.get("/bookings/{booking}/card")
@documented("A booking's card on the agenda (HTML fragment, polled until the meeting exists)",
            auth="session", content_type="text/html", errors=(401, 404))
@guarded
async def get_booking_card(request: web.Request) -> web.Response:
    current = await signed_in(request, for_script=True)
    booking = await get_or_not_found(Backend(request, current), current,
                                     f"/bookings/{request.match_info['booking']}", "Booking")
    return html("_booking_card.html", b=booking, csrf=current.csrf,
                tz=await org_time_zone(request, current))


@routes.post("/bookings/{booking}/start")
@documented("Start the meeting as its host: fetches a fresh start URL from Zoom and redirects "
            "to it (never stored); when that is refused, a page says why and what to do",
            auth="session", status=303, content_type="text/html", errors=(403, 404, 409, 502))
@guarded
async def post_start_meeting(request: web.Request) -> web.Response:
    current = await signed_in(request)
    await posted_form(request, current)
    backend = Backend(request, current)
    booking_id = request.match_info["booking"]
    booking = await get_or_not_found(backend, current, f"/bookings/{booking_id}", "Booking")
    try:
        start = await backend.get(f"/bookings/{booking_id}/start-url")
    except ApiFailed as failed:
        # The form opened a new tab for Zoom: say in that tab why not and what to do instead.
        meeting = booking.get("meeting") or {}
        return await app_page(request, current, "start_failed.html", nav="sessions",
                              status=failed.status, title="Meeting not started",
                              message=failed.message, booking_id=booking_id,
                              session_id=booking["session_id"],
                              # Only the org's own Zoom user can be signed in to by the org.
                              host_email=meeting.get("host_email")
                              if meeting.get("host_kind") == "org" else None,
                              zoom_meeting_id=meeting.get("zoom_meeting_id"))
    # A host credential: the redirect itself must not be cached or leak as a Referer.
    response = see_other(start["start_url"])
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
