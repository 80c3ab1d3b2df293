"""Every table of the service, in one place.

Ids are uuid4 hex strings made by the service. Times are timezone-aware UTC. Token columns hold
ciphertext from `token_cipher` only; a start URL is never stored at all.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _ts(nullable: bool = True, **kw: Any) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable, **kw))


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False))


class Organization(SQLModel, table=True):
    __tablename__ = "organizations"

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    api_key_hash: str = Field(unique=True, index=True)
    # IANA zone the pages show times in (the API always answers RFC 3339). Migration 0008.
    time_zone: str = Field(default="UTC", sa_column=Column(Text, nullable=False, server_default="UTC"))
    created_at: datetime = _created()


class ZoomConnection(SQLModel, table=True):
    """An org's link to one Zoom user. Reconnecting reuses the row; nothing is ever deleted."""

    __tablename__ = "zoom_connections"

    id: str = Field(default_factory=new_id, primary_key=True)
    org_id: str = Field(foreign_key="organizations.id", unique=True, index=True)
    zoom_user_id: str = Field(index=True)
    zoom_account_id: str = Field(index=True)
    zoom_user_name: str = ""
    zoom_email: str = ""
    zoom_user_type: int = 2
    scopes: str = ""
    # not_connected is never stored: it is the absence of a row.
    status: str = "active"
    status_reason: str | None = None
    warnings: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    access_token_enc: str | None = Field(default=None, sa_column=Column(Text))
    refresh_token_enc: str | None = Field(default=None, sa_column=Column(Text))
    access_expires_at: datetime | None = _ts()
    # Bumped on every token write: refreshes save with compare-and-swap on it.
    token_version: int = 0
    consecutive_failures: int = 0
    connected_at: datetime = _created()
    last_refreshed_at: datetime | None = _ts()
    disconnected_at: datetime | None = _ts()
    status_changed_at: datetime | None = _ts()
    # Meetings the Zoom user may run at once (docs/zoom.md#concurrency), counted over the org's
    # host reservations. Migration 0009. Source: default (set at connect) or org.
    concurrent_meetings: int = 1
    concurrent_meetings_source: str = Field(default="default", sa_column=Column(Text, nullable=False))


class IdiSession(SQLModel, table=True):
    __tablename__ = "idi_sessions"

    id: str = Field(default_factory=new_id, primary_key=True)
    org_id: str = Field(foreign_key="organizations.id", index=True)
    title: str
    kind: str = "idi"
    meeting_provider: str = "zoom_app"
    created_at: datetime = _created()


