"""Fixtures of the page tests: signing in over plain HTTP, and a whole stack for the browser.

`web_stack` is the API on a port of its own whose PUBLIC_BASE_URL and ZOOM_REDIRECT_URI point at
itself (so Zoom's consent page sends the browser back to it), a booking worker with a system host
nobody else books, and the emulator's webhooks aimed at it for the module's duration.
`browser` is Debian's Chromium driven by Playwright; without either the browser tests are
skipped with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import uuid
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from tests.pages.helpers import new_org_key

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}

@pytest_asyncio.fixture
async def page_client(api):
    """A cookie-keeping HTTP client of the shared test API (no redirects followed)."""
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        yield client


# --- the browser stack --------------------------------------------------------------------------


@dataclass
class WebStack:
    url: str
    services: object
    emulator: object

    async def new_org(self, name: str) -> tuple[str, str]:
        return await new_org_key(self.services, name)

    async def zoom_user(self, first: str, last: str, *, type: int = 2) -> str:
        """A Zoom user nobody else connects (a second connect of one user ends the first)."""
        email = f"{first.lower()}.{last.lower()}-{uuid.uuid4().hex[:6]}@acme.test"
        await self.emulator.control.create_user(email, account_id="emu-acme", type=type,
                                                first_name=first, last_name=last)
        return email


@pytest_asyncio.fixture(scope="module")
async def web_stack(services, temporal_env, emulator):
    from api.app import create_app
    from devstack import free_port
    from workflows.contract import TASK_QUEUE
    from worker import build_worker

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    pool_host = f"pages-{uuid.uuid4().hex[:8]}@system.converge.test"
    await emulator.control.create_user(pool_host, account_id="emu-system-account", type=2,
                                       first_name="Converge", last_name="Host")
    settings = services.settings.model_copy(update={
        "public_base_url": url,
        "zoom_redirect_uri": f"{url}/v1/integrations/zoom/callback",
        "zoom_system_hosts_raw": f"{pool_host}:2",
    })
    settings.__dict__.pop("system_hosts", None)  # a cached_property copied along
    svc = dataclasses.replace(services, settings=settings, _tokens=None,
                              _temporal_lock=asyncio.Lock())
    await emulator.control.add_redirect_uri(settings.zoom_redirect_uri)
    before = await emulator.control.http.get("/_emulator/webhook")
    await emulator.control.set_webhook(f"{url}/v1/zoom/webhooks", secret="emu-webhook-secret")

    runner = web.AppRunner(create_app(svc), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with build_worker(temporal_env.client, svc, task_queue=TASK_QUEUE):
            yield WebStack(url, svc, emulator)
    finally:
        await runner.cleanup()
        await emulator.control.set_webhook(before.json().get("url"))
        await emulator.control.clear_faults()


@pytest_asyncio.fixture(scope="session")
async def chromium():
    """Debian's Chromium under Playwright, or a skip saying what is missing."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[dev]')")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install chromium); browser tests skipped")
    from playwright.async_api import expect

    # Waits are hang guards, not timings: generous on a busy 2-core CI machine.
    expect.set_options(timeout=20_000)
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    await browser.close()
    await playwright.stop()


@pytest_asyncio.fixture
async def browser_page(chromium, web_stack):
    """A fresh browser context (no cookies) on the stack, viewport 1280x800."""
    context = await chromium.new_context(viewport=VIEWPORT, base_url=web_stack.url)
    context.set_default_timeout(30_000)
    page = await context.new_page()
    yield page
    await context.close()
