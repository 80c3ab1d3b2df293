"""After the keep-alive finds an org's grant dead, its next booking is hosted on the system account
and says why (docs/promises.md#8-fallback-with-a-recorded-reason). Runs on the shared database, API and an `idi` worker, like bookings do."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from workflows.contract import TASK_QUEUE
from tests.bookings.helpers import (
    book,
    connect_org,
    fresh_zoom_user,
    new_org_with_session,
    settled,
)
from tests.token_refresh.helpers import idle, row, run_sweep
from worker import build_worker


def with_system_hosts(services, hosts_raw: str):
    """The shared services with a system-host pool of this test's own."""
    settings = services.settings.model_copy(update={"zoom_system_hosts_raw": hosts_raw})
    settings.__dict__.pop("system_hosts", None)  # a cached_property copied along
    return dataclasses.replace(services, settings=settings, _tokens=None, _temporal_lock=asyncio.Lock())


async def test_the_next_booking_after_a_dead_grant_falls_back_with_reason_refresh_failed(
    api, emulator, temporal_env
):
    svc, client = api.services, temporal_env.client
    org_id, headers, session_id = await new_org_with_session(api, "Keepalive Fallback Ltd")
    email = await fresh_zoom_user(emulator)
    conn = await connect_org(api, emulator, org_id, headers, email)
    await emulator.control.deauthorize(email)
    await idle(svc, conn.id)  # the keep-alive's next sweep refreshes it

    await run_sweep(svc, client)

    expired = await row(svc, conn.id)
    assert (expired.status, expired.status_reason) == ("expired", "refresh_failed")
    host = f"pool-{uuid.uuid4().hex[:10]}@system.converge.test"
    await emulator.control.create_user(host, account_id="emu-system-account", type=2,
                                       first_name="Converge", last_name="Pool Host")
    async with build_worker(client, with_system_hosts(svc, f"{host}:1"), task_queue=TASK_QUEUE):
        booking = await settled(api, org_id, headers, (await book(api, org_id, headers, session_id))["id"])

    assert booking["status"] == "scheduled", booking
    assert booking["meeting"]["host_kind"] == "system"
    assert booking["meeting"]["host_email"] == host
    assert booking["meeting"]["fallback_reason"] == "refresh_failed"
