"""Choosing the Zoom host of a booking: the org's own user when its connection works right now,
otherwise a system host with room at the booking's time (docs/promises.md#8-fallback-with-a-recorded-reason).

Once chosen, the host sticks: a retry, a crashed worker or a re-driven run gets the same answer
from the booking's meeting or reservation. Only an org user that Zoom itself rejects before any
meeting exists there (`skip_org_reason`) moves the booking to the system account, and the meeting
records why.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.liveness import beats

from activities.host_pool import CreateInFlight, Slot, hold, org_host_has_room, take_free_host
from models import Meeting, Organization, ZoomConnection, utcnow
from models import HostReservation
from connections.tokens import REFRESH_FAILED, ConnectionUnavailable
from workflows.booking_types import BookingHost, Failure, ResolveHostInput
from zoom.errors import ZoomError, ZoomTransientError

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("booking.hosts")

# A token endpoint failing this many attempts in a row (about 6 s of Temporal backoff), or within
# this long of the interview, sends the booking to the system account (reason refresh_failed).
REFRESH_ATTEMPTS = 3
REFRESH_GRACE_BEFORE_START = timedelta(hours=1)

# The org's user already hosts as many meetings as it may run at once at that time
# (docs/zoom.md#concurrency): one more would end a running interview, so it goes to the system account.
ORG_HOST_BUSY = "org_host_busy"


def org_label(org_name: str) -> str:
    return f"{org_name}'s Zoom"


def system_label(email: str) -> str:
    return f"Converge's system Zoom ({email})"


class BookingHostActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="resolve_booking_host")
    @beats
    async def resolve_booking_host(self, inp: ResolveHostInput) -> BookingHost:
        org_name = await self._org_name(inp.org_id)
        pinned = await self._pinned(inp, org_name)
        if pinned is not None:
            return pinned
        try:
            reason = inp.skip_org_reason
            if reason is None:
                chosen = await self._org_host(inp, org_name)
                if isinstance(chosen, BookingHost):
                    return chosen
                reason = chosen
            return await self._system_host(inp, reason)
        except CreateInFlight:
            # Another attempt of this booking (a worker presumed dead) sent a create meanwhile:
            # its host stays, so answer with that one.
            pinned = await self._pinned(inp, org_name)
            if pinned is None:
                raise
            return pinned

    async def _pinned(self, inp: ResolveHostInput, org_name: str) -> BookingHost | None:
        """The host this booking already has: its meeting's, or a reservation still in force."""
        async with self._services.db.session() as s:
            meeting = (await s.exec(select(Meeting).where(Meeting.booking_id == inp.booking_id))).first()
            held = (await s.exec(
                select(HostReservation).where(HostReservation.booking_id == inp.booking_id)
            )).first()
        if meeting is not None:
            return _host(meeting.host_kind, meeting.connection_id, meeting.host_email,
                         meeting.fallback_reason, org_name)
        if held is not None and (_create_may_have_reached_zoom(held) or _still_in_force(held, inp)):
            return _host(held.host_kind, held.connection_id, held.host_key, held.fallback_reason,
                         org_name)
        return None

    async def _org_host(self, inp: ResolveHostInput, org_name: str) -> BookingHost | str:
        """The org's user if its connection gives a token now; else the fallback reason."""
        services = self._services
        async with services.db.session() as s:
            conn = (await s.exec(
                select(ZoomConnection).where(ZoomConnection.org_id == inp.org_id)
            )).first()
        if conn is None:
            return "not_connected"
        if conn.status != "active":
            return fallback_reason(conn.status, conn.status_reason)
        try:
            # Proves the connection works now (refreshing if due); the token itself is not kept.
            await services.tokens.org_access_token(conn.id)
        except ConnectionUnavailable as exc:
            reason = fallback_reason(exc.reason, getattr(exc, "detail", None))
            log.info("booking %s: org %s connection unavailable (%s), using the system account",
                     inp.booking_id, inp.org_id, reason)
            return reason
        except ZoomError as exc:
            # The refresh failed without killing the grant (Zoom's token endpoint down, or our
            # OAuth app refused): the fallback rule (docs/promises.md#8-fallback-with-a-recorded-reason) falls back rather than leave the booking
            # waiting. A hiccup gets a few tries first, unless the interview is close.
            if isinstance(exc, ZoomTransientError) and not _stop_waiting_for_refresh(inp):
                raise
            log.warning("booking %s: org %s token refresh failed (%s), using the system account",
                        inp.booking_id, inp.org_id, exc)
            return REFRESH_FAILED
        async with services.db.session() as s:
            if not await org_host_has_room(s, conn.id, conn.concurrent_meetings, _slot(inp)):
                await s.rollback()
                log.info("booking %s: org %s Zoom user is busy at that time (capacity %d), "
                         "using the system account", inp.booking_id, inp.org_id, conn.concurrent_meetings)
                return ORG_HOST_BUSY
            await hold(s, _slot(inp), host_kind="org", host_key=conn.id, connection_id=conn.id,
                       fallback_reason=None)
            await s.commit()
        return _host("org", conn.id, None, None, org_name)

    async def _system_host(self, inp: ResolveHostInput, reason: str) -> BookingHost:
        hosts = self._services.settings.system_hosts
        if not hosts:
            raise ApplicationError(
                f"This organization's Zoom cannot host ({reason}) and Converge has no system Zoom "
                "hosts configured (ZOOM_SYSTEM_HOSTS). Connect your Zoom account under "
                "Integrations, or ask Converge support to configure system hosts.",
                type=Failure.SYSTEM_HOST_MISSING, non_retryable=True,
            )
        async with self._services.db.session() as s:
            host = await take_free_host(s, hosts, _slot(inp), reason)
            if host is None:
                await s.rollback()
                total = sum(h.capacity for h in hosts)
                raise ApplicationError(
                    f"All of Converge's system Zoom hosts are busy at this time ({total} "
                    f"concurrent meeting{'s' if total != 1 else ''} across {len(hosts)} "
                    f"host{'s' if len(hosts) != 1 else ''}), and this organization's own Zoom "
                    f"is not available ({reason}). Pick a time that does not overlap other "
                    "interviews, or connect your organization's Zoom account under Integrations "
                    "so the interview runs on your own licence.",
                    type=Failure.SYSTEM_HOSTS_FULL, non_retryable=True,
                )
            await s.commit()
        log.info("booking %s: system host %s (fallback: %s)", inp.booking_id, host.email, reason)
        return _host("system", None, host.email, reason, "")

    async def _org_name(self, org_id: str) -> str:
        async with self._services.db.session() as s:
            org = await s.get(Organization, org_id)
        return org.name if org else org_id


