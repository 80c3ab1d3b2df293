"""Bookings per second: N bookings through the HTTP API until every one is `scheduled`.

The real path end to end: POST /bookings (validation, database row, update-with-start of its
IdiBookingWorkflow) → the real worker resolves a system host (advisory lock on the host pool),
creates the Zoom meeting at the emulator, writes the meeting and the status. The org has no Zoom
connection, so every booking takes the system account (the default for a new org). Start times
are an hour apart, so host capacity never refuses one. Baseline: N bare one-activity workflows on
the same Temporal server with the same concurrency (bench/bare.py).
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import datetime, timedelta, timezone

import httpx
from sqlalchemy import func
from sqlmodel import col, select

from bench import cpu
from bench.bare import last_shaped_workflow_id, last_workflow_id as BARE_LAST_ID, run_bare, run_booking_shaped
from bench.harness import Row, percentile

NAME = "bookings"
CONCURRENCY = 20
# Hours already handed out in this process: each booking gets its own hour, so the system hosts'
# capacity (4 meetings at once) never refuses one, however many batches a run books.
_hours_used = 0


async def _session(http: httpx.AsyncClient, org_id: str, headers: dict) -> str:
    r = await http.post(f"/v1/orgs/{org_id}/sessions", headers=headers,
                        json={"title": "Bench study", "kind": "idi", "meeting_provider": "zoom_app"})
    r.raise_for_status()
    return r.json()["id"]


async def book_many(stack, n: int, concurrency: int = CONCURRENCY, *, first_start: datetime | None = None,
                    deadline_s: float = 300, api_url: str | None = None,
                    org: tuple[str, dict] | None = None) -> tuple[float, list[float], list[str]]:
    """Post `n` bookings (to `api_url`, default the stack's API; for `org`, default a new one)
    and wait until all are scheduled; (seconds, POST latencies, ids)."""
    from models import Booking

    global _hours_used
    org_id, headers = org or await stack.admin_org(f"Bench Org {time.time_ns()}")
    base = (first_start or datetime.now(timezone.utc) + timedelta(days=2, hours=_hours_used)
            ).replace(second=0, microsecond=0)
    _hours_used += n
    latencies: list[float] = []
    ids: list[str] = []
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=api_url or stack.api_url, timeout=60, limits=limits) as http:
        session_id = await _session(http, org_id, headers)

        async def one(i: int) -> None:
            start = base + timedelta(hours=i)
            body = {"participant_name": f"Participant {i}", "participant_email": f"p{i}@example.com",
                    "start_time": start.isoformat().replace("+00:00", "Z"), "duration_minutes": 30}
            async with gate:
                t = time.perf_counter()
                r = await http.post(f"/v1/orgs/{org_id}/sessions/{session_id}/bookings",
                                    headers=headers, json=body)
                latencies.append(time.perf_counter() - t)
            if r.status_code != 202:
                raise RuntimeError(f"booking {i} refused: {r.status_code} {r.text[:300]}")
            ids.append(r.json()["id"])

        started = time.perf_counter()
        try:
            await asyncio.gather(*(one(i) for i in range(n)))
            # The POST waits up to 3 s for the meeting; the rest are finished by the worker.
            while True:
                async with stack.services.db.session() as s:
                    rows = (await s.exec(
                        select(Booking.status, func.count()).where(col(Booking.id).in_(ids))
                        .group_by(Booking.status))).all()
                counts = dict(rows)
                if counts.get("scheduled", 0) == n:
                    break
                if set(counts) - {"scheduling", "scheduled"}:
                    raise RuntimeError(f"bookings ended otherwise: {counts}")
                if time.perf_counter() - started > deadline_s:
                    raise RuntimeError(f"bookings not all scheduled after {deadline_s}s: {counts}")
                await asyncio.sleep(0.05)
        except BaseException:
            # A run cut short (time limit) must not leave workflows for a later benchmark's worker.
            await asyncio.wait_for(_terminate(stack, ids), 15)
            raise
        return time.perf_counter() - started, latencies, ids


async def _terminate(stack, booking_ids: list[str]) -> None:
    from workflows.contract import booking_workflow_id

    for booking_id in booking_ids:
        try:
            await stack.client.get_workflow_handle(booking_workflow_id(booking_id)).terminate(
                reason="bench: run cut short")
        except Exception:
            pass


async def history_events(client, workflow_id: str) -> dict[str, int]:
    """A workflow's history so far, counted by event type (what the Temporal server had to
    persist for it: the server-side cost of a booking)."""
    from temporalio.api.enums.v1 import EventType

    counts: dict[str, int] = {}
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        counts[name] = counts.get(name, 0) + 1
    return counts


def _commands(counts: dict[str, int]) -> str:
    kinds = {"activities": counts.get("ACTIVITY_TASK_SCHEDULED", 0),
             "workflow tasks": counts.get("WORKFLOW_TASK_COMPLETED", 0),
             "search-attribute upserts": counts.get("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", 0),
             "updates": counts.get("WORKFLOW_EXECUTION_UPDATE_ACCEPTED", 0)}
    return ", ".join(f"{v} {k}" for k, v in kinds.items())


async def join_url_latency(stack, rate: float, seconds: float) -> list[float]:
    """Open loop at `rate` bookings/s for `seconds`: for each, the time from when its POST was due
    until the caller holds the join URL (in the POST's answer, or from reading the booking
    again when Zoom was slower than the answer's wait)."""
    org_id, headers = await stack.admin_org(f"Bench Latency Org {time.time_ns()}")
    global _hours_used
    base = (datetime.now(timezone.utc) + timedelta(days=2, hours=_hours_used)).replace(second=0, microsecond=0)
    count = max(1, int(rate * seconds))
    _hours_used += count
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    ids: list[str] = []
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60,
                                 limits=httpx.Limits(max_connections=200)) as http:
        session_id = await _session(http, org_id, headers)

        async def one(i: int, due: float) -> None:
            start = base + timedelta(hours=i)
            r = await http.post(f"/v1/orgs/{org_id}/sessions/{session_id}/bookings", headers=headers, json={
                "participant_name": f"Participant {i}", "participant_email": f"p{i}@example.com",
                "start_time": start.isoformat().replace("+00:00", "Z"), "duration_minutes": 30})
            booking = r.json()
            ids.append(booking["id"])
            while not (booking.get("meeting") or {}).get("join_url"):
                await asyncio.sleep(0.02)
                booking = (await http.get(f"/v1/orgs/{org_id}/bookings/{booking['id']}", headers=headers)).json()
            latencies.append(loop.time() - due)

        t0 = loop.time() + 0.05
        tasks = []
        for i in range(count):
            due = t0 + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            tasks.append(asyncio.create_task(one(i, due)))
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), seconds + 120)
        finally:
            await asyncio.wait_for(_terminate(stack, ids), 30)
    return latencies


