"""Handing stored events to their booking's workflow, after Zoom has had its answer.

`SignalDelivery` is the fast path (in memory, right after the intake's 200); `deliver` is one
bounded try with its outcome marked on the row, used by the sweeper. Either way the row stays
`pending` until a mark lands, so nothing is lost when a process dies with events in its queue.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from api.booking_workflow import signal_booking
from api.webhooks.inbox import CLOSED, PENDING, ROUTED, backoff, mark
from models import utcnow
from workflows.booking_types import ZoomEventSignal

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("webhooks.delivery")

# One try to signal a workflow gets this long; then the row waits for the sweeper.
SIGNAL_TIMEOUT = 1.0


def describe(exc: BaseException) -> str:
    """What went wrong, short enough for the row's last_error (Zoom errors carry no token)."""
    return f"{type(exc).__name__}: {exc}"[:500] if str(exc) else type(exc).__name__


def note_if_late(event_id: str, outcome: str, signal: ZoomEventSignal, booking_id: str) -> None:
    if outcome == CLOSED and signal.file_ids:
        # The booking stopped waiting (its deadlines passed): ops can re-drive it from the inbox row.
        log.warning("inbox event %s (%s) came after booking %s finished; kept, not downloaded",
                    event_id, signal.event_type, booking_id)


async def deliver(services: Services, event_id: str, booking_id: str, signal: ZoomEventSignal, *,
                  attempts: int = 0, timeout: float = SIGNAL_TIMEOUT, max_backoff: float = 60.0) -> str:
    """One bounded try to hand the event to its workflow; the row records how it went."""
    try:
        async with asyncio.timeout(timeout):
            outcome = ROUTED if await signal_booking(services, booking_id, signal) else CLOSED
    except Exception as exc:  # Temporal down, slow or refusing: the sweeper tries again
        error = describe(exc)
        log.warning("inbox event %s not delivered (attempt %d): %s", event_id, attempts + 1, error)
        await mark(services, event_id, attempts=attempts + 1, last_error=error,
                   next_attempt_at=utcnow() + backoff(attempts + 1, cap=max_backoff))
        return PENDING
    await mark(services, event_id, route_status=outcome, routed_at=utcnow(), next_attempt_at=None,
               attempts=attempts + 1)
    note_if_late(event_id, outcome, signal, booking_id)
    return outcome


@dataclass
class _Queued:
    event_id: str
    booking_id: str
    signal: ZoomEventSignal


# Marks for a batch, one autocommitted statement each (asyncpg prepares them once per connection):
# a mark is all-or-nothing for its rows, and a mark that never lands leaves them pending for the
# sweeper, so a transaction around the marks would add two round trips and no guarantee.
_MARK_DONE = """
UPDATE webhook_events SET route_status = $2, routed_at = $3, next_attempt_at = NULL,
                          attempts = attempts + 1
WHERE id = ANY($1::text[]) AND route_status = 'pending'
"""
_MARK_FAILED = """
UPDATE webhook_events SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3
WHERE id = $1 AND route_status = 'pending'
"""


