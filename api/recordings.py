"""A booking's stored recording files and its transcript, for the org that owns the booking.

The content route hands the file to aiohttp's FileResponse, which streams it from disk and
answers Range requests (206), so a player can seek in a multi-GiB recording. The transcript
route reads Zoom's WebVTT file and answers it as text plus timed cues (transcripts.py), the shape
the Manage IDI panel shows beside the recording.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import asyncio

from aiohttp import web
from sqlmodel import col, select

from api.context import SERVICES
from api.auth import org_row, require_org
from api.errors import ApiError
from api.openapi import documented
from models import Booking, RecordingFile
from models.recording_store import RecordingStore
from api.transcripts import Transcript, TranscriptError, parse_vtt
from workflows.recording_types import TRANSCRIPT

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

routes = web.RouteTableDef()

CONTENT_TYPES = {"MP4": "video/mp4", "M4A": "audio/mp4", "VTT": "text/vtt", "TXT": "text/plain",
                 "JSON": "application/json", "CSV": "text/csv"}
# Transcripts are kilobytes (a two-hour interview is well under 1 MiB); this only bounds memory.
MAX_TRANSCRIPT_BYTES = 10 * 1024 * 1024


def content_type(row: RecordingFile) -> str:
    return CONTENT_TYPES.get((row.file_extension or "").upper(), "application/octet-stream")


def stored_file(services: Services, row: RecordingFile, *, not_stored: str) -> web.FileResponse:
    """The stored file as a FileResponse (Range, 206), or 409 when it is not on disk (yet)."""
    path = (RecordingStore.from_settings(services.settings).stored(row.storage_path)
            if row.status == "stored" else None)
    if path is None:
        why = f" ({row.status_reason})" if row.status_reason else ""
        raise ApiError(409, "recording_not_stored",
                       f"This recording file is {row.status}{why}, not stored; {not_stored}")
    return web.FileResponse(path, headers={
        "Content-Type": content_type(row),
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
    })


def download_name(row: RecordingFile) -> str:
    ext = (row.file_extension or "bin").lower()
    name = f"{row.booking_id}-{row.file_type.lower()}-{row.id}.{ext}"
    # Intake already keeps file_type/extension to letters and digits; this holds for older rows.
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def content_disposition(row: RecordingFile, disposition: str = "attachment") -> str:
    """A quoted filename (and its RFC 6266 filename* twin): no header injection, no odd names."""
    name = download_name(row)
    return f'{disposition}; filename="{name}"; filename*=UTF-8\'\'{quote(name, safe="")}'


@routes.get("/v1/orgs/{org}/bookings/{booking}/recordings/{recording}/content")
@documented("A stored recording file of the booking, streamed with Range support "
            "(video/mp4, audio/mp4, text/vtt, text/plain, ...)",
            content_type="application/octet-stream", errors=(409,))
async def get_recording_content(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    org = await require_org(request)
    row = await org_row(services, RecordingFile, request.match_info["recording"], org.id,
                        "Recording", booking_id=request.match_info["booking"])
    response = stored_file(services, row, not_stored="read the booking again for its status.")
    response.headers["Content-Disposition"] = content_disposition(row)
    return response


@routes.get("/v1/orgs/{org}/bookings/{booking}/transcript")
@documented("The interview's transcript: its whole text and its timed cues "
            "(start, end, speaker, text), read from Zoom's WebVTT file",
            response=Transcript, errors=(422,))
async def get_transcript(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    org = await require_org(request)
    booking = await org_row(services, Booking, request.match_info["booking"], org.id, "Booking")
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
