"""The download's own reader (zoom/download_stream.py) and part file (models/recording_store.py):
a Temporal cancel stops a body that hangs at once, leaving the part file whole up to the last
chunk and nothing running; a redirect to another origin goes without the token; the part file
holds the bytes written, whether direct or buffered."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiohttp import web
from sqlalchemy import update

from devstack import free_port
from models import RecordingFile
from models.recording_store import CHUNK, PartFile, RecordingStore, aligned_buffer
from activities.recording_download import STEP
from tests.recordings.helpers import file_rows, zoom_recording
from tests.recordings.test_recording_downloads import MIB, Downloads, emulator_log
from zoom.download_urls import DownloadUrlPolicy, open_download
from zoom_emulator.files import expected_sha256


async def test_a_cancel_mid_body_stops_the_read_and_the_next_attempt_resumes(api, emulator):
    whole = 2 * STEP  # two of the download's steps reach the disk before the body hangs
    size = whole + 2 * MIB + 11
    rec = await zoom_recording(api, emulator, [{"file_type": "MP4", "size": size}])
    first = Downloads(api.services)
    ref = (await first.register(rec))["MP4"]
    key = rec.files["MP4"]["file_key"]
    # The body hangs far longer than it takes to cancel, and the read timeout (half the lease)
    # is longer still: only shutting the socket can end the read before the stall does.
    stall = await emulator.control.add_fault("/rec/files/*", action="stall", after_bytes=whole + 5,
                                             stall_ms=10_000, count=1)
    try:
        download = asyncio.create_task(first.download(rec, ref, lease_seconds=60))
        while not any(r["id"] == stall["id"] and r["fired"] for r in await emulator.control.faults()):
            await asyncio.sleep(0.05)
        while first.heartbeats[-1:] != [whole]:
            await asyncio.sleep(0.01)
        download.cancel()
        with pytest.raises(asyncio.CancelledError):
            await download
        # The stalled request has not ended yet (the emulator logs a request when it ends): the
        # cancel did not wait for the body.
        assert not [r for r in await emulator.control.requests()
                    if key in r["path"] and r["route"] == "GET /rec/files/{key}"]
        assert not [t.name for t in threading.enumerate() if t.name.startswith("recording-read")]
        row = (await file_rows(api.services, rec.booking_id))["MP4"]
        store = RecordingStore.from_settings(api.services.settings)
        part = store.part_path(store.relative_path(row.org_id, row.booking_id, row.id, row.file_extension))
        assert part.stat().st_size == whole  # whole steps only, each heartbeated once on disk
        assert first.heartbeats == list(range(MIB, whole + 1, MIB))
        # The lease went with the cancel: the next attempt starts at once and resumes.
        second = Downloads(api.services)
        stored = await second.download(rec, ref)
    finally:
        await emulator.control.clear_faults()
    assert stored.size_bytes == size and stored.sha256 == expected_sha256(key, size)
    assert second.heartbeats == [whole + MIB, whole + 2 * MIB, size]
    assert ("GET /rec/files/{key}", 206) in await emulator_log(emulator, key)


async def test_a_redirect_to_another_origin_goes_without_the_token():
    """Both origins are trusted here; the token is still only for the one it was given for."""
    seen: list[dict] = []

    async def file_server(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=b"the file")

    inner_port, outer_port = free_port(), free_port()

    async def download_url(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        raise web.HTTPFound(f"http://127.0.0.1:{inner_port}/rec/files/x?sig=1")

    runners = []
    for port, handler in ((inner_port, file_server), (outer_port, download_url)):
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    policy = DownloadUrlPolicy(("zoom.us",), frozenset({("http", "127.0.0.1", inner_port),
                                                        ("http", "127.0.0.1", outer_port)}))
    try:
        with ThreadPoolExecutor(1) as reads:
            async with open_download(f"http://127.0.0.1:{outer_port}/rec/download/x",
                                     {"Authorization": "Bearer secret-token"}, connect_timeout=5,
                                     read_timeout=5, policy=policy, executor=reads) as response:
                buffer = aligned_buffer()
                n = await response.readinto(buffer)
                assert response.status_code == 200 and bytes(buffer[:n]) == b"the file"
                assert await response.readinto(buffer) == 0
    finally:
        for runner in runners:
            await runner.cleanup()
    outer, inner = seen
    assert outer["Authorization"] == "Bearer secret-token" and "Authorization" not in inner
    assert inner["Accept-Encoding"] == "identity"


def test_the_part_file_holds_every_byte_direct_or_buffered(tmp_path):
    part = tmp_path / "f.mp4.part"
    chunks = []
    for fill in (b"a", b"b", b"c"):
        chunk = aligned_buffer()
        chunk[:] = fill * CHUNK
        chunks.append(chunk)
    with PartFile(part, 0) as f:
        f.write(chunks[0])
        f.write(chunks[1][:5])  # a short last chunk (a cut): buffered
    with PartFile(part, CHUNK + 5) as f:  # a resume at an unaligned offset
        f.write(chunks[2])
    with PartFile(part, 2 * CHUNK + 5) as f:
        f.write(chunks[1][:4096])
    expected = b"a" * CHUNK + b"b" * 5 + b"c" * CHUNK + b"b" * 4096
    assert hashlib.sha256(part.read_bytes()).hexdigest() == hashlib.sha256(expected).hexdigest()
    with PartFile(part, 0) as f:  # from the start again: the old bytes go
        f.write(chunks[2])
    assert part.read_bytes() == b"c" * CHUNK


def test_part_files_are_written_direct_where_the_filesystem_allows(tmp_path):
    """The page cache is bypassed for whole chunks (the recording store's reason), so the test
    directory's filesystem must take O_DIRECT for this test to mean anything."""
    probe = tmp_path / "probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT))
    except OSError:
        pytest.skip("this filesystem refuses O_DIRECT")
    with PartFile(tmp_path / "f.part", 0) as f:
        assert f._direct is not None


async def test_a_slow_body_keeps_the_lease_and_heartbeats_while_a_step_fills(tmp_path):
    """A step is 4 MiB: on a slow link filling one takes longer than the lease and the heartbeat
    timeout. The attempt must renew both while it waits, or it loses the file every step."""
    from contextlib import ExitStack

    from temporalio.testing import ActivityEnvironment

    from activities.recording_download import _copy_body, _Pipeline

    class SlowBody:
        """Hands over 1,000 bytes after 0.35 s, then ends."""

        def __init__(self) -> None:
            self.calls = 0

        async def readinto(self, buffer: memoryview) -> int:
            self.calls += 1
            if self.calls > 1:
                return 0
            await asyncio.sleep(0.35)
            buffer[:1000] = b"\0" * 1000
            return 1000

    class Lease:
        every = 0.1

        def __init__(self) -> None:
            self.kept = 0

        async def keep(self) -> None:
            self.kept += 1

    beats: list = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    lease, digest = Lease(), hashlib.sha256()

    async def copy() -> int:
        with ExitStack() as stack, PartFile(tmp_path / "f.part", 0) as handle:
            return await _copy_body(SlowBody(), _Pipeline(stack), handle, digest, lease, 1000)

    assert await env.run(copy) == 1000
    assert (tmp_path / "f.part").read_bytes() == b"\0" * 1000
    # Renewed while the step filled (about three lease periods), then once before its write.
    assert lease.kept >= 3, lease.kept
    assert len([b for b in beats if b[0] == 0]) >= 2, beats
