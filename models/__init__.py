"""Tables and the database session. Migrations live in models/migrations (Alembic)."""

from models.db import Database
from models.tables import (
    Attendee,
    Booking,
    HostReservation,
    IdiSession,
    Meeting,
    Organization,
    OrphanedMeeting,
    RecordingFile,
    StartUrlIssuance,
    WebhookEvent,
    ZoomConnection,
    new_id,
    utcnow,
)

__all__ = [
    "Attendee",
    "Booking",
    "Database",
    "HostReservation",
    "IdiSession",
    "Meeting",
    "Organization",
    "OrphanedMeeting",
    "RecordingFile",
    "StartUrlIssuance",
    "WebhookEvent",
    "ZoomConnection",
    "new_id",
    "utcnow",
]
