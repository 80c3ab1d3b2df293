"""Promise 2 (docs/promises.md#2-every-recording-file-stored-once-and-whole) at the level of one download: every file Zoom announces is stored once, whole and
size-checked, or says why not. The activities run as Temporal would run them (ActivityEnvironment,
heartbeats captured) against the emulator's real file server, the real database and Redis; the
emulator plays Zoom's failures: an expired download token, a 200 HTML page, a connection cut
mid-file, a file gone, and a size that does not add up."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.recording_download import RecordingDownloadActivities
from activities.recordings import RecordingActivities
from metrics import WORKER_REGISTRY
from models import RecordingFile
from models.recording_store import RecordingStore
from tests.recordings.helpers import file_rows, zoom_recording
from workflows.recording_types import DownloadFileInput, RegisterFilesInput
from zoom_emulator.files import expected_sha256, file_key

MIB = 1 << 20


def _sample(name: str, **labels) -> float:
    return WORKER_REGISTRY.get_sample_value(name, labels) or 0.0


class Downloads:
    """Register a recording's files from its inbox event, then download them one by one."""

    def __init__(self, services) -> None:
        self.services = services
        self.files = RecordingActivities(services)
        self.downloads = RecordingDownloadActivities(services)
        self.env = ActivityEnvironment()
        self.heartbeats: list[int] = []
        self.env.on_heartbeat = lambda *details: self.heartbeats.append(details[0])

    async def register(self, rec):
        refs = await ActivityEnvironment().run(self.files.register_recording_files,
                                               RegisterFilesInput(booking_id=rec.booking_id, event_id=rec.event_id))
        return {r.file_type: r for r in refs}

    async def download(self, rec, ref, lease_seconds: float = 10):
        return await self.env.run(self.downloads.download_recording_file,
                                  DownloadFileInput(booking_id=rec.booking_id, file_id=ref.id,
                                                    lease_seconds=lease_seconds))


async def emulator_log(emulator, key: str) -> list[tuple[str, int]]:
    """(route, status) of every request the emulator got for this file or its recording list."""
    return [(r["route"], r["status"]) for r in await emulator.control.requests()
            if key in r["path"] or (r["route"] or "").endswith("/recordings")]


async def test_files_are_stored_whole_with_the_webhook_token_and_registered_once(api, emulator):
    rec = await zoom_recording(api, emulator, [{"file_type": "MP4", "size": 3 * MIB + 123}, "M4A", "TIMELINE"])
    run = Downloads(api.services)
    refs = await run.register(rec)
    assert set(refs) == {"MP4", "M4A", "TIMELINE"}  # TIMELINE has no id at Zoom: keyed by type and time
    again = await run.register(rec)  # the same announcement again: the same rows
    assert {t: r.id for t, r in again.items()} == {t: r.id for t, r in refs.items()}
    lists_before = sum(1 for r in await emulator.control.requests() if (r["route"] or "").endswith("/recordings"))
    counted = [_sample("converge_recording_download_bytes_total"),
               _sample("converge_recording_downloads_total", outcome="stored"),
               _sample("converge_recording_download_seconds_count")]
    beats = {}
    for kind, ref in refs.items():
        run.heartbeats.clear()
        stored = await run.download(rec, ref)
        beats[kind] = list(run.heartbeats)
        f = rec.files[kind]
        assert stored.size_bytes == f["size"]
        assert stored.sha256 == expected_sha256(file_key(f["download_url"]), f["size"])
    rows = await file_rows(api.services, rec.booking_id)
    store = RecordingStore.from_settings(api.services.settings)
    for kind, row in rows.items():
        path = store.stored(row.storage_path)
        assert row.status == "stored" and path is not None and path.stat().st_size == row.size_bytes
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row.sha256
        assert not store.part_path(row.storage_path).exists()
        assert row.storage_path.startswith(f"{rec.org_id}/{rec.booking_id}/")
    lists_after = sum(1 for r in await emulator.control.requests() if (r["route"] or "").endswith("/recordings"))
    assert lists_after == lists_before  # the webhook's token sufficed: no fresh one was needed
    # The byte offset is heartbeated chunk by chunk (1 MiB), ending at the file's size.
    assert beats["MP4"] == [MIB, 2 * MIB, 3 * MIB, 3 * MIB + 123]
    # Metrics: every byte written, each stored file once with its time.
    assert [_sample("converge_recording_download_bytes_total"),
            _sample("converge_recording_downloads_total", outcome="stored"),
            _sample("converge_recording_download_seconds_count")] == [
        counted[0] + sum(r.size_bytes for r in rows.values()), counted[1] + 3, counted[2] + 3]
    again = await run.download(rec, refs["MP4"])  # a retry after success finds the work done
    assert again.sha256 == rows["MP4"].sha256


