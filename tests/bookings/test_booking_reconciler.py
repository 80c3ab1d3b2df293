"""Issue 16 item 5: a booking stored but never started gets its workflow from the reconciler.

The API runs as its own process (`python -m api`) with a fault hook that ends it right after the
booking's row commits, before the workflow start: the booking is then `scheduling` with no
workflow behind it. A fresh API process (its reconciler, api/booking_reconciler.py) must start it,
and the booking must reach `scheduled` with exactly one meeting at Zoom.
"""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from temporalio.service import RPCError, RPCStatusCode

from devstack import free_port
from models import Booking
from tests.bookings.helpers import booking_body, future, new_org_with_session, settled, until, zoom_meetings_of
from tests.helpers import zoom_env

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def api_process(base_env, emulator, temporal_env, **extra):
    """`python -m api` on a free port, with the test's database, Redis, Temporal and emulator."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_"))}
    env.update(base_env)
    env.update(zoom_env(emulator))
    env.update({"PYTHONPATH": str(ROOT), "PORT": str(port), "API_HOST": "127.0.0.1",
                "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host, **extra})
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "api", env=env, cwd=str(ROOT),
                                                stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            async def up():
                try:
                    return (await http.get("/openapi.json")).status_code == 200
                except httpx.TransportError:
                    assert proc.returncode is None, "the API process exited at start"
                    return False
            await until(up, timeout=60, what="the API process answering")
            yield proc, http
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def _workflow_exists(temporal_env, workflow_id: str) -> bool:
    try:
        await temporal_env.client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise


async def test_an_api_killed_between_storing_and_starting_a_booking_is_reconciled(
        api, base_env, emulator, temporal_env, idi_worker, system_host):
    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        async with api_process(base_env, emulator, temporal_env,
                               CONVERGE_FAULT_EXIT="after_booking_stored") as (proc, http):
            with pytest.raises(httpx.TransportError):  # the process died mid-request
                await http.post(f"/v1/orgs/{org_id}/sessions/{session_id}/bookings", headers=headers,
                                json=booking_body(future(hours=30)))
            assert await proc.wait() == 70
        async with api.services.db.session() as s:
            from sqlmodel import select
            [booking] = (await s.exec(select(Booking).where(Booking.org_id == org_id))).all()
        assert booking.status == "scheduling" and booking.workflow_started_at is None
        assert not await _workflow_exists(temporal_env, booking.workflow_id)

        async with api_process(base_env, emulator, temporal_env, BOOKING_START_LEASE_SECONDS="1"):
            done = await settled(api, org_id, headers, booking.id, timeout=90)
    assert done["status"] == "scheduled", done
    live = [m for m in await zoom_meetings_of(emulator, booking.id) if not m["deleted"]]
    assert [str(m["id"]) for m in live] == [done["meeting"]["zoom_meeting_id"]]
    async with api.services.db.session() as s:
        assert (await s.get(Booking, booking.id)).workflow_started_at is not None


async def test_the_reconciler_joins_a_workflow_whose_start_was_not_noted(api, emulator, idi_worker, system_host,
                                                                          temporal_env):
    """A start that happened (only its note was lost) is joined, not repeated: one run, one meeting."""
    from api.booking_reconciler import BookingReconciler
    from datetime import timedelta
    from sqlalchemy import update
    from tests.bookings.helpers import book

    org_id, headers, session_id = await new_org_with_session(api)
    async with idi_worker(f"{system_host}:1"):
        made = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])
        async with api.services.db.session() as s:
            await s.exec(update(Booking).where(Booking.id == made["id"])
                         .values(workflow_started_at=None, status="scheduling"))
            await s.commit()
        reconciler = BookingReconciler(api.services, lease=timedelta(0))
        await until(lambda: reconciler.sweep_once(), what="the reconciler taking the booking")
        runs = [w async for w in temporal_env.client.list_workflows(f"WorkflowId = 'idi-booking-{made['id']}'")]
    assert len(runs) == 1
    assert len([m for m in await zoom_meetings_of(emulator, made["id"]) if not m["deleted"]]) == 1
