"""Tables and the database session. Migrations live in models/migrations (Alembic)."""

from models.db import Database
from models.tables import (
    Booking,
    IdiSession,
    Meeting,
    Organization,
    RecordingFile,
    WebhookEvent,
    ZoomConnection,
    new_id,
    utcnow,
)

__all__ = [
    "Booking",
    "Database",
    "IdiSession",
    "Meeting",
    "Organization",
    "RecordingFile",
    "WebhookEvent",
    "ZoomConnection",
    "new_id",
    "utcnow",
]