def fallback_reason(status: str, status_reason: str | None) -> str:
    """Why the org's Zoom cannot host. An expired connection says what expired it
    (refresh_failed, refresh_response_lost, zoom_user_not_found), so one dead grant reads the
    same whether a booking or the keep-alive refresh found it first."""
    if status == "expired" and status_reason:
        return status_reason
    return status


def _create_may_have_reached_zoom(held: HostReservation) -> bool:
    """A create was sent on this host and its outcome is unknown: the host must stay, whatever
    else happened (moving could make a second meeting)."""
    return held.create_sent_at is not None


def _org_host_refused(held: HostReservation, inp: ResolveHostInput) -> bool:
    """Zoom refused the org's user before any meeting existed there: the booking moves on."""
    return inp.skip_org_reason is not None and held.host_kind == "org"


def _still_in_force(held: HostReservation, inp: ResolveHostInput) -> bool:
    """A held reservation keeps its host across retries, unless that is an org host Zoom refused."""
    return held.status == "held" and not _org_host_refused(held, inp)


def _stop_waiting_for_refresh(inp: ResolveHostInput) -> bool:
    """Whether a token endpoint that keeps failing has had its chance: a few attempts, or less
    when the interview is close (its meeting must exist before anyone tries to join)."""
    close = inp.start_time - utcnow() < REFRESH_GRACE_BEFORE_START
    return activity.info().attempt >= REFRESH_ATTEMPTS or close


def _slot(inp: ResolveHostInput) -> Slot:
    return Slot(inp.booking_id, inp.org_id, inp.start_time,
                inp.start_time + timedelta(minutes=inp.duration_minutes))


def _host(kind: str, connection_id: str | None, system_email: str | None,
          fallback_reason: str | None, org_name: str) -> BookingHost:
    if kind == "org":
        return BookingHost(kind="org", connection_id=connection_id, label=org_label(org_name))
    return BookingHost(kind="system", system_host=system_email, fallback_reason=fallback_reason,
                       label=system_label(system_email or ""))
