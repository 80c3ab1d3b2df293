"""A session's bookings as CSV, one row per booking, for a researcher's spreadsheet.

The columns are what a research team checks before paying an interviewee or re-booking a
no-show: who, when, the outcome, who attended for how long, what was recorded. Times are RFC 3339
with offset (UTC), like the JSON. A cell that a spreadsheet would run as a formula (starting with
= + - @, or a tab or carriage return) gets a leading apostrophe: names and emails come from
outside and must never execute (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from api.booking_views import BookingOut

COLUMNS = [
    "booking_id", "participant_name", "participant_email", "start_time", "duration_minutes",
    "status", "status_reason", "host_kind", "host_name", "host_email", "zoom_meeting_id",
    "attendance", "attendance_source", "matched_by", "host_joined_at", "interviewee_first_joined_at",
    "interviewee_last_left_at", "interviewee_joins", "interviewee_minutes",
    "recordings_stored", "recordings_total", "transcript",
]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def transcript_state(b: BookingOut) -> str:
    files = [r for r in b.recordings if r.file_type == "TRANSCRIPT"]
    if any(r.status == "stored" for r in files):
        return "stored"
    if files:
        return files[0].status
    return "none"


def row(b: BookingOut) -> list[str]:
    m = b.meeting
    guest = next((p for p in b.attendance.participants if p.role == "interviewee"), None)
    joins = [g.joined_at for g in guest.segments if g.joined_at] if guest else []
    leaves = [g.left_at for g in guest.segments if g.left_at] if guest else []
    values = [
        b.id, b.participant_name, b.participant_email, b.start_time, b.duration_minutes,
        b.status, b.status_reason, m.host_kind if m else None, m.host_name if m else None,
        m.host_email if m else None, m.zoom_meeting_id if m else None,
        b.attendance.status, b.attendance.source, guest.matched_by if guest else None,
        b.attendance.host_joined_at, min(joins) if joins else None, max(leaves) if leaves else None,
        len(guest.segments) if guest else 0,
        guest.minutes if guest else (b.attendance.interviewee_minutes or 0),
        sum(1 for r in b.recordings if r.status == "stored"), len(b.recordings), transcript_state(b),
    ]
    return [_cell(v) for v in values]


def to_csv(bookings: list[BookingOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for b in bookings:
        writer.writerow(row(b))
    return out.getvalue()
