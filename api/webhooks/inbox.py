"""The webhook inbox: every valid Zoom event is stored once, then routed to its booking's workflow.

The inbox (table webhook_events) is the source of truth, not Temporal: an event is committed
under its dedupe key before Zoom gets its 2xx, so a redelivery finds the row and changes nothing
(INSERT ... ON CONFLICT DO NOTHING), and an event Temporal could not take is still there for the
sweeper. Routing follows the stored meeting -> booking mapping (meetings.zoom_meeting_id, the
canonical decimal string), never the account id: one account hosts many orgs' meetings.

route_status of a row:
- pending: to be signalled (or, for app_deauthorized, processed); the sweeper retries it with
  backoff from `next_attempt_at`, counting `attempts` and keeping `last_error`.
- routed: the booking's workflow has it (as the `zoom_event` signal: ids only).
- closed: the booking's workflow had already finished (Temporal's NOT_FOUND); kept, not an error.
- unrouted: no booking of this service has that meeting. Kept; the sweeper looks again for a
  day, in case the event raced the meeting's own row (a meeting created a moment ago).
- processed: handled in the API itself (app_deauthorized).
- ignored: a Zoom event this service does not act on, kept for the record.

What is stored is the JSON body without its secrets: the `download_token` is encrypted into its
own column, bound to this table, row and field; meeting passcodes are dropped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from models import Meeting, WebhookEvent, new_id, utcnow
from workflows.booking_types import ZoomEventSignal
from zoom.ids import is_numeric_meeting_id, meeting_id_str
from zoom.webhooks import MEETING_EVENTS, AppDeauthorized, dedupe_key

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("webhooks.inbox")

PENDING, ROUTED, CLOSED, UNROUTED, PROCESSED, IGNORED = (
    "pending", "routed", "closed", "unrouted", "processed", "ignored")

# Keys never stored with an event: the download credential (kept encrypted on its own) and
# meeting passcodes, which nothing here needs.
SECRET_KEYS = frozenset({"download_token", "password", "encrypted_password", "h323_password",
                         "pstn_password", "recording_play_passcode"})
TOKEN_BINDING = {"table": "webhook_events", "field": "download_token_enc"}

# A stored pending event belongs to the in-process delivery (SignalDelivery) for this long before
# the sweeper may take it: enough for a queued signal, short enough that a full queue or a dead
# process delays the event by seconds, not minutes.
DELIVERY_LEASE = timedelta(seconds=10)
# An unrouted event is matched again against new meetings for this long.
ADOPT_WINDOW = timedelta(days=1)


@dataclass
class Stored:
    id: str
    new: bool
    route_status: str
    booking_id: str | None
    signal: ZoomEventSignal | None = None


def without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def signal_of(event_id: str, event) -> ZoomEventSignal | None:
    """The `zoom_event` signal for a routed event type: ids only, never a token."""
    if not isinstance(event, MEETING_EVENTS):
        return None
    obj = event.payload.object
    files = getattr(obj, "recording_files", []) + getattr(obj, "participant_audio_files", [])
    return ZoomEventSignal(event_id=event_id, event_type=event.event, zoom_meeting_uuid=obj.uuid,
                           file_ids=[f.stable_ref() for f in files])


def meeting_of(event) -> tuple[str | None, str | None]:
    """(canonical meeting id, instance uuid) of an event that names a meeting, else Nones."""
    if isinstance(event, MEETING_EVENTS):
        return event.payload.object.id, event.payload.object.uuid
    obj = event.payload.get("object") if isinstance(event.payload, dict) else None
    if not isinstance(obj, dict) or not is_numeric_meeting_id(obj.get("id", "")):
        return None, None
    uuid = obj.get("uuid")
    return meeting_id_str(obj["id"]), uuid if isinstance(uuid, str) else None


def backoff(attempts: int, base: float = 1.0, cap: float = 60.0) -> timedelta:
    """Wait before try number `attempts + 1`: 1, 2, 4 ... seconds, at most `cap`."""
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


async def booking_for(session, zoom_meeting_id: str | None) -> str | None:
    if not zoom_meeting_id:
        return None
    return (await session.exec(
        select(Meeting.booking_id).where(Meeting.zoom_meeting_id == zoom_meeting_id)
        .order_by(col(Meeting.created_at).desc()).limit(1)
    )).first()


# The intake's one statement. The booking is looked up inside the INSERT (the newest meeting with
# that id; none for an event type that is not routed), so the row is stored with its route in one
# round trip; ON CONFLICT DO NOTHING RETURNING tells a new event from a redelivery. Plain SQL on
# the driver connection: asyncpg prepares it once per connection, and building and compiling the
# ORM statement cost more CPU than Postgres spends on it.
_INSERT_EVENT = """
WITH found AS (
  SELECT (SELECT booking_id FROM meetings
          WHERE $9::boolean AND zoom_meeting_id = $4::text
          ORDER BY created_at DESC LIMIT 1) AS booking_id
)
INSERT INTO webhook_events (id, dedupe_key, event_type, zoom_meeting_id, zoom_meeting_uuid, payload,
                            download_token_enc, booking_id, route_status, attempts, received_at,
                            next_attempt_at)