async def test_an_expired_download_token_is_replaced_by_a_fresh_one(api, emulator):
    await emulator.control.config(download_token_ttl=0)  # expired the moment Zoom sends it
    try:
        rec = await zoom_recording(api, emulator, ["M4A"])
    finally:
        await emulator.control.config(download_token_ttl=86400)
    run = Downloads(api.services)
    ref = (await run.register(rec))["M4A"]
    stored = await run.download(rec, ref)
    f = rec.files["M4A"]
    assert stored.sha256 == expected_sha256(f["file_key"], f["size"])
    log = await emulator_log(emulator, f["file_key"])
    # Zoom answered the expired token with its HTML page; a download_access_token from the
    # host's recording list then fetched the file.
    assert ("GET /rec/download/{key}", 200) in log and ("GET /v2/meetings/{ref}/recordings", 200) in log
    assert log.count(("GET /rec/download/{key}", 302)) == 1


async def test_a_200_html_page_is_never_stored_as_the_file(api, emulator):
    rec = await zoom_recording(api, emulator, ["MP4"])
    await emulator.control.add_fault(
        "/rec/download/*", action="respond", status=200, count=1, headers={"Content-Type": "text/html"},
        body="<!doctype html><html><body>Only the host can download this recording</body></html>")
    run = Downloads(api.services)
    try:
        ref = (await run.register(rec))["MP4"]
        stored = await run.download(rec, ref)
    finally:
        await emulator.control.clear_faults()
    f = rec.files["MP4"]
    assert stored.size_bytes == f["size"] and stored.sha256 == expected_sha256(f["file_key"], f["size"])
    assert ("GET /v2/meetings/{ref}/recordings", 200) in await emulator_log(emulator, f["file_key"])


async def test_a_connection_cut_mid_file_resumes_with_a_range_request(api, emulator):
    size = 5 * MIB + 7
    rec = await zoom_recording(api, emulator, [{"file_type": "MP4", "size": size}])
    await emulator.control.add_fault("/rec/files/*", action="cut", after_bytes=2 * MIB + 5, count=1)
    run = Downloads(api.services)
    try:
        ref = (await run.register(rec))["MP4"]
        stored = await run.download(rec, ref)
    finally:
        await emulator.control.clear_faults()
    f = rec.files["MP4"]
    assert stored.sha256 == expected_sha256(f["file_key"], size) and stored.size_bytes == size
    files = [(route, status) for route, status in await emulator_log(emulator, f["file_key"])
             if route == "GET /rec/files/{key}"]
    assert files == [("GET /rec/files/{key}", 200), ("GET /rec/files/{key}", 206)]  # cut, then resumed


async def test_a_file_whose_size_does_not_add_up_is_not_stored(api, emulator):
    rec = await zoom_recording(api, emulator, ["M4A"])
    run = Downloads(api.services)
    ref = (await run.register(rec))["M4A"]
    async with api.services.db.session() as s:  # Zoom announces one size and serves another
        await s.exec(update(RecordingFile).where(RecordingFile.id == ref.id)
                     .values(expected_size=rec.files["M4A"]["size"] + 1))
        await s.commit()
    with pytest.raises(ApplicationError) as failed:
        await run.download(rec, ref)
    assert failed.value.type == "size_mismatch" and not failed.value.non_retryable
    row = (await file_rows(api.services, rec.booking_id))["M4A"]
    store = RecordingStore.from_settings(api.services.settings)
    relative = store.relative_path(row.org_id, row.booking_id, row.id, row.file_extension)
    assert row.status != "stored" and store.stored(relative) is None
    assert not store.part_path(relative).exists()  # a bad part is never resumed


