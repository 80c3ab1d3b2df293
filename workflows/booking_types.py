"""The data the booking workflow, its activities and the API pass to each other.

Everything here ends up in Temporal history, which ops read in the UI: ids, times, statuses and
reason codes only. Never a token or a start URL, and no participant name or email (activities read
those from the database by booking id).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

HostKind = Literal["org", "system"]


class BookingStatus:
    """Values of `bookings.status` and of the BookingStatus search attribute."""

    SCHEDULING = "scheduling"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"  # Zoom said meeting.started: the interview is live
    ENDED = "ended"
    PROCESSING_RECORDING = "processing_recording"
    COMPLETED = "completed"
    NO_RECORDING = "no_recording"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # The meeting ended without the interviewee (status_reason interviewee_no_show) or without
    # the host (host_no_show). Recordings Zoom made are still stored beside it.
    NO_SHOW = "no_show"

    # Nothing more happens to a booking's status in one of these.
    FINAL = frozenset({COMPLETED, NO_RECORDING, FAILED, CANCELLED, NO_SHOW})


# The same values as a type, so the API's schema lists them (tests/api/test_openapi_truth.py
# checks the two agree).
BookingStatusValue = Literal["scheduling", "scheduled", "in_progress", "ended", "processing_recording",
                             "completed", "no_recording", "failed", "cancelled", "no_show"]


class Failure:
    """ApplicationError types the booking activities raise; each is also the booking's
    status_reason when it ends the booking."""

    LICENSE_UNAVAILABLE = "zoom_license_unavailable"
    DAILY_LIMIT = "zoom_daily_limit"
    SYSTEM_HOSTS_FULL = "system_hosts_full"
    # A reschedule into a time when the org's Zoom user is already at its capacity.
    ORG_HOST_BUSY = "org_host_busy"
    ZOOM_REJECTED = "zoom_rejected"
    ZOOM_UNAVAILABLE = "zoom_unavailable"
    # The org's connection stopped working before any meeting was made there: use the system host.
    ORG_HOST_UNAVAILABLE = "org_host_unavailable"
    # It stopped working while a create there may have succeeded: falling back could make a second
    # meeting, so the booking stops until the org reconnects.
    ORG_CONNECTION_LOST = "org_connection_lost"
    SYSTEM_HOST_MISSING = "system_host_missing"
    MEETING_GONE = "zoom_meeting_gone"
    NOT_RESCHEDULABLE = "booking_not_reschedulable"
    TOO_MANY_RESCHEDULES = "too_many_reschedules"  # the cap that bounds a booking's history
    NOT_CANCELLABLE = "booking_not_cancellable"

    # The ones that end a booking as `failed` with themselves as the reason.
    ENDS_BOOKING = frozenset({
        LICENSE_UNAVAILABLE, DAILY_LIMIT, SYSTEM_HOSTS_FULL, ZOOM_REJECTED, ZOOM_UNAVAILABLE,
        ORG_CONNECTION_LOST, SYSTEM_HOST_MISSING,
    })


# How long after the scheduled end the workflow waits for Zoom to say the meeting ended before it
# concludes the meeting was never held. Meetings start late and run over; a day is "well after".
MEETING_NOT_HELD_AFTER = timedelta(hours=24)


class BookingInput(BaseModel):
    """How the API starts a booking's workflow."""

    booking_id: str
    org_id: str
    org_name: str
    start_time: datetime
    duration_minutes: int


class ResolveHostInput(BaseModel):
    booking_id: str
    org_id: str
    start_time: datetime
    duration_minutes: int
    # Set when the org's Zoom user turned out unusable at create time (e.g. zoom_user_not_found):
    # go straight to the system account and record this as the fallback reason.
    skip_org_reason: str | None = None


class BookingHost(BaseModel):
    """Who hosts the booking's meeting. `system_host` is one of Converge's own pool users (an
    address from ZOOM_SYSTEM_HOSTS, not a customer's); org hosts are named by connection id."""

    kind: HostKind
    connection_id: str | None = None
    system_host: str | None = None
    fallback_reason: str | None = None
    # For activity summaries in the Temporal UI: "Acme Research's Zoom", "system host 1 of 2".
    label: str


class CreateMeetingInput(BaseModel):
    booking_id: str
    host: BookingHost


class MeetingRef(BaseModel):
    """The booking's Zoom meeting, by id; join URL and host details stay in the database."""

    booking_id: str
    zoom_meeting_id: str
    host_kind: HostKind


# Registering the interviewee: Zoom hiccups get this many attempts, then the booking goes on with
# the plain join link (activities/booking_registrants.py records that on the last attempt).
REGISTER_ATTEMPTS = 4


class RegistrationResult(BaseModel):
    """Whether the interviewee now has a join link of their own. The registrant id, the link and
    the person's name and email stay in Postgres (docs/zoom.md#meeting-registrants)."""

    registered: bool
    reason: str | None = None  # why not: host_not_licensed, zoom_refused, connection_unavailable, …


class RescheduleRequest(BaseModel):
    start_time: datetime
    duration_minutes: int


class RescheduleMeetingInput(BaseModel):
    booking_id: str
    start_time: datetime
    duration_minutes: int


class DeleteMeetingInput(BaseModel):
    booking_id: str


class BookingStatusChange(BaseModel):
    booking_id: str
    status: str
    reason: str | None = None
    message: str | None = None


class ZoomEventSignal(BaseModel):
    """A Zoom webhook event routed to this booking (ids only; the inbox row has the payload)."""

    event_id: str
    event_type: str
    zoom_meeting_uuid: str | None = None
    file_ids: list[str] = []


# Zoom's participant webhooks (the catalogue is zoom/webhooks.py; a test keeps the two equal).
PARTICIPANT_EVENTS = frozenset({"meeting.participant_joined", "meeting.participant_left"})


class AttendanceInput(BaseModel):
    """Record who joined and left from these inbox events (the activity reads the payloads:
    participant names and emails stay in Postgres, never in history)."""

    booking_id: str
    event_ids: list[str] = []


class SettleAttendanceInput(BaseModel):
    """After the meeting: complete the record, asking Zoom's past-meeting participants list once
    when the webhooks left it incomplete."""

    booking_id: str
    zoom_meeting_uuid: str | None = None


class AttendanceSummary(BaseModel):
    """Who attended, without saying who they are: flags, minutes and codes only."""

    known: bool = False  # False: no webhook and no answer from Zoom's list; nothing is claimed
    source: str | None = None  # webhooks, zoom_participants_list, or both
    host_joined: bool = False
    interviewee_joined: bool = False
    interviewee_minutes: int = 0
    matched_by: str | None = None  # registrant_id, email or display_name


class BookingState(BaseModel):
    """What the workflow knows right now (query `state`, and the result of its updates)."""

    booking_id: str
    status: str
    status_reason: str | None = None
    status_message: str | None = None
    zoom_meeting_id: str | None = None
    host_kind: HostKind | None = None
    start_time: datetime
    duration_minutes: int
    events: list[ZoomEventSignal] = []
    # A cancel's fate once the workflow has decided it: "cancelling" (the meeting is being
    # deleted; the booking ends cancelled) or "refused" (the meeting started or ended first).
    cancel: str | None = None
