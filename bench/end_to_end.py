"""End to end: recording.completed → every file stored, p50/p95, small files.

Each sample is one real booking (API + worker): its meeting starts and ends at the emulator,
the service hears meeting.ended through its webhook intake and the booking reads `ended`; then
the clock starts and the emulator completes the cloud recording (MP4 2 MiB, M4A 256 KiB, chat,
transcript), signs and sends recording.completed to the API, and the clock stops when every one
of those files is `stored` in recording_files. Bookings go one after another, so each figure is
the service's own latency, not a queue. Baseline: curl fetching the same files one after another
with the event's download_token (the floor of moving those bytes from this emulator).
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func
from sqlmodel import select

from bench.bookings import book_many
from bench.downloads import curl
from bench.harness import Row, percentile

NAME = "end_to_end"
FILES = ["MP4", "M4A", "CHAT", "TRANSCRIPT"]
SAMPLES = 20
QUICK_SAMPLES = 3


async def _booking_status(services, booking_id: str) -> str:
    from models import Booking

    async with services.db.session() as s:
        return (await s.get(Booking, booking_id)).status


async def _stored(services, booking_id: str) -> dict[str, int]:
    from models import RecordingFile

    async with services.db.session() as s:
        rows = (await s.exec(select(RecordingFile.status, func.count())
                             .where(RecordingFile.booking_id == booking_id)
                             .group_by(RecordingFile.status))).all()
    return dict(rows)


async def _until(check, what: str, timeout: float, every: float = 0.01):
    deadline = time.perf_counter() + timeout
    while True:
        got = await check()
        if got:
            return got
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what} not reached within {timeout:.0f}s")
        await asyncio.sleep(every)


async def one(stack, booking_id: str, meeting_id: int) -> tuple[float, float]:
    """(seconds from recording.completed to all stored, curl seconds for the same files)."""
    services, control = stack.services, stack.emulator.control
    await control.start_meeting(meeting_id)
    await control.end_meeting(meeting_id)
    await _until(lambda: _ended(services, booking_id), f"booking {booking_id} ended", 30)
    started = time.perf_counter()
    rec = await control.complete_recording(meeting_id, FILES)
    n = len(rec["files"])

    async def all_stored():
        counts = await _stored(services, booking_id)
        if counts.get("failed"):
            raise RuntimeError(f"booking {booking_id}: files failed: {counts}")
        return counts.get("stored", 0) == n

    await _until(all_stored, f"booking {booking_id}: {n} files stored", 60)
    elapsed = time.perf_counter() - started
    curl_started = time.perf_counter()
    for i, f in enumerate(rec["files"]):
        dest = stack.workdir / f"e2e-curl-{i}"
        await curl(f["download_url"], rec["download_token"], dest)
        dest.unlink(missing_ok=True)
    return elapsed, time.perf_counter() - curl_started


async def _ended(services, booking_id: str) -> bool:
    return await _booking_status(services, booking_id) not in ("scheduling", "scheduled")


async def run(stack, quick: bool) -> list[Row]:
    from models import Meeting

    n = QUICK_SAMPLES if quick else SAMPLES
    latencies, floors = [], []
    async with stack.worker():
        _, _, ids = await book_many(stack, n, min(n, 10))
        async with stack.services.db.session() as s:
            meetings = dict((await s.exec(select(Meeting.booking_id, Meeting.zoom_meeting_id)
                                          .where(Meeting.booking_id.in_(ids)))).all())
        for booking_id in ids:
            elapsed, floor = await one(stack, booking_id, int(meetings[booking_id]))
            latencies.append(elapsed * 1000)
            floors.append(floor * 1000)
    label = "curl, the same files one after another"
    what = "MP4 2 MiB + M4A 256 KiB + chat + transcript"
    return [
        Row(NAME, f"recording.completed -> all files stored, p50 ({n} bookings)",
            percentile(latencies, 50), "ms", percentile(floors, 50), label, note=what),
        Row(NAME, f"recording.completed -> all files stored, p95 ({n} bookings)",
            percentile(latencies, 95), "ms", percentile(floors, 95), label),
    ]
