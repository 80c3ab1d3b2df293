"""Promise 1 (docs/promises.md#1-one-meeting-per-booking): one booking makes at most one Zoom meeting, whatever is lost or killed on the way.

Zoom has no idempotency key for creating a meeting. These tests lose the answer of a create that
Zoom carried out (the emulator's commit-then-drop), and SIGKILL the worker process while its
create is at Zoom; each time the booking must end with exactly one meeting at Zoom, the one saved.
"""

from __future__ import annotations

import asyncio
import signal

from sqlmodel import select

from models import HostReservation
from workflows.contract import TASK_QUEUE

from tests.bookings.helpers import (
    worker_env,
    book,
    booking_body,
    future,
    meeting_row,
    new_org_with_session,
    post_booking,
    settled,
    worker_process,
    zoom_meetings_of,
)

CREATE = "/v2/users/*/meetings"


async def test_a_lost_create_answer_is_found_at_zoom_not_created_twice(api, emulator, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    await emulator.control.add_fault(CREATE, method="POST", action="commit_then_drop", count=1)
    before = await emulator.control.stats()
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
    after = await emulator.control.stats()
    assert booking["status"] == "scheduled", booking
    [at_zoom] = await zoom_meetings_of(emulator, booking["id"])
    assert str(at_zoom["id"]) == booking["meeting"]["zoom_meeting_id"]
    assert after["meeting_create_requests"] - before["meeting_create_requests"] == 1
    assert after["meetings_created"] - before["meetings_created"] == 1
    assert [r["outcome"] for r in await emulator.control.requests()
            if r.get("route") and r["path"].endswith("/meetings") and r["method"] == "POST"][-1:] == ["dropped"]


async def _create_in_flight(services, org_id: str, timeout: float = 60) -> HostReservation:
    """The org's reservation once its create request is on its way to Zoom."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with services.db.session() as s:
            held = (await s.exec(select(HostReservation).where(
                HostReservation.org_id == org_id, HostReservation.create_sent_at.is_not(None)))).first()
        if held is not None:
            return held
        assert loop.time() < deadline, "the worker never sent its create"
        await asyncio.sleep(0.02)


async def _at_zoom(emulator, booking_id: str, timeout: float = 30) -> list[dict]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (found := await zoom_meetings_of(emulator, booking_id)):
        assert loop.time() < deadline, "Zoom never made the meeting"
        await asyncio.sleep(0.05)
    return found


async def _blocked_saving(services, timeout: float = 30) -> None:
    """Until a backend waits on a row lock in the meetings save (the worker has Zoom's answer)."""
    from sqlalchemy import text

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with services.db.session() as s:
            waiting = (await s.exec(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
                "AND query ILIKE 'UPDATE host_reservations%'"))).one()[0]
        if waiting:
            return
        assert loop.time() < deadline, "the worker never got to saving the meeting"
        await asyncio.sleep(0.05)


async def test_a_worker_killed_between_create_and_save_leaves_one_meeting(api, emulator, idi_worker, system_host,
                                                                           temporal_env):
    """Zoom made the meeting and answered; the worker dies before its save commits. The save is
    held at a row lock the test takes on the booking's reservation, so the kill lands exactly
    there; Zoom is slowed a little so the test can take that lock first."""
    org_id, headers, session_id = await new_org_with_session(api)
    await emulator.control.add_fault(CREATE, method="POST", action="delay", latency_ms=1000, count=1)
    before = await emulator.control.stats()
    temporal_address = temporal_env.client.service_client.config.target_host
    async with worker_process(api.services, system_host, temporal_address, TASK_QUEUE) as proc:
        posting = asyncio.create_task(post_booking(api, org_id, headers, session_id, booking_body(future(hours=33))))
        held = await _create_in_flight(api.services, org_id)
        async with api.services.db.session() as lock:
            await lock.exec(select(HostReservation).where(HostReservation.id == held.id).with_for_update())
            made = await _at_zoom(emulator, held.booking_id)
            await _blocked_saving(api.services)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await lock.rollback()
        response = await posting
        assert response.status_code == 202, response.text
        booking_id = response.json()["id"]
        assert held.booking_id == booking_id
        assert await meeting_row(api.services, booking_id) is None  # the save died with the worker

    async with idi_worker(f"{system_host}:1"):  # a new worker takes over
        booking = await settled(api, org_id, headers, booking_id, timeout=90)
    after = await emulator.control.stats()
    assert booking["status"] == "scheduled", booking
    assert [str(m["id"]) for m in await zoom_meetings_of(emulator, booking_id)] == [str(made[0]["id"])]
    assert booking["meeting"]["zoom_meeting_id"] == str(made[0]["id"])
    assert after["meeting_create_requests"] - before["meeting_create_requests"] == 1
    assert after["meetings_created"] - before["meetings_created"] == 1


async def test_zoom_hiccups_on_create_are_retried_with_backoff(api, emulator, idi_worker, system_host):
    """A per-second 429 and a 503 answer the first two creates; Temporal's retry makes the third."""
    org_id, headers, session_id = await new_org_with_session(api)
    await emulator.control.add_fault(CREATE, method="POST", action="qps", count=1)
    await emulator.control.add_fault(CREATE, method="POST", action="respond", status=503, count=1)
    before = await emulator.control.stats()
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
    after = await emulator.control.stats()
    assert booking["status"] == "scheduled", booking
    assert len(await zoom_meetings_of(emulator, booking["id"])) == 1
    assert after["meetings_created"] - before["meetings_created"] == 1
    posts = [r for r in await emulator.control.requests() if r["method"] == "POST" and r["path"].endswith("/meetings")]
    assert [r["status"] for r in posts[-3:]] == [429, 503, 201]


async def test_a_first_create_does_not_list_the_hosts_meetings(api, emulator, idi_worker, system_host):
    """Review #15: only a create that may have been sent before needs the reconciling list (the
    lost-answer test above proves the retry still looks); a first try spends no rate limit on it."""
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
    assert booking["status"] == "scheduled", booking
    calls = [(r["method"], r["path"]) for r in await emulator.control.requests() if system_host in r["path"]]
    assert calls == [("GET", f"/v2/users/{system_host}"), ("POST", f"/v2/users/{system_host}/meetings")]
