"""Refresh cadence: Zoom rotations per idle connection per day (issue 13 item 4; goal: at most 1).

A day of the `zoom-token-refresh` Schedule is played in fast time: 288 ticks of 5 minutes. Each
tick moves the clock by ageing every time column of the measured connections and their bookings
by 5 minutes, then runs the sweep's real activity (`refresh_due_connections`, in temporalio's
ActivityEnvironment) against real Postgres, Redis and the emulator; each saved rotation bumps a
row's token_version, which is the figure. Connections start freshly connected (token issued now,
expiring in an hour) and book nothing. Baseline: the same day under the rule before issue 13 (every connection whose access
token expires within 15 minutes, or idle 7 days), swapped in for `due_filter`.
Also: the same idle connections over 31 days (hourly sweeps), where the once-a-month idle refresh
shows, and one connection with an interview, which the Schedule keeps fresh around its call.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from functools import partial
from unittest import mock

from sqlalchemy import or_, update
from sqlmodel import col

from bench.harness import Row

NAME = "cadence"
TICK = timedelta(minutes=5)  # temporal_setup.TOKEN_REFRESH_EVERY
TICKS_PER_DAY = 288
IDLE_CONNECTIONS = 10
QUICK_IDLE_CONNECTIONS = 3
GOAL = 1.0


async def rotations(services, org_ids: list[str]) -> int:
    """Rotations so far of these orgs' connections: each saved rotation bumps token_version
    (from 1 at the start). Counted per row, not at the emulator, because other rows in the
    database may be swept meanwhile."""
    from sqlalchemy import func
    from sqlmodel import select

    from models import ZoomConnection

    async with services.db.session() as s:
        total = (await s.exec(select(func.sum(ZoomConnection.token_version - 1))
                              .where(col(ZoomConnection.org_id).in_(org_ids)))).one()
    return int(total or 0)


async def connections_with_grants(services, emu, n: int) -> list[tuple[str, str]]:
    """`n` orgs, each with an active connection holding a real emulator grant (token fresh, an
    hour to live); [(org_id, connection_id)]."""
    from connections.tokens import ACCESS_FIELD, REFRESH_FIELD, TABLE
    from models import Organization, ZoomConnection, new_id, utcnow

    tag = uuid.uuid4().hex[:8]
    account = f"cadence-{tag}"
    await emu.control.create_account(account, plan="business")
    now, made = utcnow(), []
    async with services.db.session() as s:
        for i in range(n):
            email = f"cadence{i}-{tag}@bench.test"
            await emu.control.create_user(email, account_id=account, type=2)
            grant = await emu.control.user_token(email)
            org = Organization(name=f"Cadence {email}",
                               api_key_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest())
            conn_id = new_id()
            enc = partial(services.cipher.encrypt, table=TABLE, row_id=conn_id)
            s.add(org)
            await s.flush()
            s.add(ZoomConnection(
                id=conn_id, org_id=org.id, zoom_user_id=email, zoom_account_id=account,
                zoom_email=email, access_token_enc=enc(grant["access_token"], field=ACCESS_FIELD),
                refresh_token_enc=enc(grant["refresh_token"], field=REFRESH_FIELD),
                access_expires_at=now + timedelta(hours=1), token_version=1, connected_at=now,
                last_refreshed_at=now,
            ))
            made.append((org.id, conn_id))
        await s.commit()
    return made


async def book(services, org_id: str, starts_in: timedelta, minutes: int = 60) -> str:
    """A scheduled interview of the org starting `starts_in` from now; its booking id."""
    from models import Booking, IdiSession, utcnow

    async with services.db.session() as s:
        session = IdiSession(org_id=org_id, title="Cadence study")
        s.add(session)
        await s.flush()
        booking = Booking(org_id=org_id, session_id=session.id, participant_name="P",
                          participant_email="p@bench.test", start_time=utcnow() + starts_in,
                          duration_minutes=minutes, status="scheduled")
        s.add(booking)
        await s.commit()
        return booking.id


async def age(services, org_ids: list[str], by: timedelta) -> None:
    """Move the clock `by` for these orgs: their connections' and bookings' times go back."""
    from models import Booking, ZoomConnection

    async with services.db.session() as s:
        await s.exec(update(ZoomConnection).where(col(ZoomConnection.org_id).in_(org_ids)).values(
            access_expires_at=ZoomConnection.access_expires_at - by,
            last_refreshed_at=ZoomConnection.last_refreshed_at - by,
            connected_at=ZoomConnection.connected_at - by))
        await s.exec(update(Booking).where(col(Booking.org_id).in_(org_ids))
                     .values(start_time=Booking.start_time - by))
        await s.commit()


async def tick(services, org_ids: list[str], by: timedelta = TICK) -> None:
    """One Schedule interval: age by `by`, then one whole sweep through the real activity."""
    from temporalio.testing import ActivityEnvironment

    from activities.token_refresh import TokenRefreshActivities
    from workflows.token_refresh_types import SweepPage

    await age(services, org_ids, by)
    acts = TokenRefreshActivities(services)
    after = ""
    while after is not None:
        page = await ActivityEnvironment().run(acts.refresh_due_connections, SweepPage(after_id=after))
        after = page.next_after_id


def _rule_before_issue_13(now):
    """The keep-alive's selection before issue 13, for the baseline only."""
    from activities.token_refresh import _idle_since
    from models import ZoomConnection

    return ((ZoomConnection.status == "active") & ZoomConnection.refresh_token_enc.is_not(None)
            & or_(ZoomConnection.access_expires_at < now + timedelta(minutes=15),
                  _idle_since() < now - timedelta(days=7)))