async def test_a_file_gone_at_zoom_fails_for_good(api, emulator):
    rec = await zoom_recording(api, emulator, ["CHAT"])
    await emulator.control.add_fault("/rec/download/*", action="respond", status=404, count=1,
                                     headers={"Content-Type": "text/html"}, body="<html>gone</html>")
    run = Downloads(api.services)
    gone = _sample("converge_recording_downloads_total", outcome="recording_file_gone")
    try:
        ref = (await run.register(rec))["CHAT"]
        with pytest.raises(ApplicationError) as failed:
            await run.download(rec, ref)
    finally:
        await emulator.control.clear_faults()
    assert failed.value.type == "recording_file_gone" and failed.value.non_retryable
    assert _sample("converge_recording_downloads_total", outcome="recording_file_gone") == gone + 1


async def test_one_writer_per_file(api, emulator):
    rec = await zoom_recording(api, emulator, ["CHAT"])
    run = Downloads(api.services)
    ref = (await run.register(rec))["CHAT"]
    held = api.services.redis.lock(f"recording-download:{ref.id}", timeout=30)
    assert await held.acquire(blocking=False)
    try:
        with pytest.raises(ApplicationError) as failed:
            await run.download(rec, ref)
    finally:
        await held.release()
    assert failed.value.type == "download_in_progress" and not failed.value.non_retryable
    assert (await run.download(rec, ref)).size_bytes == rec.files["CHAT"]["size"]


async def test_a_stalled_attempt_never_writes_after_a_retry_took_over(api, emulator):
    """Issue 16 item 4: the body hangs mid-file for twice the lease; a second attempt starts once
    the first one's lease would have lapsed. Zoom gave no size for the file, so only the bytes
    can tell: the stored file must be byte for byte the emulator's."""
    lease, size = 4.0, 4 * MIB + 3
    rec = await zoom_recording(api, emulator, [{"file_type": "MP4", "size": size}])
    first, second = Downloads(api.services), Downloads(api.services)
    ref = (await first.register(rec))["MP4"]
    async with api.services.db.session() as s:
        await s.exec(update(RecordingFile).where(RecordingFile.id == ref.id).values(expected_size=None))
        await s.commit()
    stall = await emulator.control.add_fault("/rec/files/*", action="stall", after_bytes=2 * MIB + 5,
                                             stall_ms=int(2 * lease * 1000), count=1)
    try:
        stalled = asyncio.create_task(first.download(rec, ref, lease_seconds=lease))
        while not any(r["id"] == stall["id"] and r["fired"] for r in await emulator.control.faults()):
            await asyncio.sleep(0.05)
        await asyncio.sleep(lease + 0.5)  # the stalled attempt's lease would have lapsed by now
        outcomes = await asyncio.gather(second.download(rec, ref, lease_seconds=lease), stalled,
                                        return_exceptions=True)
    finally:
        await emulator.control.clear_faults()
    for outcome in outcomes:
        assert not isinstance(outcome, BaseException) or (
            isinstance(outcome, ApplicationError) and outcome.type == "download_in_progress"), outcome
    row = (await file_rows(api.services, rec.booking_id))["MP4"]
    stored = RecordingStore.from_settings(api.services.settings).stored(row.storage_path)
    assert row.status == "stored" and stored is not None
    data = stored.read_bytes()
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == expected_sha256(rec.files["MP4"]["file_key"], size) == row.sha256


def test_answers_that_disagree_about_the_file_are_not_stitched_together(tmp_path):
    """Without Zoom's file_size the server's own headers are checked: a 206 must start where asked,
    its Content-Length must match its range, and its total must match what came before."""
    from activities.recording_download import _Body

    part = tmp_path / "f.mp4.part"
    part.write_bytes(b"x" * 10)
    body = _Body(())
    assert body.check(200, 0, {"content-length": "100"}, part) == 100 and body.total == 100
    assert body.check(206, 10, {"content-range": "bytes 10-99/100", "content-length": "90"}, part) == 90
    for headers, offset in (({"content-range": "bytes 20-99/100"}, 10),
                            ({"content-range": "bytes 10-99/100", "content-length": "80"}, 10)):
        with pytest.raises(ApplicationError) as wrong:
            body.check(206, offset, headers, part)
        assert wrong.value.type == "download_failed" and part.exists()
    with pytest.raises(ApplicationError) as changed:
        body.check(206, 10, {"content-range": "bytes 10-119/120"}, part)
    assert changed.value.type == "size_mismatch" and not part.exists()  # started over next time
    assert _Body((10, 100)).total == 100  # carried to the next attempt in the heartbeat