SELECT $1, $2, $3, $4::text, $5, $6::json, $7, found.booking_id,
       CASE WHEN NOT $9::boolean THEN $10::text
            WHEN found.booking_id IS NULL THEN 'unrouted' ELSE 'pending' END,
       0, $8::timestamptz,
       CASE WHEN NOT $9::boolean THEN $11::timestamptz
            WHEN found.booking_id IS NULL THEN NULL ELSE $12::timestamptz END
FROM found
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING route_status, booking_id
"""
_FIRST_EVENT = "SELECT id, route_status, booking_id FROM webhook_events WHERE dedupe_key = $1"


async def store(services: Services, event, body: dict) -> Stored:
    """Put a verified, parsed event in the inbox (once per dedupe key) with its booking.

    Committed when this returns (one autocommitted statement), so the caller may acknowledge."""
    row_id, now = new_id(), utcnow()
    routed = isinstance(event, MEETING_EVENTS)
    meeting_id, uuid = meeting_of(event)
    token = getattr(event, "download_token", None)
    token_enc = (services.cipher.encrypt(token.get_secret_value(), row_id=row_id, **TOKEN_BINDING)
                 if token is not None and token.get_secret_value() else None)
    key = dedupe_key(event)
    # Routed types get pending/unrouted from the lookup; app_deauthorized is pending for the
    # request itself (and the sweeper, should that not finish); the rest are kept as ignored.
    other_status = PENDING if isinstance(event, AppDeauthorized) else IGNORED
    async with services.db.driver() as driver:
        inserted = await driver.fetchrow(
            _INSERT_EVENT, row_id, key, event.event, meeting_id, uuid, json.dumps(without_secrets(body)),
            token_enc, now, routed, other_status,
            now if other_status == PENDING else None, now + DELIVERY_LEASE)
        if inserted is None:
            first = await driver.fetchrow(_FIRST_EVENT, key)
            return Stored(first["id"], False, first["route_status"], first["booking_id"])
    status, booking_id = inserted["route_status"], inserted["booking_id"]
    if status == UNROUTED and meeting_id:
        # A second look: the meeting's row may have been committed while this one was.
        booking_id = await _adopt_one(services, row_id, meeting_id)
        status = PENDING if booking_id else UNROUTED
    return Stored(row_id, True, status, booking_id, signal_of(row_id, event))


async def _adopt_one(services: Services, event_id: str, meeting_id: str | None) -> str | None:
    async with services.db.session() as s:
        booking_id = await booking_for(s, meeting_id)
        if booking_id:
            await s.exec(update(WebhookEvent)
                         .where(WebhookEvent.id == event_id, WebhookEvent.route_status == UNROUTED)
                         .values(booking_id=booking_id, route_status=PENDING,
                                 next_attempt_at=utcnow() + DELIVERY_LEASE))
            await s.commit()
    return booking_id


async def process_deauthorization(services: Services, event_id: str, event: AppDeauthorized) -> int:
    """app_deauthorized is handled here, not by a workflow; it is idempotent, so a redelivery
    runs it again harmlessly. Returns how many connections it revoked."""
    from connections.disconnect import handle_app_deauthorized

    revoked = await handle_app_deauthorized(services, event.payload)
    await mark(services, event_id, route_status=PROCESSED, routed_at=utcnow(), next_attempt_at=None)
    return revoked


async def mark(services: Services, event_id: str, **values) -> None:
    async with services.db.session() as s:
        await s.exec(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))
        await s.commit()


