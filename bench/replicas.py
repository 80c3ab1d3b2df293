"""Scale-out: the same bookings and webhooks through 1 API + 1 worker process, then through
2 APIs on one port (SO_REUSEPORT, docs/architecture.md#scale-out) + 2 workers on one task queue.

Both shapes are real processes (`python -m api`, `python worker.py`) on the run's Postgres, Redis,
Temporal and emulator, so the comparison is like for like; the bench process's own API and worker
stay idle meanwhile. Reported per shape: bookings per second, CPU per booking (API + worker
processes) and CPU per webhook (API processes), and the 2x2 figures as ratios to the 1x1 ones
(cost per unit must stay flat). The promises are checked in the 2x2 run: one meeting per booking
at the emulator, each webhook event stored once, and one refresh at Zoom for an org whose token is
due while both workers book on it.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func
from sqlmodel import col, select

from bench import cpu
from bench.bookings import _terminate, book_many
from bench.harness import Row
from bench.stack import processes
from bench.refresh import _connect_one, _due, _refreshes
from bench.webhooks import load, signed_requests

NAME = "replicas"
WEBHOOK_RATE = 100


def _cpu(a: dict, b: dict, *roles: str) -> float:
    used = cpu.used(a, b)
    return sum(used.get(r, 0.0) for r in roles)


async def _stored(stack, event_ids: set[str]) -> int:
    from models import WebhookEvent

    async with stack.services.db.session() as s:
        return (await s.exec(select(func.count()).where(col(WebhookEvent.dedupe_key).in_(event_ids)))).one()


async def _shape(stack, replicas: int, n: int, webhooks: int) -> dict:
    async with processes(stack, replicas) as url:
        await book_many(stack, 1, 1, api_url=url)  # one-off imports in the new processes
        created_before = (await stack.emulator.control.stats())["meetings_created"]
        a = cpu.snapshot()
        seconds, _, ids = await book_many(stack, n, api_url=url)
        b = cpu.snapshot()
        meetings = (await stack.emulator.control.stats())["meetings_created"] - created_before
        meeting_ids = await _meeting_ids(stack, ids)
        file = stack.workdir / f"replica-webhooks-{replicas}.jsonl"
        requests = signed_requests(webhooks, meeting_ids)
        file.write_text("".join(_json_line(r) for r in requests))
        c = cpu.snapshot()
        step = await load(f"{url}/v1/zoom/webhooks", file, WEBHOOK_RATE, webhooks / WEBHOOK_RATE)
        await asyncio.sleep(1.0)  # answers are in; let the signals after them go out
        d = cpu.snapshot()
        stored = await _stored(stack, {_event_id(r) for r in requests})
        refreshes = await _one_org_due(stack, url) if replicas > 1 else None
        await _terminate(stack, ids)
    return {"rate": n / seconds, "cpu_booking": _cpu(a, b, "api", "worker") / n,
            "cpu_webhook": _cpu(c, d, "api") / max(step["ok"], 1), "meetings": meetings / n,
            "stored": stored / webhooks, "answered": step["ok"], "refreshes": refreshes}


async def _one_org_due(stack, url: str) -> int:
    """Bookings on one connected org, its token due, spread over both APIs and both workers:
    Zoom must see one refresh (docs/promises.md#3-one-refresh-and-no-rotated-token-lost)."""
    org = await stack.admin_org(f"Replica Org {time.time_ns()}")
    connection_id = await _connect_one(stack, org)
    await _due(stack.services, [connection_id])
    before = await _refreshes(stack.emulator)
    _, _, ids = await book_many(stack, 10, 10, api_url=url, org=org)
    await _terminate(stack, ids)
    return await _refreshes(stack.emulator) - before


async def _meeting_ids(stack, booking_ids: list[str]) -> list[int]:
    from models import Meeting

    async with stack.services.db.session() as s:
        rows = (await s.exec(select(Meeting.zoom_meeting_id).where(col(Meeting.booking_id).in_(booking_ids)))).all()
    return [int(m) for m in rows]


def _json_line(request: dict) -> str:
    import json

    return json.dumps(request) + "\n"


def _event_id(request: dict) -> str:
    import json

    from zoom.webhooks import dedupe_key, parse_event

    return dedupe_key(parse_event(json.loads(request["body"])))


async def run(stack, quick: bool) -> list[Row]:
    n, webhooks = (6, 20) if quick else (60, 300)
    one = await _shape(stack, 1, n, webhooks)
    two = await _shape(stack, 2, n, webhooks)
    label = "1 API + 1 worker process"
    refreshes = two["refreshes"]
    return [
        Row(NAME, f"{n} bookings scheduled per second, 2 APIs + 2 workers", two["rate"], "/s", one["rate"], label),
        Row(NAME, "CPU per booking, API + worker processes, 2 + 2", two["cpu_booking"] * 1000, "ms",
            one["cpu_booking"] * 1000, label, note="goal: flat (ratio about 1)"),
        Row(NAME, f"CPU per webhook, API processes, 2 APIs ({WEBHOOK_RATE}/s)", two["cpu_webhook"] * 1000, "ms",
            one["cpu_webhook"] * 1000, label, note="goal: flat (ratio about 1)"),
        Row(NAME, "meetings at Zoom per booking, 2 + 2 (promise 1: must be 1)", two["meetings"], ""),
        Row(NAME, f"webhook events stored per event sent, 2 APIs ({two['answered']} answered 2xx; must be 1)",
            two["stored"], ""),
        Row(NAME, "refreshes at Zoom for 10 bookings on one due org token, 2 workers ",
            refreshes, "", note="promise 3: must be 1" if refreshes == 1 else f"VIOLATION: got {refreshes}"),
    ]
