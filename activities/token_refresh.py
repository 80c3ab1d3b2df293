"""Activities of the token keep-alive sweep: refresh one page of due connections, then report.

Tokens are refreshed on demand: bookings, webhooks and status pages go through the token manager,
which refreshes when fewer than MARGIN (5 min) remain. The sweep only does what on-demand cannot
(docs/zoom.md#refresh-token-lifetime):
- a connection idle for `IDLE_REFRESH_AFTER`: an org that books nothing must not find its
  refresh token dead of disuse;
- a connection with a Zoom call due soon (a booking starting within `CALL_SOON` or still
  running, recordings pending): its token is kept within `REFRESH_AHEAD` of fresh so the
  booking's own path rarely waits on Zoom's token endpoint.
Any other connection is left alone, so an idle org costs one rotation per `IDLE_REFRESH_AFTER`
instead of one every ~45 minutes (each rotation is one more chance for a lost answer to kill the
grant). Each refresh goes through the same token manager (Redis lock, re-read, version check) as
on-demand refreshes, so a sweep racing a booking causes one refresh at Zoom, not two. What goes
back to the workflow is ids and counts, never a token.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_
from sqlmodel import select
from temporalio import activity

from activities.liveness import beats, heartbeating

from metrics import CONNECTION_STATUSES, CONNECTIONS, TOKEN_REFRESH, TOKEN_SWEEP_SECONDS
from models import Booking, Meeting, ZoomConnection, utcnow
from connections.tokens import TokenManager
from workflows.booking_types import BookingStatus
from workflows.token_refresh_types import SweepPage, SweepPageResult, SweepReport

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

# The same window the token manager uses to answer `not_due`, so what the sweep picks is what the
# manager refreshes. Zoom access tokens live 1 hour; three 5-minute sweeps fit in 15 minutes.
ACCESS_TOKEN_MARGIN = TokenManager.REFRESH_AHEAD
# The shortest lifetime a source gives an unused refresh token is ~90 days (Zoom's devsupport says
# 15 years; docs/zoom.md#refresh-token-lifetime). A third of it leaves two months of failed or
# paused sweeps before a grant is at risk, at 1/30 of a rotation per idle connection per day.
IDLE_REFRESH_AFTER = timedelta(days=30)
# "A Zoom call due soon": a booking that starts within this, or may still be running (until an
# hour after its planned end: interviews overrun).
CALL_SOON = timedelta(hours=1)
OVERRUN_MINUTES = 60
# Refreshes in flight at once, and the size of a batch the token manager locks, re-reads and saves
# together (connections/token_batch.py): gentle on Zoom's token endpoint and the DB pool (10).
CONCURRENCY = 10

_BEFORE_OR_DURING_CALL = (BookingStatus.SCHEDULING, BookingStatus.SCHEDULED, BookingStatus.IN_PROGRESS)
_RECORDINGS_PENDING = (BookingStatus.ENDED, BookingStatus.PROCESSING_RECORDING)


def _idle_since():
    # A reconnect clears last_refreshed_at and sets connected_at: both count as "fresh tokens".
    return func.coalesce(ZoomConnection.last_refreshed_at, ZoomConnection.connected_at)


def call_due(now: datetime):
    """SQL condition: the connection's org has a Zoom call soon, running, or awaiting recordings."""
    soon = exists().where(
        Booking.org_id == ZoomConnection.org_id,
        Booking.status.in_(_BEFORE_OR_DURING_CALL),
        Booking.start_time <= now + CALL_SOON,
        Booking.start_time + func.make_interval(0, 0, 0, 0, 0, Booking.duration_minutes + OVERRUN_MINUTES)
        >= now,
    )
    # Recordings are fetched with the meeting's host's token: only meetings on this connection.
    # Found through the org's bookings (indexed by org_id) and each one's meeting (by booking_id).
    recordings = exists().where(
        Booking.org_id == ZoomConnection.org_id,
        Booking.status.in_(_RECORDINGS_PENDING),
        Meeting.booking_id == Booking.id,
        Meeting.connection_id == ZoomConnection.id,
    )
    return or_(soon, recordings)


