"""Second Zoom meetings nobody wants: recorded, then deleted at Zoom by a later sweep.

Two create attempts of one booking can both reach Zoom (a worker presumed dead still running);
the one that saves second deletes its own meeting (activities/booking_meetings.py). If that
delete fails, the meeting would stay at Zoom with nobody to remove it: so it is written here
before the delete is tried, and `OrphanSweeper` (in the API process, beside the inbox sweeper)
deletes it, retrying with backoff until Zoom says deleted or gone (docs/promises.md#1-one-meeting-per-booking).
A meeting whose org is now connected as another Zoom user cannot be deleted by us (its 404 would
mean nothing): it is marked `host_changed` with the reason, for ops to delete in Zoom.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from connections.meeting_host import MeetingHostChanged, check_meeting_host, meeting_api
from connections.tokens import ConnectionUnavailable
from models import Meeting, OrphanedMeeting, new_id, utcnow
from zoom.errors import ZoomError

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

from periodic import every

log = logging.getLogger("connections.orphaned_meetings")

PENDING, DELETED, HOST_CHANGED = "pending", "deleted", "host_changed"


async def record_orphan(services: Services, meeting: Meeting) -> None:
    """Note an unwanted meeting (an unsaved Meeting describing it) before deleting it."""
    async with services.db.session() as s:
        await s.exec(insert(OrphanedMeeting).values(
            id=new_id(), booking_id=meeting.booking_id, zoom_meeting_id=meeting.zoom_meeting_id,
            host_kind=meeting.host_kind, connection_id=meeting.connection_id,
            host_user_id=meeting.host_user_id, status=PENDING, attempts=0, created_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["zoom_meeting_id"]))
        await s.commit()


async def delete_orphan(services: Services, orphan) -> None:
    """Delete it at Zoom through its own host (gone counts as deleted) and note that. `orphan` is
    a row of the table or the unsaved Meeting that describes it."""
    meeting = Meeting(booking_id=orphan.booking_id, org_id="", zoom_meeting_id=orphan.zoom_meeting_id,
                      host_kind=orphan.host_kind, connection_id=orphan.connection_id,
                      host_user_id=orphan.host_user_id, start_time=utcnow(), duration_minutes=0)
    await (await meeting_api(services, meeting)).delete_meeting(meeting.zoom_meeting_id)
    await check_meeting_host(services, meeting)  # "gone" for another user's token means nothing
    await _mark(services, orphan.zoom_meeting_id, status=DELETED, deleted_at=utcnow(), last_error=None)
    log.info("booking %s: deleted orphaned Zoom meeting %s", orphan.booking_id, orphan.zoom_meeting_id)


async def open_orphans(services: Services, booking_id: str) -> list[OrphanedMeeting]:
    async with services.db.session() as s:
        return list((await s.exec(select(OrphanedMeeting).where(
            OrphanedMeeting.booking_id == booking_id, OrphanedMeeting.status != DELETED))).all())


async def _mark(services: Services, zoom_meeting_id: str, **values) -> None:
    async with services.db.session() as s:
        await s.exec(update(OrphanedMeeting).where(OrphanedMeeting.zoom_meeting_id == zoom_meeting_id)
                     .values(**values))
        await s.commit()


class OrphanSweeper:

    def __init__(self, services: Services, *, interval: float = 30.0, batch: int = 20,
                 lease: timedelta = timedelta(minutes=2), max_backoff: timedelta = timedelta(hours=1)) -> None:
        self._services = services
        self.interval, self.batch, self.lease, self.max_backoff = interval, batch, lease, max_backoff

    async def run(self) -> None:
        await every(self.interval, self.sweep_once, "orphaned meeting sweep")

    async def sweep_once(self) -> int:
        """One pass; returns how many orphaned meetings were deleted."""
        deleted = 0
        for row in await self._claim():
            try:
                await delete_orphan(self._services, row)
                deleted += 1
            except MeetingHostChanged as exc:
                await _mark(self._services, row.zoom_meeting_id, status=HOST_CHANGED, last_error=str(exc))
            except (ZoomError, ConnectionUnavailable) as exc:
                attempts = row.attempts + 1
                wait = min(timedelta(seconds=5 * 2 ** min(attempts, 20)), self.max_backoff)
                log.warning("booking %s: orphaned Zoom meeting %s not deleted yet (%s)",
                            row.booking_id, row.zoom_meeting_id, exc)
                await _mark(self._services, row.zoom_meeting_id, attempts=attempts,
                            last_error=str(exc)[:500], next_attempt_at=utcnow() + wait)
        return deleted

    async def _claim(self) -> list:
        """Due pending rows, leased so that another sweeper skips them meanwhile."""
        now = utcnow()
        due = (select(OrphanedMeeting.id)
               .where(OrphanedMeeting.status == PENDING,
                      col(OrphanedMeeting.next_attempt_at).is_(None) | (OrphanedMeeting.next_attempt_at <= now))
               .limit(self.batch).with_for_update(skip_locked=True))
        async with self._services.db.session() as s:
            rows = (await s.execute(
                update(OrphanedMeeting).where(col(OrphanedMeeting.id).in_(due.scalar_subquery()))
                .values(next_attempt_at=now + self.lease)
                .returning(*OrphanedMeeting.__table__.columns)
            )).all()
            await s.commit()
        return rows
