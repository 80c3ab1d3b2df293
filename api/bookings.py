"""Bookings: book an interview into an IDI session, read it, move it, cancel it, start it.

A booking is stored, then its workflow (IdiBookingWorkflow) does the rest; reads come from the
database the workflow keeps current. Changes go through the running workflow (updates), so a
reschedule and a meeting creation can never race each other.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from datetime import datetime, timedelta, timezone

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from api.context import SERVICES
from api.auth import org_row, require_org
from api.booking_input import (
    BookingIn,
    RescheduleIn,
    ValidBooking,
    validate_booking,
    validate_duration,
    validate_start_time,
)
from api.booking_export import to_csv
from api.booking_views import BookingList, BookingOut, StartUrlOut, load_booking, load_bookings
from api.booking_workflow import (
    WorkflowGone,
    call_update,
    cancel_booking_workflow,
    ensure_started,
    start_booking,
    temporal_down,
)
from api.errors import ApiError, parse_body
from api.openapi import documented
from api.sessions import org_session
from connections.meeting_host import MeetingHostChanged, check_meeting_host, meeting_api
from models import Booking, Meeting, Organization, StartUrlIssuance
from connections.tokens import ConnectionUnavailable
from workflows.booking import IdiBookingWorkflow
from workflows.contract import booking_workflow_id
from workflows.booking_types import BookingStatus, Failure, RescheduleRequest
from zoom.errors import ZoomError, ZoomMeetingNotFound

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("api.bookings")
routes = web.RouteTableDef()

IDEMPOTENCY_HEADER = "Idempotency-Key"
_TOOK_PLACE = {BookingStatus.IN_PROGRESS, BookingStatus.ENDED, BookingStatus.PROCESSING_RECORDING,
               BookingStatus.NO_SHOW, BookingStatus.COMPLETED,
               BookingStatus.NO_RECORDING}


def _json(view: BookingOut, status: int = 200) -> web.Response:
    return web.json_response(view.model_dump(mode="json"), status=status)


def _fault_hook(point: str) -> None:
    """Crash tests only: CONVERGE_FAULT_EXIT=<point> ends the process here, as a kill would
    (tests/bookings/test_booking_reconciler.py kills the API between storing and starting)."""
    if os.environ.get("CONVERGE_FAULT_EXIT") == point:
        log.warning("CONVERGE_FAULT_EXIT=%s: exiting now", point)
        os._exit(70)


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _reload(services: Services, booking_id: str) -> Booking:
    async with services.db.session() as s:
        return await s.get(Booking, booking_id)


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200 or not key.isprintable():
        raise ApiError(400, "invalid_idempotency_key",
                       "Idempotency-Key must be 1 to 200 printable characters (a UUID works well).")
    return key


async def _replay(services: Services, org: Organization, key: str, request_hash: str) -> web.Response | None:
    """The answer for a key seen before: the same booking, or 409 if the body differs."""
    async with services.db.session() as s:
        booking = (await s.exec(
            select(Booking).where(Booking.org_id == org.id, Booking.idempotency_key == key)
        )).first()
    if booking is None:
        return None
    if booking.request_hash != request_hash:
        raise ApiError(409, "idempotency_key_reused",
                       "This Idempotency-Key was already used for a different booking request. "
                       "Send a new key for a new booking, or repeat the original request exactly.")
    try:
        await ensure_started(services, booking, org.name)
    except Exception as exc:  # the booking exists; its workflow will be started by the next replay
        log.warning("booking %s: could not check its workflow on replay: %s", booking.id, exc)
    return _json(await load_booking(services, await _reload(services, booking.id)), 200)


@routes.post("/v1/orgs/{org}/sessions/{session}/bookings")
@documented(
    "Book an interview: stores the booking and starts its workflow (the meeting is in the "
    "response when Zoom answers quickly, else read the booking again)",
    body=BookingIn, response=BookingOut, status=202, errors=(400, 409, 415, 422, 503),
    headers={IDEMPOTENCY_HEADER: "Repeat a request safely: the same key and body return the same "
                                 "booking; the same key with another body is a 409"},
)
async def post_booking(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    org = await require_org(request)
    session = await org_session(services, org.id, request.match_info["session"])
    if session.kind != "idi" or session.meeting_provider != "zoom_app":
        raise ApiError(422, "session_not_zoom_idi",
                       f"This session is a {session.kind} on {session.meeting_provider}; bookings "
                       "with Zoom meetings need an in-depth interview (kind 'idi') session with "
                       "meeting_provider 'zoom_app'. Create such a session and book into it.")
    key = _idempotency_key(request)
    valid: ValidBooking = validate_booking(await parse_body(request, BookingIn), _now())
    request_hash = valid.request_hash(session.id)
    if key is not None:
        replay = await _replay(services, org, key, request_hash)
        if replay is not None:
            return replay

    booking = Booking(org_id=org.id, session_id=session.id, idempotency_key=key,
                      request_hash=request_hash, **valid.model_dump())
    booking.workflow_id = booking_workflow_id(booking.id)
    try:
        async with services.db.session() as s:
            s.add(booking)
            await s.commit()
    except IntegrityError:
        # The same key arrived twice at once and the other request stored first.
        replay = await _replay(services, org, key, request_hash) if key else None
        if replay is None:
            raise
        return replay
    _fault_hook("after_booking_stored")
    try:
        await start_booking(services, booking, org.name)
    except Exception as exc:
        # Nothing may stay behind for a booking that never started: the client can retry. Unless
        # the reconciler started it meanwhile (api/booking_reconciler.py; it holds the row while
        # it starts, so this waits for it and then leaves the row).
        async with services.db.session() as s:
            await s.exec(delete(Booking).where(Booking.id == booking.id,
                                               col(Booking.workflow_started_at).is_(None)))
            await s.commit()
        raise temporal_down(exc) from None
    return _json(await load_booking(services, await _reload(services, booking.id)), 202)


LIST_STATUSES = (
    BookingStatus.SCHEDULING, BookingStatus.SCHEDULED, BookingStatus.IN_PROGRESS, BookingStatus.ENDED,
    BookingStatus.PROCESSING_RECORDING, BookingStatus.COMPLETED, BookingStatus.NO_RECORDING,
    BookingStatus.NO_SHOW, BookingStatus.FAILED, BookingStatus.CANCELLED,
)
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 200


def _list_query(request: web.Request) -> tuple[list[str] | None, int, int, bool]:
    """(statuses, offset, page size, csv?) from the query, or a 400 that says what is wrong."""
    q = request.query
    statuses = None
    if q.get("status"):
        statuses = [v.strip() for v in q["status"].split(",") if v.strip()]
        unknown = [v for v in statuses if v not in LIST_STATUSES]
        if unknown or not statuses:
            raise ApiError(400, "invalid_status",
                           f"Unknown status {', '.join(unknown) or q['status']!r}; use one or more "
                           f"(comma-separated) of: {', '.join(LIST_STATUSES)}.")
    try:
        size = int(q.get("page_size", DEFAULT_PAGE_SIZE))
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValueError
    except ValueError:
        raise ApiError(400, "invalid_page_size",
                       f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}.") from None
    offset = 0
    if q.get("page_token"):
        try:
            offset = int(base64.urlsafe_b64decode(q["page_token"].encode()).decode().removeprefix("o:"))
            if offset < 0:
                raise ValueError
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise ApiError(400, "invalid_page_token",
                           "page_token is not one this API handed out; start again without it.") from None
    fmt = q.get("format")
    if fmt not in (None, "json", "csv"):
        raise ApiError(400, "invalid_format", "format must be json or csv.")
    wants_csv = fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("Accept", ""))
    return statuses, offset, size, wants_csv


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


@routes.get("/v1/orgs/{org}/sessions/{session}/bookings")
@documented("List a session's bookings, earliest interview first: status, host, attendance, "
            "recording and transcript state; paged, filterable by status, or CSV for a spreadsheet",
            response=BookingList, errors=(400,),
            query={"status": "Only bookings in these statuses (comma-separated)",
                   "page_size": f"Bookings per page, 1-{MAX_PAGE_SIZE} (default {DEFAULT_PAGE_SIZE})",
                   "page_token": "next_page_token of the previous page",
                   "format": "csv for the whole (filtered) list as CSV; Accept: text/csv does the same"},
            also={"text/csv": "One row per booking (every page), columns as in README 'The interview record'"})
async def list_bookings(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    org = await require_org(request)
    session = await org_session(services, org.id, request.match_info["session"])
    statuses, offset, size, wants_csv = _list_query(request)
    query = select(Booking).where(Booking.org_id == org.id, Booking.session_id == session.id)
    if statuses:
        query = query.where(col(Booking.status).in_(statuses))
    query = query.order_by(Booking.start_time, Booking.id)
    if not wants_csv:
        query = query.offset(offset).limit(size + 1)
    async with services.db.session() as s:
        rows = list((await s.exec(query)).all())
    if wants_csv:
        body = to_csv(await load_bookings(services, rows))
        name = "".join(c if c.isalnum() else "-" for c in session.title).strip("-")[:60] or "session"
        return web.Response(text=body, content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="{name}-bookings.csv"'})
    more = len(rows) > size
    views = await load_bookings(services, rows[:size])
    return web.json_response(BookingList(
        bookings=views, next_page_token=_page_token(offset + size) if more else None,
    ).model_dump(mode="json"))


@routes.get("/v1/orgs/{org}/bookings/{booking}")
@documented("A booking: status (and why), its meeting once it exists, its recordings", response=BookingOut)
async def get_booking(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    org = await require_org(request)
    booking = await org_row(services, Booking, request.match_info["booking"], org.id, "Booking")
    return _json(await load_booking(services, booking))


# A system host's start URL carries that shared Zoom user's ZAK (docs/zoom.md#start-urls-and-the-zak):
# it is handed out only around the booking's own interview, never days ahead.
SYSTEM_HOST_START_EARLY = timedelta(minutes=15)


def _system_start_window(booking: Booking) -> tuple[datetime, datetime]:
    start = booking.start_time
    return start - SYSTEM_HOST_START_EARLY, start + timedelta(minutes=booking.duration_minutes)


async def _record_issuance(services: Services, request: web.Request, org: Organization,
                           booking: Booking, meeting: Meeting) -> None:
    def clean(text: str, limit: int) -> str:
        return "".join(ch for ch in text if ch.isprintable())[:limit]

    async with services.db.session() as s:
        s.add(StartUrlIssuance(
            booking_id=booking.id, meeting_id=meeting.id, org_id=org.id, host_kind=meeting.host_kind,
            host_email=meeting.host_email, requested_by=f"org:{org.id}",
            client_ip=clean(request.remote or "", 64),
            user_agent=clean(request.headers.get("User-Agent", ""), 200)))
        await s.commit()


@routes.get("/v1/orgs/{org}/bookings/{booking}/start-url")
@documented("A fresh start URL for the meeting's host, fetched from Zoom now (never stored, every "
            "issuance recorded); on Converge's system hosts only from 15 minutes before the "
            "interview until its end", response=StartUrlOut, errors=(409, 502))
async def get_start_url(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    org = await require_org(request)
    booking = await org_row(services, Booking, request.match_info["booking"], org.id, "Booking")
    async with services.db.session() as s:
        meeting = (await s.exec(select(Meeting).where(Meeting.booking_id == booking.id))).first()
    if booking.status == BookingStatus.CANCELLED or (meeting is not None and meeting.status == "deleted"):
        raise ApiError(409, "booking_cancelled", "The booking was cancelled and its Zoom meeting deleted.")
    if meeting is None:
        raise ApiError(409, "meeting_not_ready",
                       f"The booking has no Zoom meeting yet (status {booking.status}); read the "
                       "booking again once it is scheduled.")
    if meeting.host_kind == "system":
        opens, closes = _system_start_window(booking)
        now = _now()
        if not opens <= now <= closes:
            when = (f"from {opens.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}" if now < opens
                    else "no more: the interview's time is over")
            raise ApiError(409, "start_url_outside_window",
                           "This meeting is on one of Converge's shared Zoom hosts, whose start "
                           "link works as that Zoom user, so it is only handed out from 15 minutes "
                           f"before the interview until its end ({when}). Participants can always "
                           "use the join link.")
    try:
        api = await meeting_api(services, meeting)
        try:
            zoom_meeting = await api.get_meeting(meeting.zoom_meeting_id)
        except ZoomMeetingNotFound:
            # Gone, unless the org reconnected as another user during the call.
            await check_meeting_host(services, meeting)
            raise
    except MeetingHostChanged as exc:
        raise ApiError(409, Failure.ORG_CONNECTION_LOST, str(exc)) from None
    except ConnectionUnavailable as exc:
        raise ApiError(409, "zoom_connection_unavailable",
                       f"This meeting is hosted on your organization's Zoom account and the Zoom "
                       f"connection is {exc.reason}. Reconnect Zoom under Integrations, or start the "
                       "meeting from the Zoom app as its host.") from None
    except ZoomMeetingNotFound:
        raise ApiError(409, "zoom_meeting_gone",
                       f"Zoom meeting {meeting.zoom_meeting_id} no longer exists at Zoom (deleted "
                       "there?). Cancel this booking and book the interview again.") from None
    except ZoomError as exc:
        log.warning("start url for booking %s: %s", booking.id, exc)
        raise ApiError(502, "zoom_unavailable", "Zoom did not answer; try again in a moment.") from None
    start_url = zoom_meeting.get("start_url")
    if not start_url:
        raise ApiError(502, "zoom_unavailable", "Zoom's answer had no start URL; try again in a moment.")
    await _record_issuance(services, request, org, booking, meeting)
    out = StartUrlOut(start_url=start_url, zoom_meeting_id=meeting.zoom_meeting_id, host_email=meeting.host_email)
    # A host credential: never cached by a browser or a proxy.
    return web.json_response(out.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@routes.patch("/v1/orgs/{org}/bookings/{booking}")
@documented("Reschedule: new start_time and/or duration_minutes; the same Zoom meeting is moved",
            body=RescheduleIn, response=BookingOut, errors=(400, 409, 415, 422, 429, 502, 503))
async def patch_booking(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    org = await require_org(request)
    booking = await org_row(services, Booking, request.match_info["booking"], org.id, "Booking")
    body = await parse_body(request, RescheduleIn)
    if body.start_time is None and body.duration_minutes is None:
        raise ApiError(400, "nothing_to_change", "Send start_time and/or duration_minutes to reschedule.")
    start = validate_start_time(body.start_time, _now()) if body.start_time is not None else booking.start_time
    duration = validate_duration(body.duration_minutes) if body.duration_minutes is not None else booking.duration_minutes
    if booking.status != BookingStatus.SCHEDULED:
        raise ApiError(409, "booking_not_reschedulable",
                       f"The booking is {booking.status}; only a scheduled booking can be rescheduled"
                       + (" - try again once its meeting is created." if booking.status == BookingStatus.SCHEDULING else "."))
    if start == booking.start_time and duration == booking.duration_minutes:
        # Nothing changes: answer as a reschedule would, without an update in the workflow's
        # history or a call to Zoom (both are bounded: Zoom allows 100 updates a day per host).
        return _json(await load_booking(services, booking))
    try:
        done = await call_update(services, booking, IdiBookingWorkflow.reschedule,
                                 RescheduleRequest(start_time=start, duration_minutes=duration))
    except WorkflowGone:
        raise ApiError(409, "booking_not_reschedulable", "The booking has finished; it can no longer be rescheduled.") from None
    if not done:
        raise ApiError(503, "booking_busy", "The booking did not answer in time; read it again, then retry if the time has not changed.")
    return _json(await load_booking(services, await _reload(services, booking.id)))


@routes.post("/v1/orgs/{org}/bookings/{booking}/cancel")
@documented("Cancel: the Zoom meeting is deleted; the booking is kept as cancelled",
            response=BookingOut, errors=(409, 503))
async def cancel_booking(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    org = await require_org(request)
    booking = await org_row(services, Booking, request.match_info["booking"], org.id, "Booking")
    if booking.status == BookingStatus.CANCELLED:
        return _json(await load_booking(services, booking))
    if booking.status in _TOOK_PLACE:
        raise ApiError(409, "booking_not_cancellable",
                       f"The interview already took place (status {booking.status}); there is nothing to cancel.")
    if booking.status == BookingStatus.FAILED:
        raise ApiError(409, "booking_not_cancellable",
                       "The booking failed, so no meeting exists; there is nothing to cancel.")
    try:
        done = await cancel_booking_workflow(services, booking)
    except WorkflowGone:
        done = True  # finished meanwhile: report what it ended as
    view = await load_booking(services, await _reload(services, booking.id))
    if done and view.status != BookingStatus.CANCELLED:
        raise ApiError(409, "booking_not_cancellable", f"The booking is {view.status}; it can no longer be cancelled.")
    # 202: the workflow took the cancel and is still deleting the meeting (Zoom is slow); the
    # booking will read `cancelled`. A refusal was a 409 above, with its reason.
    return _json(view, 200 if done else 202)