class SignalDelivery:
    """Signals stored events to their workflows after Zoom has had its answer.

    The webhook handler commits the event, offers it here and answers. One collector takes events
    off a bounded queue, waits `linger` seconds so that those arriving meanwhile join the batch,
    and hands the batch to one of `workers` concurrent deliveries: its signals go out together and
    the batch is marked with one UPDATE per outcome. Under load a batch holds many events, so the
    marking cost per event falls as the rate rises (bench/README.md, "Where the time goes").
    Nothing is lost by this being in memory: a stored event is `pending` in the inbox until its
    mark lands, so an event that found the queue full, or that a dying process held, is delivered
    by the InboxSweeper once its DELIVERY_LEASE runs out (a workflow ignores an event id it
    already has, so a signal sent twice is harmless)."""

    def __init__(self, services: Services, *, workers: int = 4, maxsize: int = 1000, batch: int = 50,
                 linger: float = 0.02, max_backoff: float = 60.0) -> None:
        self._services = services
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue(maxsize)
        self.workers, self.batch, self.linger, self.max_backoff = workers, batch, linger, max_backoff
        self._bookings: dict[str, tuple[asyncio.Lock, int]] = {}

    def offer(self, event_id: str, booking_id: str, signal: ZoomEventSignal) -> bool:
        """Queue an event for delivery; False when the queue is full (the sweeper will have it)."""
        try:
            self._queue.put_nowait(_Queued(event_id, booking_id, signal))
        except asyncio.QueueFull:
            log.warning("delivery queue full; inbox event %s waits for the sweeper", event_id)
            return False
        return True

    async def run(self) -> None:
        """Collect batches and deliver them, at most `workers` at a time, until cancelled."""
        slots = asyncio.Semaphore(self.workers)
        async with asyncio.TaskGroup() as deliveries:
            while True:
                items = [await self._queue.get()]
                await asyncio.sleep(self.linger)
                while len(items) < self.batch and not self._queue.empty():
                    items.append(self._queue.get_nowait())
                await slots.acquire()
                deliveries.create_task(self._deliver(items, slots))

    async def _deliver(self, items: list[_Queued], slots: asyncio.Semaphore) -> None:
        try:
            await self.deliver_batch(items)
        except Exception:  # the database failed us: the rows stay pending for the sweeper
            log.exception("delivering %d inbox events failed; the sweeper will retry", len(items))
        finally:
            slots.release()
            for _ in items:
                self._queue.task_done()

    async def join(self) -> None:
        """Wait until everything queued so far has been delivered and marked."""
        await self._queue.join()

    async def deliver_batch(self, items: list[_Queued]) -> None:
        # Bookings in parallel, each booking's events one after another in the order they came:
        # a workflow takes events in any order (docs/promises.md#5-webhooks-are-signed-answered-fast-and-applied-once),
        # but delivery must not shuffle what arrived in order.
        outcomes: list[str | BaseException] = [""] * len(items)
        per_booking: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            per_booking.setdefault(item.booking_id, []).append(i)

        async def in_order(booking_id: str, indexes: list[int]) -> None:
            # One lock per booking with waiters (FIFO), so a later batch waits for an earlier one.
            lock, users = self._bookings.get(booking_id, (asyncio.Lock(), 0))
            self._bookings[booking_id] = (lock, users + 1)
            try:
                async with lock:
                    for i in indexes:
                        outcomes[i] = await self._signal(items[i])
            finally:
                lock, users = self._bookings[booking_id]
                if users == 1:
                    del self._bookings[booking_id]
                else:
                    self._bookings[booking_id] = (lock, users - 1)

        await asyncio.gather(*(in_order(b, indexes) for b, indexes in per_booking.items()))
        by_status: dict[str, list[str]] = {}
        for item, outcome in zip(items, outcomes):
            if isinstance(outcome, str):
                by_status.setdefault(outcome, []).append(item.event_id)
        now = utcnow()
        async with self._services.db.driver() as conn:
            for status, ids in by_status.items():
                await conn.execute(_MARK_DONE, ids, status, now)
            for item, outcome in zip(items, outcomes):
                if isinstance(outcome, BaseException):  # rare: one row each, with its backoff
                    error = describe(outcome)
                    log.warning("inbox event %s not delivered (attempt 1): %s", item.event_id, error)
                    await conn.execute(_MARK_FAILED, item.event_id, error,
                                       now + backoff(1, cap=self.max_backoff))

    async def _signal(self, item: _Queued) -> str | BaseException:
        try:
            async with asyncio.timeout(SIGNAL_TIMEOUT):
                outcome = (ROUTED if await signal_booking(self._services, item.booking_id, item.signal)
                           else CLOSED)
        except Exception as exc:  # Temporal down, slow or refusing: the sweeper tries again
            return exc
        note_if_late(item.event_id, outcome, item.signal, item.booking_id)
        return outcome