def due_filter(now: datetime):
    """SQL condition: this connection is active and needs a refresh now."""
    return (
        (ZoomConnection.status == "active")
        & ZoomConnection.refresh_token_enc.is_not(None)
        & or_(
            _idle_since() < now - IDLE_REFRESH_AFTER,
            and_(
                or_(ZoomConnection.access_expires_at.is_(None),
                    ZoomConnection.access_expires_at < now + ACCESS_TOKEN_MARGIN),
                call_due(now),
            ),
        )
    )


class TokenRefreshActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="refresh_due_connections")
    async def refresh_due_connections(self, page: SweepPage) -> SweepPageResult:
        """Refresh one page of due connections (keyset by id), `CONCURRENCY` at a time."""
        now = utcnow()
        async with self._services.db.session() as s:
            rows = list(
                (
                    await s.exec(
                        select(ZoomConnection.id, _idle_since() < now - IDLE_REFRESH_AFTER,
                               ZoomConnection.token_version)
                        .where(ZoomConnection.id > page.after_id, due_filter(now))
                        .order_by(ZoomConnection.id)
                        # One more than the page: is there a next page, without an empty
                        # trailing page (or a whole run) to find out.
                        .limit(page.limit + 1)
                    )
                ).all()
            )
        more, rows = len(rows) > page.limit, rows[: page.limit]
        outcomes: Counter[str] = Counter()
        async with heartbeating(details=lambda: (sum(outcomes.values()),)):
            # CONCURRENCY connections at a time, each batch locked and re-read together (one
            # query, one MGET) rather than one connection at a time (bench/README.md).
            for i in range(0, len(rows), CONCURRENCY):
                for outcome in (await self._refresh(rows[i:i + CONCURRENCY])).values():
                    outcomes[outcome] += 1
                    TOKEN_REFRESH.labels(outcome).inc()
                activity.heartbeat(sum(outcomes.values()))
        return SweepPageResult(
            selected=len(rows),
            outcomes=dict(outcomes),
            next_after_id=rows[-1][0] if more else None,
        )

    async def _refresh(self, batch) -> dict[str, str]:
        """Outcome labels of a batch of (id, idle, token_version) rows; a failure of one batch
        never stops the page."""
        try:
            # An idle connection may still hold a valid access token, which the manager would
            # call not_due; `force` refreshes it anyway, yet still accepts a refresh another
            # caller finished since the page was read (token_version check) instead of a second.
            # A dead grant comes back as `expired`: the manager has marked the connection
            # expired (status_reason refresh_failed), which the Integrations page explains.
            return await self._services.tokens.refresh_many(
                [(cid, idle, version) for cid, idle, version in batch])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Zoom errors carry no token (zoom.errors scrubs them), so the type and text are safe.
            activity.logger.warning(
                "keep-alive refresh of connections %s failed: %s: %s",
                ", ".join(cid for cid, _, _ in batch), type(exc).__name__, str(exc)[:200],
            )
            return {cid: "error" for cid, _, _ in batch}

    @activity.defn(name="report_token_sweep")
    @beats
    async def report_token_sweep(self, report: SweepReport) -> dict[str, int]:
        """Record the sweep's duration and count connections by status for the gauge."""
        TOKEN_SWEEP_SECONDS.observe(report.seconds)
        async with self._services.db.session() as s:
            rows = (
                await s.exec(
                    select(ZoomConnection.status, func.count()).group_by(ZoomConnection.status)
                )
            ).all()
        counts = {status: 0 for status in CONNECTION_STATUSES} | {st: n for st, n in rows}
        for status, n in counts.items():
            CONNECTIONS.labels(status).set(n)
        activity.logger.info(
            "token keep-alive sweep done in %.1fs: %s; connections %s",
            report.seconds, report.outcomes, counts,
        )
        return counts
