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

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, any_, bindparam, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import col, select
from temporalio.service import RPCError, RPCStatusCode

from models import Meeting, WebhookEvent, new_id, utcnow
from workflows.booking import IdiBookingWorkflow
from workflows.types import ZoomEventSignal, workflow_id_for
from zoom.ids import is_numeric_meeting_id, meeting_id_str
from zoom.webhooks import (
    AppDeauthorized,
    MeetingEnded,
    MeetingStarted,
    RecordingCompleted,
    RecordingTranscriptCompleted,
    WebhookPayloadError,
    dedupe_key,
    parse_event,
)

log = logging.getLogger("webhook_inbox")

PENDING, ROUTED, CLOSED, UNROUTED, PROCESSED, IGNORED = (
    "pending", "routed", "closed", "unrouted", "processed", "ignored")

ROUTED_EVENTS = (MeetingStarted, MeetingEnded, RecordingCompleted, RecordingTranscriptCompleted)
# Keys never stored with an event: the download credential (kept encrypted on its own) and
# meeting passcodes, which nothing here needs.
SECRET_KEYS = frozenset({"download_token", "password", "encrypted_password", "h323_password",
                         "pstn_password", "recording_play_passcode"})
TOKEN_BINDING = {"table": "webhook_events", "field": "download_token_enc"}

# One try to signal a workflow gets this long; then the row waits for the sweeper.
SIGNAL_TIMEOUT = 1.0
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
    if not isinstance(event, ROUTED_EVENTS):
        return None
    obj = event.payload.object
    files = getattr(obj, "recording_files", [])
    return ZoomEventSignal(event_id=event_id, event_type=event.event, zoom_meeting_uuid=obj.uuid,
                           file_ids=[f.stable_ref() for f in files])


def meeting_of(event) -> tuple[str | None, str | None]:
    """(canonical meeting id, instance uuid) of an event that names a meeting, else Nones."""
    if isinstance(event, ROUTED_EVENTS):
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


async def store(services, event, body: dict) -> Stored:
    """Put a verified, parsed event in the inbox (once per dedupe key) with its booking.

    Committed when this returns (one autocommitted statement), so the caller may acknowledge."""
    row_id, now = new_id(), utcnow()
    routed = isinstance(event, ROUTED_EVENTS)
    meeting_id, uuid = meeting_of(event)
    token = getattr(event, "download_token", None)
    token_enc = (services.cipher.encrypt(token.get_secret_value(), row_id=row_id, **TOKEN_BINDING)
                 if token is not None and token.get_secret_value() else None)
    key = dedupe_key(event)
    # Routed types get pending/unrouted from the lookup; app_deauthorized is pending for the
    # request itself (and the sweeper, should that not finish); the rest are kept as ignored.
    other_status = PENDING if isinstance(event, AppDeauthorized) else IGNORED
    async with services.db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
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


async def _adopt_one(services, event_id: str, meeting_id: str | None) -> str | None:
    async with services.db.session() as s:
        booking_id = await booking_for(s, meeting_id)
        if booking_id:
            await s.exec(update(WebhookEvent)
                         .where(WebhookEvent.id == event_id, WebhookEvent.route_status == UNROUTED)
                         .values(booking_id=booking_id, route_status=PENDING,
                                 next_attempt_at=utcnow() + DELIVERY_LEASE))
            await s.commit()
    return booking_id


async def signal_booking(services, booking_id: str, signal: ZoomEventSignal) -> str:
    """ROUTED, or CLOSED when the workflow has finished; raises when Temporal did not take it."""
    client = await services.temporal()
    handle = client.get_workflow_handle(workflow_id_for(booking_id))
    try:
        await handle.signal(IdiBookingWorkflow.zoom_event, signal,
                            rpc_timeout=timedelta(seconds=SIGNAL_TIMEOUT))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return CLOSED
        raise
    return ROUTED


async def deliver(services, event_id: str, booking_id: str, signal: ZoomEventSignal, *,
                  attempts: int = 0, timeout: float = SIGNAL_TIMEOUT, max_backoff: float = 60.0) -> str:
    """One bounded try to hand the event to its workflow; the row records how it went."""
    try:
        async with asyncio.timeout(timeout):
            outcome = await signal_booking(services, booking_id, signal)
    except Exception as exc:  # Temporal down, slow or refusing: the sweeper tries again
        error = f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__
        log.warning("inbox event %s not delivered (attempt %d): %s", event_id, attempts + 1, error)
        await _mark(services, event_id, attempts=attempts + 1, last_error=error,
                    next_attempt_at=utcnow() + backoff(attempts + 1, cap=max_backoff))
        return PENDING
    await _mark(services, event_id, route_status=outcome, routed_at=utcnow(), next_attempt_at=None,
                attempts=attempts + 1)
    if outcome == CLOSED and signal.file_ids:
        # The booking stopped waiting (its deadlines passed): ops can re-drive it from the inbox row.
        log.warning("inbox event %s (%s) came after booking %s finished; kept, not downloaded",
                    event_id, signal.event_type, booking_id)
    return outcome


