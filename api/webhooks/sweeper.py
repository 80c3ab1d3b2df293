"""The inbox sweeper: delivers what the intake could not, for as long as it takes.

Pending events (Temporal was down or slow) are retried with backoff; unrouted ones are matched
again against meetings created since. Runs in the API process (`inbox_sweeper` in
api/webhooks/intake.py); several processes may run one, since rows are claimed with SKIP LOCKED and
a lease, and a workflow ignores an event id it already has.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select

from api.webhooks.delivery import deliver
from api.webhooks.inbox import (
    ADOPT_WINDOW,
    PENDING,
    UNROUTED,
    backoff,
    mark,
    process_deauthorization,
    signal_of,
)
from models import Meeting, WebhookEvent, utcnow
from workflows.booking_types import ZoomEventSignal
from zoom.webhooks import AppDeauthorized, WebhookPayloadError, parse_event

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

from periodic import every

log = logging.getLogger("webhooks.sweeper")


class InboxSweeper:

    def __init__(self, services: Services, *, interval: float = 5.0, batch: int = 100,
                 max_backoff: float = 60.0, lease: timedelta = timedelta(minutes=1)) -> None:
        self._services = services
        self.interval, self.batch, self.max_backoff, self.lease = interval, batch, max_backoff, lease

    async def run(self) -> None:
        await every(self.interval, self.sweep_once, "inbox sweep")

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
                    await mark(self._services, row.id, attempts=row.attempts + 1, last_error=str(exc)[:500],
                                next_attempt_at=utcnow() + backoff(row.attempts + 1, cap=self.max_backoff))
                continue
            signal = self._signal(row)
            if signal is None or not row.booking_id:
                await mark(self._services, row.id, route_status=UNROUTED, next_attempt_at=None)
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