class Booking(SQLModel, table=True):
    __tablename__ = "bookings"
    __table_args__ = (UniqueConstraint("org_id", "idempotency_key", name="uq_bookings_org_idem"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    org_id: str = Field(foreign_key="organizations.id", index=True)
    session_id: str = Field(foreign_key="idi_sessions.id", index=True)
    participant_name: str
    participant_email: str
    start_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    duration_minutes: int
    status: str = "scheduling"
    status_reason: str | None = None
    status_message: str | None = None
    workflow_id: str | None = None
    idempotency_key: str | None = None
    request_hash: str | None = None
    # Attendance, settled after the meeting (activities/attendance.py). Migration 0008.
    # attended, no_show (interviewee never joined), host_absent, or None while not known.
    attendance_status: str | None = None
    attendance_source: str | None = None  # webhooks, zoom_participants_list, both
    host_joined_at: datetime | None = _ts()
    interviewee_minutes: int | None = None
    # Set once Temporal has the booking's workflow; a row left without it after a short lease is
    # started by api/booking_reconciler.py (the API died in between). Migration 0013.
    workflow_started_at: datetime | None = _ts()
    # The interviewee registered on the meeting (activities/booking_registrants.py). Migration 0012.
    # Their own join link and registrant id are personal data: here, never in Temporal.
    zoom_registrant_id: str | None = None
    interviewee_join_url: str | None = None
    registration_status: str | None = None  # registered, not_registered; None until tried
    registration_reason: str | None = None  # why not_registered
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Attendee(SQLModel, table=True):
    """One person in a booking's meeting and each stretch they were in it.

    The only place participant names and emails from Zoom are kept (never in Temporal). Rows are
    deleted with the booking's inbox events by the inbox retention rule. Migration 0008."""

    __tablename__ = "attendees"
    __table_args__ = (UniqueConstraint("booking_id", "participant_key", name="uq_attendee"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    booking_id: str = Field(foreign_key="bookings.id", index=True)
    org_id: str = Field(foreign_key="organizations.id", index=True)
    # What identifies the person across rejoins: registrant id, Zoom user id, email or name.
    participant_key: str
    role: str  # host, interviewee, other
    matched_by: str | None = None  # registrant_id, host_user_id, email, display_name
    display_name: str = ""
    email: str = ""
    # [{"joined_at": iso, "left_at": iso|None, "source": "webhooks"|"zoom_participants_list"}]
    segments: list[dict] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Meeting(SQLModel, table=True):
    """The one Zoom meeting of a booking (unique booking_id enforces 'at most one')."""

    __tablename__ = "meetings"

    id: str = Field(default_factory=new_id, primary_key=True)
    booking_id: str = Field(foreign_key="bookings.id", unique=True, index=True)
    org_id: str = Field(foreign_key="organizations.id", index=True)
    zoom_meeting_id: str = Field(index=True)
    zoom_uuid: str | None = None
    host_kind: str  # "org" or "system"
    host_user_id: str | None = None
    host_email: str = ""
    host_name: str = ""
    connection_id: str | None = Field(default=None, foreign_key="zoom_connections.id")
    fallback_reason: str | None = None
    join_url: str = ""
    start_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    duration_minutes: int
    status: str = "scheduled"  # scheduled, deleted
    created_at: datetime = _created()


class OrphanedMeeting(SQLModel, table=True):
    """A second Zoom meeting a losing create attempt made for a booking that already has one,
    whose clean-up delete failed: connections/orphaned_meetings.py deletes it later, retrying until
    Zoom says deleted or gone. Migration 0013."""

    __tablename__ = "orphaned_meetings"

    id: str = Field(default_factory=new_id, primary_key=True)
    booking_id: str = Field(foreign_key="bookings.id", index=True)
    zoom_meeting_id: str = Field(unique=True)
    host_kind: str  # "org" or "system"
    connection_id: str | None = Field(default=None, foreign_key="zoom_connections.id")
    # The system host's email, or the org's Zoom user id when the create's answer named it.
    host_user_id: str | None = None
    status: str = "pending"  # pending, deleted
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_attempt_at: datetime | None = _ts()
    deleted_at: datetime | None = _ts()
    created_at: datetime = _created()


class RecordingFile(SQLModel, table=True):
    __tablename__ = "recording_files"
    __table_args__ = (UniqueConstraint("meeting_id", "zoom_file_id", name="uq_recording_file"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    meeting_id: str = Field(foreign_key="meetings.id", index=True)
    booking_id: str = Field(foreign_key="bookings.id", index=True)
    org_id: str = Field(foreign_key="organizations.id", index=True)
    zoom_file_id: str
    zoom_meeting_uuid: str | None = None
    file_type: str
    file_extension: str = ""
    recording_type: str | None = None
    expected_size: int | None = Field(default=None, sa_column=Column(BigInteger))
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger))
    sha256: str | None = None
    status: str = "pending"  # pending, downloading, stored, failed
    status_reason: str | None = None
    storage_path: str | None = None
    # Where Zoom serves the file (not a credential: it needs a bearer token). Migration 0003.
    download_url: str | None = Field(default=None, sa_column=Column(Text))
    # participant_audio_files: Zoom's file name, which names the participant. Migration 0008.
    file_name: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = _created()
    updated_at: datetime = _created()


class WebhookEvent(SQLModel, table=True):
    """The inbox: every valid Zoom event, stored before it is acknowledged."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_due", "route_status", "next_attempt_at"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    dedupe_key: str = Field(unique=True)
    event_type: str = Field(index=True)
    zoom_meeting_id: str | None = Field(default=None, index=True)
    zoom_meeting_uuid: str | None = None
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    download_token_enc: str | None = Field(default=None, sa_column=Column(Text))
    booking_id: str | None = Field(default=None, index=True)
    # pending, routed, closed (its workflow had finished), unrouted, processed, ignored
    route_status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    received_at: datetime = _created()
    routed_at: datetime | None = _ts()
    # When the sweeper may try a pending event again (backoff). Migration 0003.
    next_attempt_at: datetime | None = _ts()


class HostReservation(SQLModel, table=True):
    """Which Zoom host a booking holds and, for system hosts, for which window.

    The system account is a pool of users, each able to host `capacity` meetings at once. Choosing
    a host and counting its overlapping meetings happen in one transaction under a per-host
    advisory lock, and the row written there is what the next booking counts: two bookings made
    at the same moment cannot both take a host's last slot. Org hosts get a row too, so a
    booking's host stays fixed across retries and crashes (see `create_sent_at`).
    """

    __tablename__ = "host_reservations"
    __table_args__ = (Index("ix_host_reservations_host_window", "host_key", "start_time", "end_time"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    booking_id: str = Field(foreign_key="bookings.id", unique=True, index=True)
    org_id: str = Field(foreign_key="organizations.id", index=True)
    host_kind: str  # "org" or "system"
    # The system host's email, or the org connection id: what overlap is counted by.
    host_key: str
    connection_id: str | None = Field(default=None, foreign_key="zoom_connections.id")
    fallback_reason: str | None = None
    start_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    end_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str = "held"  # held, released (cancelled or failed bookings give their slot back)
    # Set just before a create request goes to Zoom, cleared once its outcome is known. While set,
    # a meeting may exist on this host that we have not seen, so the host must not change.
    create_sent_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


class StartUrlIssuance(SQLModel, table=True):
    """Every start URL handed out: a start URL carries the host's ZAK, so who got one, for which
    booking and host, and when, stays on record (docs/zoom.md#start-urls-and-the-zak)."""

    __tablename__ = "start_url_issuances"

    id: str = Field(default_factory=new_id, primary_key=True)
    booking_id: str = Field(foreign_key="bookings.id", index=True)
    meeting_id: str = Field(foreign_key="meetings.id")
    org_id: str = Field(foreign_key="organizations.id", index=True)
    host_kind: str  # "org" or "system"
    host_email: str = ""
    requested_by: str  # "org:<org id>" (the org's API key, directly or through its pages)
    client_ip: str = ""
    user_agent: str = ""
    issued_at: datetime = _created()
