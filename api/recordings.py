"""A booking's stored recording files and its transcript, for the org that owns the booking.

The content route hands the file to aiohttp's FileResponse, which streams it from disk and
answers Range requests (206), so a player can seek in a multi-GiB recording. The transcript
route reads Zoom's WebVTT file and answers it as text plus timed cues (transcripts.py), the shape
the Manage IDI panel shows beside the recording.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from sqlmodel import col, select

from api.auth import require_org
from api.errors import ApiError, not_found
from api.openapi import documented
from models import Booking, RecordingFile
from recording_store import RecordingStore
from transcripts import Transcript, TranscriptError, parse_vtt
from workflows.recording_types import TRANSCRIPT

routes = web.RouteTableDef()

CONTENT_TYPES = {"MP4": "video/mp4", "M4A": "audio/mp4", "VTT": "text/vtt", "TXT": "text/plain",
                 "JSON": "application/json", "CSV": "text/csv"}
# Transcripts are kilobytes (a two-hour interview is well under 1 MiB); this only bounds memory.
MAX_TRANSCRIPT_BYTES = 10 * 1024 * 1024


def content_type(row: RecordingFile) -> str:
    return CONTENT_TYPES.get((row.file_extension or "").upper(), "application/octet-stream")


async def _booking(services, org_id: str, booking_id: str) -> Booking:
    async with services.db.session() as s:
        booking = await s.get(Booking, booking_id)
    if booking is None or booking.org_id != org_id:
        raise not_found("Booking")
    return booking


@routes.get("/v1/orgs/{org}/bookings/{booking}/recordings/{recording}/content")
@documented("A stored recording file of the booking, streamed with Range support "
            "(video/mp4, audio/mp4, text/vtt, text/plain, ...)",
            content_type="application/octet-stream", errors=(409,))
async def get_recording_content(request: web.Request) -> web.StreamResponse:
    services = request.app["ctx"]
    org = await require_org(request)
    async with services.db.session() as s:
        row = (await s.exec(select(RecordingFile).where(
            RecordingFile.id == request.match_info["recording"],
            RecordingFile.booking_id == request.match_info["booking"],
            RecordingFile.org_id == org.id,
        ))).first()
    if row is None:
        raise not_found("Recording")
    path = RecordingStore.from_settings(services.settings).stored(row.storage_path) \
        if row.status == "stored" else None
    if path is None:
        why = f" ({row.status_reason})" if row.status_reason else ""
        raise ApiError(409, "recording_not_stored",
                       f"This recording file is {row.status}{why}, not stored; read the booking "
                       "again for its status.")
    ext = (row.file_extension or "bin").lower()
    return web.FileResponse(path, headers={
        "Content-Type": content_type(row),
        "Content-Disposition": f'attachment; filename="{row.booking_id}-{row.file_type.lower()}-{row.id}.{ext}"',
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
    })


@routes.get("/v1/orgs/{org}/bookings/{booking}/transcript")
@documented("The interview's transcript: its whole text and its timed cues "
            "(start, end, speaker, text), read from Zoom's WebVTT file",
            response=Transcript, errors=(422,))
async def get_transcript(request: web.Request) -> web.Response:
    services = request.app["ctx"]
    org = await require_org(request)
    booking = await _booking(services, org.id, request.match_info["booking"])
    async with services.db.session() as s:
        row = (await s.exec(
            select(RecordingFile)
            .where(RecordingFile.booking_id == booking.id, RecordingFile.org_id == org.id,
                   RecordingFile.file_type == TRANSCRIPT, RecordingFile.status == "stored")
            .order_by(col(RecordingFile.created_at).desc())
        )).first()
    path = RecordingStore.from_settings(services.settings).stored(row.storage_path) if row else None
    if path is None:
        raise ApiError(404, "transcript_not_available",
                       "This booking has no stored transcript"
                       + (f" (booking {booking.status}" + (f": {booking.status_reason})" if booking.status_reason else ")"))
                       + ". Zoom sends the transcript after the recording; read the booking for its status.")
    if path.stat().st_size > MAX_TRANSCRIPT_BYTES:
        raise ApiError(422, "transcript_too_large",
                       "The transcript file is too large to show as text; download it from its "
                       f"content URL (recording {row.id}).")
    try:
        transcript = parse_vtt(await asyncio.to_thread(path.read_bytes))
    except TranscriptError as exc:
        raise ApiError(422, "transcript_unreadable",
                       f"The stored transcript cannot be read ({exc}); download it from its "
                       f"content URL (recording {row.id}).") from None
    return web.json_response(transcript.model_dump(mode="json"))
