"""The booking's status where the API reads it (the workflow is the one that decides it)."""

from __future__ import annotations

from sqlalchemy import update
from temporalio import activity

from activities.liveness import beats

from models import Booking, utcnow
from models import HostReservation
from workflows.booking_types import BookingStatus, BookingStatusChange

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services


class BookingStatusActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="record_booking_status")
    @beats
    async def record_booking_status(self, change: BookingStatusChange) -> None:
        now = utcnow()
        async with self._services.db.session() as s:
            await s.exec(
                update(Booking)
                .where(Booking.id == change.booking_id)
                .values(status=change.status, status_reason=change.reason,
                        status_message=change.message, updated_at=now)
            )
            if change.status in (BookingStatus.FAILED, BookingStatus.CANCELLED):
                # No meeting will take place: give the host's slot back. A slot whose create
                # may have reached Zoom stays held, so a re-driven run finds that host again.
                await s.exec(
                    update(HostReservation)
                    .where(HostReservation.booking_id == change.booking_id,
                           HostReservation.create_sent_at.is_(None))
                    .values(status="released", updated_at=now)
                )
            await s.commit()
