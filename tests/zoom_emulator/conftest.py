"""Fixtures for the emulator's own tests: an emulator per test, a webhook receiver."""

from __future__ import annotations

import httpx
import pytest
from aiohttp import web

from tests.zoom_emulator.helpers import SECRET, Receiver
from zoom_emulator.testing import running_emulator


@pytest.fixture
async def receiver():
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rec.url = f"http://{host}:{port}/hook"
    yield rec
    await runner.cleanup()


@pytest.fixture
async def emu():
    async with running_emulator() as emu:
        yield emu


@pytest.fixture
async def hooked(receiver):
    """An emulator that sends webhooks to `receiver`, with fast retries."""
    async with running_emulator(webhook_url=receiver.url, webhook_secret=SECRET,
                                webhook_timeout=0.5, time_factor=0.0002) as emu:
        yield emu


@pytest.fixture
async def http(emu):
    # plain HTTP: no TLS context needed (creating one costs ~0.1 s)
    async with httpx.AsyncClient(base_url=emu.base_url, verify=False) as client:
        yield client
