"""What a booking request must say, checked before anything is stored or started.

Each problem gets its own error code and a message that names the field and how to fix it: a
booking tool shows these to the person who typed the time or the address.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict, StrictInt

from api.errors import ApiError
from api.input_guard import parse_rfc3339, single_line

MIN_DURATION, MAX_DURATION = 15, 480
# How far ahead an interview may be booked. Zoom and Temporal take far more, but nobody books an
# interview years out, and a start in year 9999 overflowed the workflow's date arithmetic.
MAX_DAYS_AHEAD = 366
# Deliberately plain: one @, no spaces, a dot in the domain. Deliverability is Zoom's and the
# mail server's business; this catches typos like "alex.acme.test" or "alex@acme".
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    participant_name: str
    participant_email: str
    start_time: str
    duration_minutes: StrictInt


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_time: str | None = None
    duration_minutes: StrictInt | None = None


class ValidBooking(BaseModel):
    participant_name: str
    participant_email: str
    start_time: datetime
    duration_minutes: int

    def request_hash(self, session_id: str) -> str:
        """Fingerprint of what was asked, for Idempotency-Key replays (times compared in UTC)."""
        canonical = json.dumps({
            "session_id": session_id,
            "participant_name": self.participant_name,
            "participant_email": self.participant_email.lower(),
            "start_time": self.start_time.astimezone(timezone.utc).isoformat(),
            "duration_minutes": self.duration_minutes,
        }, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def validate_booking(body: BookingIn, now: datetime) -> ValidBooking:
    name = single_line(body.participant_name, "participant_name").strip()
    if not name or len(name) > 200:
        raise ApiError(400, "invalid_participant_name",
                       "participant_name must be 1 to 200 characters (the interviewee's name).")
    email = single_line(body.participant_email, "participant_email").strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ApiError(400, "invalid_participant_email",
                       f"participant_email {email[:80]!r} is not an email address; send one like "
                       "name@example.com.")
    return ValidBooking(
        participant_name=name,
        participant_email=email,
        start_time=validate_start_time(body.start_time, now),
        duration_minutes=validate_duration(body.duration_minutes),
    )


def validate_start_time(text: str, now: datetime) -> datetime:
    value = parse_rfc3339(text.strip(), "start_time")
    if value is None:
        shown = "".join(ch if ch.isprintable() else "?" for ch in text[:60])
        raise ApiError(400, "invalid_start_time",
                       f"start_time {shown!r} is not an RFC 3339 date-time; send one like "
                       "2026-12-01T15:00:00Z or 2026-12-01T10:00:00-05:00.")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ApiError(400, "start_time_without_offset",
                       f"start_time {text[:60]!r} has no UTC offset, so the time is ambiguous; "
                       "add Z (UTC) or an offset such as +02:00.")
    if value <= now:
        raise ApiError(422, "start_time_in_past",
                       f"start_time {value.isoformat()} is in the past; choose a time in the future.")
    if value > now + timedelta(days=MAX_DAYS_AHEAD):
        raise ApiError(422, "start_time_too_far",
                       f"start_time {value.isoformat()} is more than {MAX_DAYS_AHEAD} days ahead; "
                       "interviews can be booked up to a year in advance.")
    return value


def validate_duration(minutes: int) -> int:
    if not MIN_DURATION <= minutes <= MAX_DURATION:
        raise ApiError(422, "duration_out_of_range",
                       f"duration_minutes must be between {MIN_DURATION} and {MAX_DURATION} "
                       f"(an interview of 15 minutes to 8 hours); got {minutes}.")
    return minutes