async def _idle_days(stack, n: int, ticks: int, by: timedelta = TICK) -> float:
    """Rotations per connection per day for `n` idle connections over `ticks` sweeps `by` apart."""
    services, emu = stack.services, stack.emulator
    orgs = [org for org, _ in await connections_with_grants(services, emu, n)]
    for _ in range(ticks):
        await tick(services, orgs, by)
    return await rotations(services, orgs) / n / (ticks * by / timedelta(days=1))


async def run(stack, quick: bool) -> list[Row]:
    import activities.token_refresh as keepalive

    n = QUICK_IDLE_CONNECTIONS if quick else IDLE_CONNECTIONS
    ticks = TICKS_PER_DAY // (8 if quick else 1)
    played = f"{ticks * TICK / timedelta(hours=1):g} h of 5-minute sweeps"
    idle = await _idle_days(stack, n, ticks)
    with mock.patch.object(keepalive, "due_filter", _rule_before_issue_13):
        before_rule = await _idle_days(stack, n, ticks)
    # The idle refresh itself comes once per IDLE_REFRESH_AFTER: a month, played in hourly sweeps
    # (coarse, but an idle connection's rule is measured in days).
    month = await _idle_days(stack, n, 24 * 31, by=timedelta(hours=1))
    services, emu = stack.services, stack.emulator
    ((org, _),) = await connections_with_grants(services, emu, 1)
    await book(services, org, starts_in=timedelta(hours=1, minutes=30))
    for _ in range(ticks):
        await tick(services, [org])
    busy = await rotations(services, [org])
    label = "rule before issue 13 (token within 15 min of expiry)"
    return [
        Row(NAME, f"rotations per idle connection per day (goal <= {GOAL:g}), {played}", idle,
            "/day", before_rule, label, note=f"{n} connections"),
        Row(NAME, "rotations per idle connection per day, 31 days of hourly sweeps", month, "/day",
            note=f"one per {keepalive.IDLE_REFRESH_AFTER.days} days"),
        Row(NAME, f"rotations for one 60-minute interview 90 min ahead, {played}", busy, "",
            note="fresh from 1 h before the start to 1 h after the end"),
    ]