async def run(stack, quick: bool) -> list[Row]:
    n = int(os.environ.get("BENCH_BOOKINGS", 0)) or (10 if quick else 200)
    async with stack.worker():
        # One booking first: the worker's first workflow task pays one-off imports.
        await book_many(stack, 1, 1)
        emulator_before = await stack.emulator.control.stats()
        a = cpu.snapshot()
        seconds, latencies, ids = await book_many(stack, n)
        b = cpu.snapshot()
        bare_seconds = await run_bare(stack.client, n, CONCURRENCY)
        c = cpu.snapshot()
        shaped_seconds = await run_booking_shaped(stack.client, n, CONCURRENCY)
        d = cpu.snapshot()
        from workflows.contract import booking_workflow_id

        booking_events = await history_events(stack.client, booking_workflow_id(ids[-1]))
        bare_events = await history_events(stack.client, BARE_LAST_ID(n))
        shaped_events = await history_events(stack.client, last_shaped_workflow_id(n))
        await _terminate(stack, ids)
        emulator_after = await stack.emulator.control.stats()
        half = n / seconds / 2
        to_join = await join_url_latency(stack, half, 3 if quick else 10)
    created = emulator_after["meetings_created"] - emulator_before["meetings_created"]
    if created != n:
        raise RuntimeError(f"{n} bookings made {created} meetings at the emulator")
    real, bare, shaped = cpu.used(a, b), cpu.used(b, c), cpu.used(c, d)
    label = "bare 1-activity workflows"
    shape = f"bare booking-shaped workflows, {sum(shaped_events.values())} events, no work"
    return [
        Row(NAME, f"{n} bookings scheduled (meeting created), per second", n / seconds, "/s",
            n / bare_seconds, label, note=f"concurrency {CONCURRENCY}; goal 0.5x or more"),
        Row(NAME, "CPU per booking, API + worker process", real.get("bench", 0) / n * 1000, "ms",
            bare.get("bench", 0) / n * 1000, label, note="goal 2x or less"),
        Row(NAME, "CPU per booking, Temporal server", real.get("temporal", 0) / n * 1000, "ms",
            bare.get("temporal", 0) / n * 1000, label, note="goal 1.5x or less"),
        Row(NAME, "CPU per booking, Postgres + emulator + Redis",
            sum(real.get(r, 0) for r in ("postgres", "emulator", "redis")) / n * 1000, "ms"),
        Row(NAME, "history events per booking, until scheduled", sum(booking_events.values()), "",
            sum(bare_events.values()), label, note=_commands(booking_events)),
        # Where the gap to the bare workflow lives: the booking's Temporal shape alone (its four
        # steps, upserts and update with no work in them) against the booking (bench/bare.py).
        Row(NAME, "bare booking-shaped workflows per second (the shape's own ceiling)",
            n / shaped_seconds, "/s", n / bare_seconds, label),
        Row(NAME, "bookings scheduled per second vs the booking's shape with no work", n / seconds, "/s",
            n / shaped_seconds, shape),
        Row(NAME, "CPU per booking, Temporal server, vs the booking's shape with no work",
            real.get("temporal", 0) / n * 1000, "ms", shaped.get("temporal", 0) / n * 1000, shape),
        Row(NAME, "CPU per booking, API + worker process, vs the booking's shape with no work",
            real.get("bench", 0) / n * 1000, "ms", shaped.get("bench", 0) / n * 1000, shape),
        Row(NAME, "POST /bookings latency p50", percentile(latencies, 50) * 1000, "ms"),
        Row(NAME, "POST /bookings latency p99", percentile(latencies, 99) * 1000, "ms"),
        Row(NAME, f"POST /bookings to join URL, p50, open loop at half the rate above ({half:.1f}/s)",
            percentile(to_join, 50) * 1000, "ms", note="goal: 500 ms or less"),
        Row(NAME, f"POST /bookings to join URL, p99, open loop at {half:.1f}/s",
            percentile(to_join, 99) * 1000, "ms"),
    ]
