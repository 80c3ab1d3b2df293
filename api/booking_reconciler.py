"""The booking reconciler: starts the workflow of a booking the API stored but never started.

Storing a booking and starting its workflow are two steps (api/bookings.py); a process that dies
between them leaves a `scheduling` row with nothing behind it. The request marks
`workflow_started_at` once Temporal has the workflow; any row still without it after a short lease
(BOOKING_START_LEASE_SECONDS, default 30 s, longer than a request's own start) is started from
here. The start uses the booking's own workflow id with USE_EXISTING and
ALLOW_DUPLICATE_FAILED_ONLY, so a start that did happen (only its mark was lost) is joined, not
repeated. Runs in the API process beside the inbox sweeper (api/webhooks/sweeper.py); rows are
claimed with FOR UPDATE SKIP LOCKED for the length of the start, so several processes may run one
and the request's own clean-up (deleting a booking whose start failed) never races it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from aiohttp import web
from sqlmodel import col, select

from api.booking_workflow import start_workflow_once
from api.context import SERVICES
from connections.orphaned_meetings import OrphanSweeper
from models import Booking, Organization, utcnow
from workflows.booking_types import BookingStatus

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

from periodic import every

log = logging.getLogger("api.booking_reconciler")


class BookingReconciler:

    def __init__(self, services: Services, *, lease: timedelta | None = None,
                 interval: float | None = None, batch: int = 20) -> None:
        self._services = services
        self.lease = lease or timedelta(seconds=services.settings.booking_start_lease_seconds)
        # Look about as often as the lease is long, and never less often than every 5 s.
        self.interval = interval if interval is not None else min(5.0, self.lease.total_seconds())
        self.batch = batch

    async def run(self) -> None:
        await every(self.interval, self.sweep_once, "booking reconcile")

    async def sweep_once(self) -> int:
        """One pass; returns how many bookings got their workflow started."""
        started = 0
        async with self._services.db.session() as s:
            rows = (await s.exec(
                select(Booking, Organization.name)
                .join(Organization, Organization.id == Booking.org_id)
                .where(col(Booking.workflow_started_at).is_(None),
                       Booking.status == BookingStatus.SCHEDULING,
                       col(Booking.workflow_id).is_not(None),  # every row the route stores has one
                       Booking.created_at < utcnow() - self.lease)
                .order_by(Booking.created_at).limit(self.batch)
                .with_for_update(of=Booking, skip_locked=True)
            )).all()
            for booking, org_name in rows:
                # Temporal unreachable: the exception ends the pass and the rows stay for the next.
                await start_workflow_once(self._services, booking, org_name)
                booking.workflow_started_at = utcnow()
                s.add(booking)
                started += 1
                log.warning("booking %s: stored but its workflow was never started; started it now",
                            booking.id)
            await s.commit()
        return started


def booking_reconciler(app: web.Application):
    """aiohttp cleanup context: the reconciler runs beside the API for the app's lifetime."""
    return background(BookingReconciler(app[SERVICES]).run(), "booking-reconciler")


def orphan_sweeper(app: web.Application):
    """aiohttp cleanup context: orphaned Zoom meetings are deleted from the API process too."""
    return background(OrphanSweeper(app[SERVICES]).run(), "orphaned-meeting-sweeper")


async def background(job, name: str):
    task = asyncio.create_task(job, name=name)
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
