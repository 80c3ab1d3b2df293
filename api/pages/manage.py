"""Manage IDI: the session's participants, and a side panel with each interview's recording,
audio and transcript, played in the browser.

The media route is the page-side door to a stored recording file: it takes the session cookie
(a <video> element cannot send an API key) and checks the file belongs to the signed-in org, then
hands the file to aiohttp's FileResponse, which answers Range requests, so the browser can seek
and stream without downloading the whole file first.
"""

from __future__ import annotations


from aiohttp import web

from api.context import SERVICES
from api.openapi import documented
from api.pages.access import app_page, guarded, org_time_zone, signed_in
from api.pages.backend import ApiFailed, Backend
from api.pages.render import html
from api.pages.sessions import LABELS, get_or_not_found
from api.auth import org_row
from api.recordings import content_disposition, stored_file
from models import RecordingFile

routes = web.RouteTableDef()

PROCESSING_STATUSES = {"ended", "processing_recording"}
VIDEO, AUDIO, TRANSCRIPT = {"MP4"}, {"M4A"}, {"TRANSCRIPT"}


@routes.get("/sessions/{session}/manage")
@documented("Manage IDI: the session's participants; each opens a recording and transcript panel",
            auth="session", content_type="text/html", errors=(404,))
@guarded
async def get_manage(request: web.Request) -> web.Response:
    current = await signed_in(request)
    backend = Backend(request, current)
    session_id = request.match_info["session"]
    s = await get_or_not_found(backend, current, f"/sessions/{session_id}", "Session")
    bookings = (await backend.get(f"/sessions/{session_id}/bookings"))["bookings"]
    return await app_page(request, current, "manage.html", nav="sessions", title="Manage IDI",
                          s=s, bookings=bookings, **LABELS)


ROLE_ORDER = {"host": 0, "interviewee": 1}


def panel_context(booking: dict) -> dict:
    """Sort the booking's files into what the panel plays, lists and explains; per-participant
    audio goes under the participant it belongs to."""
    recordings = booking.get("recordings") or []
    stored = [r for r in recordings if r["status"] == "stored"]
    busy = [r for r in recordings if r["status"] in ("pending", "downloading")]
    attendance = booking.get("attendance") or {"participants": []}
    owned = {r["id"] for r in stored if r.get("participant_id")}
    people = [{**p, "audios": [r for r in stored if r.get("participant_id") == p["id"]]}
              for p in attendance.get("participants") or []]
    return {
        "people": people,
        "videos": [r for r in stored if r["file_type"] in VIDEO],
        "audios": [r for r in stored if r["file_type"] in AUDIO and r["id"] not in owned],
        "transcript_file": next((r for r in stored if r["file_type"] in TRANSCRIPT), None),
        "others": [r for r in stored if r["file_type"] not in VIDEO | AUDIO | TRANSCRIPT],
        "failed": [r for r in recordings if r["status"] == "failed"],
        "processing": booking["status"] in PROCESSING_STATUSES or bool(busy),
    }


@routes.get("/bookings/{booking}/panel")
@documented("The Manage IDI side panel of one participant (HTML fragment): recording, audio, "
            "transcript, or why they are not there yet", auth="session",
            content_type="text/html", errors=(401, 404))
@guarded
async def get_panel(request: web.Request) -> web.Response:
    current = await signed_in(request, for_script=True)
    backend = Backend(request, current)
    booking_id = request.match_info["booking"]
    booking = await get_or_not_found(backend, current, f"/bookings/{booking_id}", "Booking")
    ctx = panel_context(booking)
    transcript, note = None, None
    if ctx["transcript_file"] is not None:
        try:
            transcript = await backend.get(f"/bookings/{booking_id}/transcript", ok=(404,))
        except ApiFailed as failed:
            note = f"The transcript could not be shown: {failed.message}"
        if transcript is None and note is None:
            note = "The transcript is stored, but it cannot be shown here yet."
    elif booking["status"] == "completed":
        note = (booking.get("status_message") if booking.get("status_reason") in
                ("transcript_not_available", "transcription_disabled") else None) \
            or "Zoom made no transcript of this interview."
    speakers = sorted({c["speaker"] for c in (transcript or {}).get("cues") or [] if c.get("speaker")})
    return html("_panel.html", b=booking, transcript=transcript, transcript_note=note,
                speakers=speakers, tz=await org_time_zone(request, current), **ctx)


@routes.get("/sessions/{session}/bookings.csv")
@documented("The session's bookings as CSV (status, host, attendance, recordings) for a "
            "spreadsheet: the API's ?format=csv for the signed-in org", auth="session",
            content_type="text/csv", errors=(401, 404))
@guarded
async def get_bookings_csv(request: web.Request) -> web.Response:
    current = await signed_in(request)
    backend = Backend(request, current)
    session_id = request.match_info["session"]
    await get_or_not_found(backend, current, f"/sessions/{session_id}", "Session")
    answer = await backend.get(f"/sessions/{session_id}/bookings", headers={"Accept": "text/csv"},
                               raw=True)
    return web.Response(body=answer.content, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": answer.headers.get("Content-Disposition", 'attachment; filename="bookings.csv"'),
        "Cache-Control": "no-store"})


# --- the stored files ---------------------------------------------------------------------------

@routes.get("/bookings/{booking}/recordings/{recording}")
@documented("A stored recording file for the signed-in org's pages, with Range support (the "
            "<video> and <audio> source)", auth="session", content_type="application/octet-stream",
            errors=(401, 404, 409))
@guarded
async def get_recording_media(request: web.Request) -> web.StreamResponse:
    current = await signed_in(request, for_script=True)
    services = request.app[SERVICES]
    row = await org_row(services, RecordingFile, request.match_info["recording"], current.org_id,
                        "Recording", booking_id=request.match_info["booking"])
    response = stored_file(services, row, not_stored="open the panel again later.")
    disposition = "attachment" if request.query.get("download") else "inline"
    response.headers["Content-Disposition"] = content_disposition(row, disposition)
    return response
