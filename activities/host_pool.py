"""Which Zoom host has room for a meeting at a given time: the system account's pool, and the
org's own connected user.

Each system host may run `capacity` meetings at once (ZOOM_SYSTEM_HOSTS); the org's user
`ZoomConnection.concurrent_meetings` (docs/zoom.md#concurrency), counted over its reservations
(host_key = the connection id). A booking takes a slot
by writing its HostReservation in the same transaction that counted the overlapping ones, while
holding a transaction-level advisory lock on each host it looked at; concurrent bookings for the
same hosts queue on those locks, so the count each one sees includes every slot taken before it.
Locks are always taken in one order (sorted emails), so two transactions never deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import HostReservation
from models.tables import new_id, utcnow
from settings import SystemHost


@dataclass(frozen=True)
class Slot:
    booking_id: str
    org_id: str
    start: datetime
    end: datetime


async def lock_hosts(session: AsyncSession, emails: list[str], kind: str = "system") -> None:
    """Hold each host's advisory lock until this transaction ends (commit or rollback)."""
    for email in sorted(set(emails)):
        await session.exec(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{kind}-host:{email}", 0))))


async def overlapping(session: AsyncSession, emails: list[str], slot: Slot,
                      kind: str = "system") -> dict[str, int]:
    """How many held meetings overlap `slot` on each host, not counting the booking's own.
    Windows are half-open, so back-to-back interviews do not overlap."""
    rows = await session.exec(
        select(HostReservation.host_key, func.count())
        .where(
            HostReservation.host_kind == kind,
            HostReservation.status == "held",
            col(HostReservation.host_key).in_(emails),
            HostReservation.booking_id != slot.booking_id,
            HostReservation.start_time < slot.end,
            HostReservation.end_time > slot.start,
        )
        .group_by(HostReservation.host_key)
    )
    return {key: count for key, count in rows.all()}


async def take_free_host(session: AsyncSession, hosts: list[SystemHost], slot: Slot,
                         fallback_reason: str | None) -> SystemHost | None:
    """Reserve the least busy host with room in `slot`; None when every host is full.
    The caller commits (or rolls back) the session, which also releases the locks."""
    emails = [h.email for h in hosts]
    await lock_hosts(session, emails)
    busy = await overlapping(session, emails, slot)
    free = [h for h in hosts if busy.get(h.email, 0) < h.capacity]
    if not free:
        return None
    # Least loaded first spreads meetings (and Zoom's per-host daily cap); ties keep config order.
    host = min(free, key=lambda h: (busy.get(h.email, 0), emails.index(h.email)))
    await hold(session, slot, host_kind="system", host_key=host.email, connection_id=None,
               fallback_reason=fallback_reason)
    return host


async def has_room(session: AsyncSession, host: SystemHost, slot: Slot) -> bool:
    """Under the host's lock: would `slot` (the booking's own meeting moved) still fit?"""
    await lock_hosts(session, [host.email])
    return (await overlapping(session, [host.email], slot)).get(host.email, 0) < host.capacity


async def org_host_has_room(session: AsyncSession, connection_id: str, capacity: int,
                            slot: Slot) -> bool:
    """Under the org user's lock: would `slot` fit next to the org's other held meetings?
    The lock is held until the caller's transaction ends, so a hold() written before that
    commit is counted by the next booking (the same rule as the system pool)."""
    await lock_hosts(session, [connection_id], kind="org")
    busy = await overlapping(session, [connection_id], slot, kind="org")
    return busy.get(connection_id, 0) < capacity


async def hold(session: AsyncSession, slot: Slot, *, host_kind: str, host_key: str,
               connection_id: str | None, fallback_reason: str | None) -> None:
    """Write (or overwrite) the booking's reservation: one row per booking.

    A reservation whose create may have reached Zoom (`create_sent_at`) is never overwritten,
    whatever the caller checked before: moving it would let a second meeting be made elsewhere.
    That case raises CreateInFlight and leaves the row as it was."""
    values = dict(
        host_kind=host_kind, host_key=host_key, connection_id=connection_id,
        fallback_reason=fallback_reason, start_time=slot.start, end_time=slot.end,
        status="held", updated_at=utcnow(),
    )
    stmt = insert(HostReservation).values(
        id=new_id(), booking_id=slot.booking_id, org_id=slot.org_id, created_at=utcnow(), **values,
    )
    result = await session.exec(stmt.on_conflict_do_update(
        index_elements=["booking_id"], set_=values, where=HostReservation.create_sent_at.is_(None),
    ))
    if result.rowcount != 1:
        raise CreateInFlight(slot.booking_id)


class CreateInFlight(Exception):
    """The booking's reservation is fenced: a create was sent on its host and its outcome is not
    known yet, so the booking keeps that host."""


def capacity_of(hosts: list[SystemHost], email: str) -> SystemHost:
    """The configured host; one removed from ZOOM_SYSTEM_HOSTS keeps its meetings at capacity 1."""
    return next((h for h in hosts if h.email == email), SystemHost(email, 1))
