"""A frozen worker is visible: with the only booking worker stopped (SIGSTOP on its own process),
a new booking's card says scheduling is delayed and /healthz answers 503 naming `worker`; after
SIGCONT the meeting appears on the same card and /healthz is 200 again.

The stack here has its own Temporal dev server whose long polls expire after 2 s (instead of a
minute), so a live worker polls every 2 s and the test can use thresholds of seconds
(SCHEDULING_DELAYED_AFTER_SECONDS, WORKER_POLLER_FRESH_SECONDS) without a healthy worker ever
looking dead. Waits are hang guards, not timings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
import time
import uuid

import httpx
import pytest_asyncio
from aiohttp import web

from tests.bookings.helpers import ROOT, worker_env
from tests.pages.conftest import VIEWPORT
from tests.pages.helpers import create_session, expect, shot, sign_in

POLL_EXPIRES = "2s"
DELAYED_AFTER, POLLER_FRESH = 8.0, 5.0


@dataclasses.dataclass
class FrozenStack:
    url: str
    services: object
    worker: asyncio.subprocess.Process


@pytest_asyncio.fixture
async def frozen_stack(services, emulator):
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from api.app import create_app
    from devstack import binary, free_port
    from workflows.contract import SEARCH_ATTRIBUTES, TASK_QUEUE

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"), search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_extra_args=["--headless", "--dynamic-config-value",
                               f'matching.longPollExpirationInterval="{POLL_EXPIRES}"'],
        data_converter=pydantic_data_converter)
    address = env.client.service_client.config.target_host
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    host = f"frozen-{uuid.uuid4().hex[:8]}@system.converge.test"
    await emulator.control.create_user(host, account_id="emu-system-account", type=2,
                                       first_name="Converge", last_name="Host")
    settings = services.settings.model_copy(update={
        "public_base_url": url, "temporal_address": address, "zoom_system_hosts_raw": f"{host}:2",
        "scheduling_delayed_after_seconds": DELAYED_AFTER,
        "worker_poller_fresh_seconds": POLLER_FRESH})
    settings.__dict__.pop("system_hosts", None)  # a cached_property copied along
    svc = dataclasses.replace(services, settings=settings, _tokens=None, _temporal=env.client,
                              _temporal_lock=asyncio.Lock())
    runner = web.AppRunner(create_app(svc), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "tests" / "bookings" / "booking_worker_process.py"), TASK_QUEUE,
        env=worker_env(svc, host, address), stdout=asyncio.subprocess.PIPE, cwd=str(ROOT))
    try:
        assert (await asyncio.wait_for(worker.stdout.readline(), 60)).strip() == b"ready"
        yield FrozenStack(url, svc, worker)
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGCONT)
            worker.kill()
            await worker.wait()
        await runner.cleanup()
        await env.shutdown()


async def health_until(url: str, wanted: int, timeout: float = 60) -> dict:
    """/healthz once it answers `wanted` (a hang guard of `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while True:
            r = await http.get("/healthz")
            if r.status_code == wanted or time.monotonic() > deadline:
                assert r.status_code == wanted, r.text
                return r.json()
            await asyncio.sleep(0.5)


async def test_a_frozen_worker_shows_on_the_card_and_in_healthz_then_recovers(chromium, frozen_stack):
    stack = frozen_stack
    assert (await health_until(stack.url, 200))["checks"]["worker"] == "ok"
    context = await chromium.new_context(viewport=VIEWPORT, base_url=stack.url)
    context.set_default_timeout(30_000)
    page = await context.new_page()
    try:
        from api.orgs import create_org

        org = await create_org(stack.services, "Frozen Worker Research")
        await sign_in(page, org.api_key)
        await create_session(page, "Stalled study")

        stack.worker.send_signal(signal.SIGSTOP)
        await page.click("#schedule summary")
        await page.fill("input[name=participant_name]", "Ivy Wait")
        await page.fill("input[name=participant_email]", "ivy@example.com")
        await page.click("#booking-form button:has-text('Add booking')")
        card = page.locator("article.booking", has_text="Ivy Wait")
        await expect(card.locator(".pending-note")).to_contain_text("Creating the Zoom meeting")
        # Past the threshold the same card (polling itself) says scheduling is delayed.
        await expect(card.locator(".pending-note.delayed")).to_contain_text(
            "Scheduling is delayed", timeout=30_000)
        await expect(card.locator(".pending-note.delayed")).to_contain_text("alerted")
        await expect(card.get_by_text("Scheduling is delayed")).to_have_count(1)  # said once
        health = await health_until(stack.url, 503)
        assert health["checks"]["worker"].startswith("down"), health
        assert all(v == "ok" for k, v in health["checks"].items() if k != "worker"), health
        await shot(page, "agenda-scheduling-delayed")

        stack.worker.send_signal(signal.SIGCONT)
        await expect(card.locator(".join-url")).to_be_visible(timeout=90_000)
        await expect(card.locator(".pending-note")).to_have_count(0)
        assert (await health_until(stack.url, 200))["checks"]["worker"] == "ok"
    finally:
        await context.close()
