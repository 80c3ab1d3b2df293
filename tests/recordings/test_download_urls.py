"""Recording downloads fetch only from Zoom's file servers, checked on the first request and on
every redirect hop; anything else fails the file for good with a reason and is never requested."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from sqlalchemy import update
from temporalio.exceptions import ApplicationError

from devstack import free_port
from models import RecordingFile
from tests.recordings.helpers import zoom_recording
from tests.recordings.test_recording_downloads import Downloads
from workflows.recording_types import FileFailure
from zoom.download_urls import DownloadUrlPolicy, DownloadUrlRefused, open_download


@asynccontextmanager
async def bystander(redirect_to: str | None = None):
    """A loopback server that must never be asked for anything (or, with `redirect_to`, one that
    redirects there); yields (its URL, the paths it was asked for)."""
    asked: list[str] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        asked.append(request.path)
        if redirect_to:
            raise web.HTTPFound(redirect_to)
        return web.Response(body=b"internal secret")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", asked
    finally:
        await runner.cleanup()


async def test_a_webhook_url_outside_zoom_fails_the_file_and_is_never_fetched(api, emulator):
    rec = await zoom_recording(api, emulator, ["M4A"])
    run = Downloads(api.services)
    ref = (await run.register(rec))["M4A"]
    async with bystander() as (url, asked):
        async with api.services.db.session() as s:
            await s.exec(update(RecordingFile).where(RecordingFile.id == ref.id)
                         .values(download_url=f"{url}/metadata"))
            await s.commit()
        with pytest.raises(ApplicationError) as failed:
            await run.download(rec, ref)
    assert failed.value.type == FileFailure.URL_REFUSED and failed.value.non_retryable
    assert "Zoom's download servers" in failed.value.message
    assert asked == []


async def test_every_redirect_hop_is_checked(api):
    async with bystander() as (inner, inner_asked):
        async with bystander(redirect_to=f"{inner}/steal") as (outer, outer_asked):
            # The first hop is a trusted origin (as the emulator is); the hop it names is not.
            policy = DownloadUrlPolicy(("zoom.us",), frozenset({("http", "127.0.0.1", int(outer.rsplit(":", 1)[1]))}))
            with ThreadPoolExecutor(1) as reads, pytest.raises(DownloadUrlRefused):
                async with open_download(f"{outer}/rec/download/x", {"Authorization": "Bearer t"},
                                         connect_timeout=5, read_timeout=5, policy=policy,
                                         executor=reads):
                    pass
    assert outer_asked == ["/rec/download/x"] and inner_asked == []


@pytest.mark.parametrize("url", [
    "http://zoom.us/rec/download/x",            # not https
    "https://zoom.us.evil.example/rec/x",       # looks like Zoom, is not
    "https://evilzoom.us/rec/x",
    "https://zoom.us:8443/rec/x",               # Zoom's host, another port
    "https://127.0.0.1/rec/x",                  # an address, not a host
    "https://[::1]/rec/x",
    "https://169.254.169.254/latest/meta-data",
    "ftp://zoom.us/x",
    "not a url",
])
async def test_urls_that_are_not_zooms_download_servers_are_refused(url):
    policy = DownloadUrlPolicy(("zoom.us",), frozenset({("http", "127.0.0.1", 9090)}))
    with pytest.raises(DownloadUrlRefused):
        await policy.check(url)


async def test_a_listed_host_that_resolves_to_loopback_is_refused_after_dns():
    policy = DownloadUrlPolicy(("localhost",), frozenset())
    with pytest.raises(DownloadUrlRefused, match="non-public address"):
        await policy.check("https://localhost/rec/download/x")


async def test_zoom_hosts_and_the_configured_origins_pass():
    policy = DownloadUrlPolicy(("zoom.us",), frozenset({("http", "127.0.0.1", 9090)}))
    await policy.check("http://127.0.0.1:9090/rec/download/abc")  # the emulator's exact origin
    with pytest.raises(DownloadUrlRefused):
        await policy.check("http://127.0.0.1:9091/rec/download/abc")  # same host, other port
