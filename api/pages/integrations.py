"""Account Settings → Integrations: connect Zoom, see the connection's health, set how many
meetings its Zoom user may host at once, disconnect.

Zoom's OAuth callback (api/integrations.py) already sends the browser back to
`/settings/integrations?zoom=connected`; this is that page.
"""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy import func
from sqlmodel import col, select

from api.context import SERVICES
from api.openapi import documented
from api.pages import session as sessions
from api.pages import wording
from api.pages.access import app_page, guarded, posted_form, signed_in
from api.pages.backend import ApiFailed, Backend
from api.pages.render import see_other
from models import Booking, IdiSession, Meeting, ZoomConnection

routes = web.RouteTableDef()

PAGE = "/settings/integrations"


async def on_old_zoom_user(request: web.Request, org_id: str) -> list[dict]:
    """Upcoming interviews whose meeting belongs to a Zoom user the org is no longer connected as
    (disconnected, expired, revoked, or reconnected as someone else). A meeting never changes host
    (README "Who hosts"), so Converge cannot start, move or cancel these for the org any more."""
    services = request.app[SERVICES]
    now = datetime.now(timezone.utc)
    ends = Booking.start_time + func.make_interval(0, 0, 0, 0, 0, Booking.duration_minutes)
    async with services.db.session() as s:
        conn = (await s.exec(select(ZoomConnection).where(ZoomConnection.org_id == org_id))).first()
        if conn is None:
            return []
        rows = (await s.exec(
            select(Booking, Meeting, IdiSession)
            .join(Meeting, Meeting.booking_id == Booking.id)
            .join(IdiSession, IdiSession.id == Booking.session_id)
            .where(Booking.org_id == org_id, Meeting.connection_id == conn.id,
                   Meeting.host_kind == "org", Meeting.status == "scheduled",
                   col(Booking.status).in_(("scheduled", "in_progress")), ends > now)
            .order_by(Booking.start_time).limit(50))).all()
    still_usable = conn.status == "active"
    return [{"booking": b, "meeting": m, "session": sess} for b, m, sess in rows
            if not (still_usable and (not m.host_user_id or m.host_user_id == conn.zoom_user_id))]


async def _show(request: web.Request, current) -> web.Response:
    zoom = await Backend(request, current).get("/integrations/zoom")
    # Only while it is true: a bookmarked ?zoom=connected must not contradict an expired status.
    connected = request.query.get("zoom") == "connected" and zoom["status"] == "active"
    notice = "Zoom is connected." if connected else None
    return await app_page(request, current, "integrations.html", nav="settings",
                          title="Integrations", zoom=zoom, notice=notice,
                          stranded=await on_old_zoom_user(request, current.org_id))


@routes.get(PAGE)
@documented("Account Settings → Integrations: the Zoom connection, Connect and Disconnect",
            auth="session", content_type="text/html")
@guarded
async def get_integrations(request: web.Request) -> web.Response:
    return await _show(request, await signed_in(request))


@routes.post(PAGE + "/zoom/connect")
@documented("Connect Zoom: redirects the browser to Zoom's authorization page", auth="session",
            status=303, content_type="text/html", errors=(403,))
@guarded
async def post_connect(request: web.Request) -> web.Response:
    current = await signed_in(request)
    await posted_form(request, current)
    try:
        answer = await Backend(request, current).post("/integrations/zoom/connect")
    except ApiFailed as failed:
        # Back to the page (303), so a reload is a GET of Integrations, not a second connect.
        await sessions.flash(request.app[SERVICES], current, "error", failed.message)
        return see_other(PAGE)
    return see_other(answer["authorize_url"])


@routes.post(PAGE + "/zoom/capacity")
@documented("Set the connected Zoom user's concurrent meetings (the form on Integrations)",
            auth="session", status=303, content_type="text/html", errors=(403,))
@guarded
async def post_capacity(request: web.Request) -> web.Response:
    current = await signed_in(request)
    form = await posted_form(request, current)
    raw = str(form.get("concurrent_meetings", "")).strip()
    # Digits become a number; anything else goes as sent, so the API's check names the problem.
    value = int(raw) if raw.isdigit() and len(raw) < 6 else raw
    try:
        zoom = await Backend(request, current).patch("/integrations/zoom", json={"concurrent_meetings": value})
    except ApiFailed as failed:
        # Back to the page (303) with the reason in the form's own words; nothing was changed.
        await sessions.flash(request.app[SERVICES], current, "error", wording.as_labelled(
            failed.message, {"concurrent_meetings": "Meetings your Zoom user can host at once"}))
        return see_other(PAGE)
    n = zoom["concurrent_meetings"]
    await sessions.flash(request.app[SERVICES], current, "notice",
                         f"Your Zoom user now hosts up to {n} interview{'s' if n != 1 else ''} at "
                         "once; interviews past that run on Converge's Zoom account.")
    return see_other(PAGE)


@routes.get(PAGE + "/zoom/disconnect")
@documented("Disconnect Zoom, step 1: what disconnecting does, and a button to confirm",
            auth="session", content_type="text/html")
@guarded
async def get_disconnect(request: web.Request) -> web.Response:
    current = await signed_in(request)
    zoom = await Backend(request, current).get("/integrations/zoom")
    if zoom["status"] in ("not_connected", "disconnected"):
        return see_other(PAGE)
    return await app_page(request, current, "disconnect.html", nav="settings",
                          title="Disconnect Zoom", zoom=zoom)


@routes.post(PAGE + "/zoom/disconnect")
@documented("Disconnect Zoom, step 2 (confirmed): revoke at Zoom, keep all meetings and "
            "recordings", auth="session", status=303, content_type="text/html", errors=(403,))
@guarded
async def post_disconnect(request: web.Request) -> web.Response:
    current = await signed_in(request)
    await posted_form(request, current)
    services = request.app[SERVICES]
    try:
        result = await Backend(request, current).delete("/integrations/zoom")
    except ApiFailed as failed:
        await sessions.flash(services, current, "error", failed.message)
    else:
        await sessions.flash(services, current, "notice",
                             "Zoom is disconnected. New interviews will be hosted on Converge's "
                             "Zoom account; your meetings, recordings and transcripts are kept. "
                             + result["message"])
    return see_other(PAGE)