@dataclass
class _Queued:
    event_id: str
    booking_id: str
    signal: ZoomEventSignal


class SignalDelivery:
    """Signals stored events to their workflows after Zoom has had its answer.

    The webhook handler commits the event, offers it here and answers; a few tasks take events off
    a bounded queue in batches, signal them concurrently and mark the batch with one UPDATE per
    outcome. Nothing is lost by this being in memory: a stored event is `pending` in the inbox
    until its mark lands, so an event that found the queue full, or that a dying process held, is
    delivered by the InboxSweeper once its DELIVERY_LEASE runs out (a workflow ignores an event id
    it already has, so a signal sent twice is harmless)."""

    def __init__(self, services, *, workers: int = 4, maxsize: int = 1000, batch: int = 50,
                 max_backoff: float = 60.0) -> None:
        self._services = services
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue(maxsize)
        self.workers, self.batch, self.max_backoff = workers, batch, max_backoff

    def offer(self, event_id: str, booking_id: str, signal: ZoomEventSignal) -> bool:
        """Queue an event for delivery; False when the queue is full (the sweeper will have it)."""
        try:
            self._queue.put_nowait(_Queued(event_id, booking_id, signal))
        except asyncio.QueueFull:
            log.warning("delivery queue full; inbox event %s waits for the sweeper", event_id)
            return False
        return True

    async def run(self) -> None:
        """The delivery tasks, until cancelled."""
        await asyncio.gather(*(self._work() for _ in range(self.workers)))

    async def _work(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < self.batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                await self.deliver_batch(items)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database failed us: the rows stay pending for the sweeper
                log.exception("delivering %d inbox events failed; the sweeper will retry", len(items))
            finally:
                for _ in items:
                    self._queue.task_done()

    async def join(self) -> None:
        """Wait until everything queued so far has been delivered and marked."""
        await self._queue.join()

    async def deliver_batch(self, items: list[_Queued]) -> None:
        outcomes = await asyncio.gather(*(self._signal(item) for item in items))
        by_status: dict[str, list[str]] = {}
        for item, outcome in zip(items, outcomes):
            if isinstance(outcome, str):
                by_status.setdefault(outcome, []).append(item.event_id)
        now = utcnow()
        async with self._services.db.engine.begin() as conn:
            for status, ids in by_status.items():
                await conn.execute(
                    update(WebhookEvent)
                    .where(WebhookEvent.id == any_(bindparam("ids", ids, type_=ARRAY(String))),
                           WebhookEvent.route_status == PENDING)
                    .values(route_status=status, routed_at=now, next_attempt_at=None,
                            attempts=WebhookEvent.attempts + 1))
            for item, outcome in zip(items, outcomes):
                if isinstance(outcome, BaseException):  # rare: one row each, with its backoff
                    error = (f"{type(outcome).__name__}: {outcome}"[:500] if str(outcome)
                             else type(outcome).__name__)
                    log.warning("inbox event %s not delivered (attempt 1): %s", item.event_id, error)
                    await conn.execute(
                        update(WebhookEvent)
                        .where(WebhookEvent.id == item.event_id, WebhookEvent.route_status == PENDING)
                        .values(attempts=WebhookEvent.attempts + 1, last_error=error,
                                next_attempt_at=now + backoff(1, cap=self.max_backoff)))

    async def _signal(self, item: _Queued) -> str | BaseException:
        try:
            async with asyncio.timeout(SIGNAL_TIMEOUT):
                outcome = await signal_booking(self._services, item.booking_id, item.signal)
        except Exception as exc:  # Temporal down, slow or refusing: the sweeper tries again
            return exc
        if outcome == CLOSED and item.signal.file_ids:
            log.warning("inbox event %s (%s) came after booking %s finished; kept, not downloaded",
                        item.event_id, item.signal.event_type, item.booking_id)
        return outcome


async def process_deauthorization(services, event_id: str, event: AppDeauthorized) -> int:
    """app_deauthorized is handled here, not by a workflow; it is idempotent, so a redelivery
    runs it again harmlessly. Returns how many connections it revoked."""
    from zoom_disconnect import handle_app_deauthorized

    revoked = await handle_app_deauthorized(services, event.payload)
    await _mark(services, event_id, route_status=PROCESSED, routed_at=utcnow(), next_attempt_at=None)
    return revoked


async def _mark(services, event_id: str, **values) -> None:
    async with services.db.session() as s:
        await s.exec(update(WebhookEvent).where(WebhookEvent.id == event_id).values(**values))
        await s.commit()


class InboxSweeper:
    """Delivers what the intake could not: pending events (Temporal was down or slow) with
    backoff, and unrouted ones whose meeting has appeared since. Runs in the API process (see
    api/webhooks.py `inbox_sweeper`); several processes may run one, since rows are claimed with
    SKIP LOCKED and a lease, and a workflow ignores an event id it already has."""

    def __init__(self, services, *, interval: float = 5.0, batch: int = 100,
                 max_backoff: float = 60.0, lease: timedelta = timedelta(minutes=1)) -> None:
        self._services = services
        self.interval, self.batch, self.max_backoff, self.lease = interval, batch, max_backoff, lease

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("inbox sweep failed; trying again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

    async def sweep_once(self) -> int:
        """One pass; returns how many events reached their workflow (or were processed)."""
        await self._adopt()
        rows = await self._claim()
        done = 0
        for i, row in enumerate(rows):
            if row.event_type == "app_deauthorized":
                try:
                    await process_deauthorization(self._services, row.id, AppDeauthorized.model_validate(row.payload))
                    done += 1
                except Exception as exc:
                    log.warning("inbox event %s (app_deauthorized) failed again: %s", row.id, exc)
                    await _mark(self._services, row.id, attempts=row.attempts + 1, last_error=str(exc)[:500],
                                next_attempt_at=utcnow() + backoff(row.attempts + 1, cap=self.max_backoff))
                continue
            signal = self._signal(row)
            if signal is None or not row.booking_id:
                await _mark(self._services, row.id, route_status=UNROUTED, next_attempt_at=None)
                continue
            outcome = await deliver(self._services, row.id, row.booking_id, signal,
                                    attempts=row.attempts, max_backoff=self.max_backoff)
            if outcome == PENDING:
                # Temporal is not answering: the rest of the batch waits for the next pass.
                await self._release(rows[i + 1:], utcnow() + backoff(row.attempts + 1, cap=self.max_backoff))
                break
            done += 1
        return done

    @staticmethod
    def _signal(row) -> ZoomEventSignal | None:
        try:
            return signal_of(row.id, parse_event(row.payload))
        except WebhookPayloadError:
            return None

    async def _adopt(self) -> None:
        now = utcnow()
        async with self._services.db.session() as s:
            await s.exec(
                update(WebhookEvent)
                .where(WebhookEvent.route_status == UNROUTED,
                       WebhookEvent.zoom_meeting_id == Meeting.zoom_meeting_id,
                       WebhookEvent.received_at > now - ADOPT_WINDOW)
                .values(booking_id=Meeting.booking_id, route_status=PENDING, next_attempt_at=now)
            )
            await s.commit()

    async def _claim(self) -> list:
        """Due pending rows, leased so that another sweeper skips them meanwhile."""
        now = utcnow()
        due = (select(WebhookEvent.id)
               .where(WebhookEvent.route_status == PENDING,
                      (col(WebhookEvent.next_attempt_at).is_(None)) | (WebhookEvent.next_attempt_at <= now))
               .order_by(WebhookEvent.received_at).limit(self.batch).with_for_update(skip_locked=True))
        async with self._services.db.session() as s:
            rows = (await s.execute(
                update(WebhookEvent).where(col(WebhookEvent.id).in_(due.scalar_subquery()))
                .values(next_attempt_at=now + self.lease)
                .returning(WebhookEvent.id, WebhookEvent.event_type, WebhookEvent.booking_id,
                           WebhookEvent.payload, WebhookEvent.attempts, WebhookEvent.received_at)
            )).all()
            await s.commit()
        return sorted(rows, key=lambda r: r.received_at)

    async def _release(self, rows: list, when: datetime) -> None:
        if not rows:
            return
        async with self._services.db.session() as s:
            await s.exec(update(WebhookEvent).where(col(WebhookEvent.id).in_([r.id for r in rows]))
                         .values(next_attempt_at=when))
            await s.commit()
