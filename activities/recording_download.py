"""One recording file, streamed from Zoom into the recording store: whole, checked, hashed, resumable.

What goes wrong with Zoom downloads in the wild (docs/zoom.md#recording-downloads, #large-files), and what this does about it:
- The webhook's `download_token` expires (about a day), and a refused download is often a 200
  HTML page ("Only the host can download this recording"), not an error: a text/html answer, a
  401/403, or a body that starts like HTML all mean "ask for a fresh token" - a
  `download_access_token` from the host's recording list - and go on.
- Connections drop mid-file, and workers die: bytes go to `<path>.part`, each chunk is
  heartbeated with its offset, and the next try (here, after a reset, or Temporal's retry after a
  crash) continues with a Range request from the end of the part file. The sha256 is rebuilt from
  the part file and carried on, so it always covers the whole file.
- Truncated or padded files: the file moves into place only when its size equals Zoom's
  `file_size` (when Zoom gives one).
- A second attempt while a first one is still alive (a worker that lost touch with Temporal)
  would write the same part file: a Redis lease per file keeps it to one writer. The lease
  outlives any read (a read gives up after half the lease, so a stalled body fails the
  read and resumes, never wakes up after a retry took over), and it is renewed *before* each
  write, so a writer that lost it stops without writing (docs/zoom.md#recording-downloads).
- A file Zoom gave no size for is still checked: the bytes received must add up to the
  response's Content-Length, each 206 must start where asked and name the same total as the
  answers before it (a file that changed between attempts is not stitched together), and the
  stored size must equal that total.
Memory stays flat: four 4 MiB buffers, reused. The body is read by a worker thread straight into
them (zoom/download_stream.py), and each chunk is written (O_DIRECT where it can,
models/recording_store.py) and hashed by two more while the next is read, so reading, writing and
hashing overlap (bench/README.md#downloads).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

from redis.exceptions import LockError
from sqlalchemy import update
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.recordings import host_api
from metrics import DOWNLOAD_SECONDS, DOWNLOADED_BYTES, DOWNLOADS
from models import Meeting, RecordingFile, WebhookEvent, utcnow
from models.recording_store import CHUNK, PartFile, RecordingStore, aligned_buffer
from token_cipher import DecryptionError
from connections.tokens import ConnectionUnavailable
from workflows.recording_types import RECORDING_EVENTS, DownloadFileInput, FileFailure, StoredFile
from zoom.download_stream import DownloadConnectionLost, DownloadResponse
from zoom.download_urls import DownloadUrlPolicy, DownloadUrlRefused, open_download
from zoom.errors import (ZoomError, ZoomMeetingNotFound, ZoomRecordingNotFound, ZoomTransientError,
                         honoured_retry_after, retry_after_seconds)
from zoom.webhooks import RecordingFile as ZoomFile

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("recordings.download")

TOKEN_FIELD = {"table": "webhook_events", "field": "download_token_enc"}
# Per read, not per file: a multi-GiB file takes as long as it takes while bytes keep coming. A
# read gives up well inside the file's lease (_read_timeout), so the lease outlives any read.
CONNECT_TIMEOUT = 10.0
READ_SHARE_OF_LEASE = 1 / 2
# Dropped connections resumed inside one attempt before Temporal's retry (with backoff) takes over.
MAX_RESUMES = 3
# Buffers per download: one being read while up to three are written and hashed. Each holds 4
# chunks: every hand-over between the event loop and the three threads costs Python work and a
# thread wake-up, which at 1 MiB per step was a third of the CPU (bench/README.md#downloads).
BUFFERS = 4
STEP = 4 * CHUNK
_HTML_START = (b"<!doctype html", b"<html")


class _Refused(Exception):
    """Zoom did not hand over the file with this token (HTML page, 401, 403)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _fail(reason: str, message: str, *, final: bool = False) -> ApplicationError:
    return ApplicationError(message, type=reason, non_retryable=final)


def _is_html(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml")


def _looks_like_html(first_bytes: bytes) -> bool:
    return first_bytes.lstrip()[:15].lower().startswith(_HTML_START)


def _file_refs(payload: dict) -> set[str]:
    try:
        files = payload["payload"]["object"]["recording_files"]
    except (KeyError, TypeError):
        return set()
    return {ZoomFile.model_validate(f).stable_ref() for f in files if isinstance(f, dict)}


class _Pipeline:
    """One thread each reads, writes and hashes (FIFO each, so chunks stay in order); all three
    release the GIL on 1 MiB buffers, so they run side by side."""

    def __init__(self, stack: ExitStack) -> None:
        self.read, self.write, self.hash = (ThreadPoolExecutor(1, thread_name_prefix=f"recording-{role}")
                                            for role in ("read", "write", "hash"))
        for executor in (self.read, self.write, self.hash):
            # Never waited for on the event loop: reads, writes and hashes in flight are awaited
            # before the body is left; a connect abandoned by a cancel ends on its own.
            stack.callback(executor.shutdown, wait=False)


async def _copy_body(response: DownloadResponse, pipeline: _Pipeline, handle: PartFile, digest,
                     lease: "_Lease", total: int | None) -> int:
    """The body appended to the part file and the digest; the new offset. Each chunk is counted
    and heartbeated once it is on disk (also while the next read waits on the network); no
    read, write or hash outlives this call."""
    loop = asyncio.get_running_loop()
    buffers = [aligned_buffer(STEP) for _ in range(BUFFERS)]
    offset = handle.offset
    in_flight: deque[tuple[int, asyncio.Future, asyncio.Future]] = deque()  # n, write, hash

    def on_disk() -> bool:
        return bool(in_flight) and in_flight[0][1].done() and in_flight[0][2].done()

    async def settle() -> None:
        nonlocal offset
        n, writing, hashing = in_flight[0]
        # Shielded: a cancel here must not cancel the futures while their threads still write
        # (the `finally` below waits for them before the file closes and the lease goes).
        await asyncio.shield(writing)
        await asyncio.shield(hashing)
        in_flight.popleft()
        DOWNLOADED_BYTES.inc(n)
        for at in range(min(CHUNK, n), n + CHUNK, CHUNK):  # chunk by chunk, as the part file grew
            activity.heartbeat(offset + min(at, n), total)
        offset += n

    async def read(buffer: memoryview) -> int:
        reading = asyncio.ensure_future(response.readinto(buffer))
        try:
            while not reading.done():
                # Only what is still running: a done future would wake this loop at once, again
                # and again, while the other one finishes.
                waiting = [reading, *(f for f in (in_flight[0][1:] if in_flight else ()) if not f.done())]
                done, _ = await asyncio.wait(waiting, timeout=lease.every,
                                             return_when=asyncio.FIRST_COMPLETED)
                while on_disk():
                    await settle()
                if not done:
                    # A slow body takes long to fill a step: the attempt still proves it is
                    # alive and keeps the file's lease, or it would lose both mid-step.
                    activity.heartbeat(offset, total)
                    await lease.keep()
            return await reading
        finally:
            if not reading.done():  # cancelled, or a write failed: the read stops (and is waited for)
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)

    first, turn = offset == 0, 0
    try:
        while True:
            while len(in_flight) == BUFFERS - 1 or on_disk():
                await settle()  # frees the oldest buffer
            buffer = buffers[turn % BUFFERS]
            n = await read(buffer)
            if not n:
                break
            chunk, turn = buffer[:n], turn + 1
            if first and turn == 1 and _looks_like_html(bytes(chunk)):
                raise _Refused(FileFailure.HTML_PAGE, "Zoom answered a web page instead of the file.")
            await lease.keep()  # before the write: a writer that lost the file writes nothing
            in_flight.append((n, loop.run_in_executor(pipeline.write, handle.write, chunk),
                              loop.run_in_executor(pipeline.hash, digest.update, chunk)))
        while in_flight:
            await settle()
    finally:  # a failed read or a cancel: the writes in flight finish before the file closes
        running = [f for _, *futures in in_flight for f in futures]
        if running:
            await asyncio.wait(running)  # never cancels them, unlike gather
            for f in running:  # their errors were the failure's consequence, not news
                f.cancelled() or f.exception()
    return offset


class RecordingDownloadActivities:
    def __init__(self, services: Services, store: RecordingStore | None = None) -> None:
        self._services = services
        self._store = store or RecordingStore.from_settings(services.settings)
        self._url_policy: DownloadUrlPolicy | None = None

    @activity.defn(name="download_recording_file")
    async def download_recording_file(self, inp: DownloadFileInput) -> StoredFile:
        started = time.monotonic()
        try:
            stored = await self._download(inp)
        except ApplicationError as exc:  # its type is the FileFailure the file would get
            DOWNLOADS.labels(exc.type or FileFailure.FAILED).inc()
            raise
        except Exception:
            DOWNLOADS.labels(FileFailure.FAILED).inc()
            raise
        DOWNLOADS.labels("stored").inc()
        DOWNLOAD_SECONDS.observe(time.monotonic() - started)
        return stored

    async def _download(self, inp: DownloadFileInput) -> StoredFile:
        row, meeting = await self._load(inp)
        done = self._already_stored(row)
        if done is not None:
            return done
        relative = self._store.relative_path(row.org_id, row.booking_id, row.id, row.file_extension)
        part = self._store.part_path(relative)
        seconds = max(inp.lease_seconds, 5.0)
        lease = self._services.redis.lock(f"recording-download:{row.id}", timeout=seconds, blocking=False)
        if not await lease.acquire():
            raise _fail(FileFailure.IN_PROGRESS, "Another attempt is still downloading this file.")
        try:
            await self._set(row.id, status="downloading")
            body = _Body(activity.info().heartbeat_details)
            size, sha256 = await self._transfer(row, meeting, part, _Lease(lease, seconds), body)
            if row.expected_size is not None and size != row.expected_size:
                part.unlink(missing_ok=True)  # never resume from bytes that add up wrong
                raise _fail(FileFailure.SIZE_MISMATCH,
                            f"Zoom announced {row.expected_size} bytes for this file but sent {size}.")
            if body.total is not None and size != body.total:
                part.unlink(missing_ok=True)
                raise _fail(FileFailure.SIZE_MISMATCH,
                            f"Zoom's file server announced {body.total} bytes for this file but sent {size}.")
            await self._store.finish(part, relative)
            await self._set(row.id, status="stored", status_reason=None, size_bytes=size,
                            sha256=sha256, storage_path=relative)
            log.info("booking %s: %s file %s stored (%d bytes)", row.booking_id, row.file_type, row.id, size)
            return StoredFile(file_id=row.id, size_bytes=size, sha256=sha256)
        finally:
            try:
                await lease.release()
            except LockError:
                pass  # it lapsed; nobody else wrote meanwhile or _Lease would have stopped us

    async def _load(self, inp: DownloadFileInput) -> tuple[RecordingFile, Meeting]:
        async with self._services.db.session() as s:
            row = await s.get(RecordingFile, inp.file_id)
            meeting = await s.get(Meeting, row.meeting_id) if row is not None else None
        if row is None or meeting is None or row.booking_id != inp.booking_id:
            raise _fail(FileFailure.GONE, "This recording file is not one of the booking's.", final=True)
        return row, meeting

    def _already_stored(self, row: RecordingFile) -> StoredFile | None:
        """A retry after the rename but before the result reached Temporal finds the work done."""
        path = self._store.stored(row.storage_path) if row.status == "stored" else None
        if path is None or row.sha256 is None or path.stat().st_size != row.size_bytes:
            return None
        return StoredFile(file_id=row.id, size_bytes=row.size_bytes, sha256=row.sha256)

    async def _transfer(self, row: RecordingFile, meeting: Meeting, part, lease: "_Lease",
                        body: "_Body") -> tuple[int, str]:
        """Fetch until the part file holds the whole body; (size, sha256 hex)."""
        details = activity.info().heartbeat_details
        token, url, fresh = await self._webhook_token(row), row.download_url, False
        resets = 0
        while True:
            offset, digest = await self._store.resume_point(part)
            if offset or details:
                log.info("file %s: resuming at byte %d (last heartbeat %s)", row.id, offset,
                         details[0] if details else None)
            if token is None or not url:
                token, url = await self._fresh_token(row, meeting)
                fresh = True
            try:
                return await self._fetch(url, token, part, offset, digest, lease, body)
            except DownloadUrlRefused as refused:
                log.warning("file %s: download URL refused: %s", row.id, refused)
                raise _fail(FileFailure.URL_REFUSED, f"Not downloaded: {refused}; Converge only "
                            "fetches recordings from Zoom's download servers.", final=True) from None
            except _Refused as refused:
                if fresh:
                    raise _fail(refused.reason, refused.message + " Zoom refused a fresh download "
                                "token as well.") from None
                log.info("file %s: %s; getting a fresh download token", row.id, refused.reason)
                token = None
            except DownloadConnectionLost as exc:
                resets += 1
                if resets > MAX_RESUMES:
                    raise _fail(FileFailure.CONNECTION_LOST,
                                f"The connection to Zoom kept dropping ({exc}).") from None
                log.info("file %s: connection dropped (%s), resuming", row.id, exc)

    async def _fetch(self, url: str, token: str, part, offset: int, digest, lease: "_Lease",
                     body: "_Body") -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        # Zoom's file servers only, checked on every redirect hop (zoom/download_urls.py).
        self._url_policy = self._url_policy or DownloadUrlPolicy.from_settings(self._services.settings)
        with ExitStack() as threads:
            pipeline = _Pipeline(threads)
            async with open_download(url, headers, connect_timeout=CONNECT_TIMEOUT,
                                     read_timeout=lease.read_timeout, policy=self._url_policy,
                                     executor=pipeline.read) as response:
                status = response.status_code
                if status in (404, 410):
                    raise _fail(FileFailure.GONE, f"Zoom no longer has this file (HTTP {status}).", final=True)
                if status in (401, 403):
                    raise _Refused(FileFailure.TOKEN_REFUSED, f"Zoom refused the download token (HTTP {status}).")
                if status == 416 and offset:
                    # Everything was already there (a crash after the last byte): the size check decides.
                    return offset, digest.hexdigest()
                if status == 429 or status >= 500:
                    # The next attempt waits as long as the server asked (capped), not the backoff.
                    raise ApplicationError(
                        f"Zoom's file server answered HTTP {status}.", type=FileFailure.ZOOM_UNAVAILABLE,
                        next_retry_delay=honoured_retry_after(retry_after_seconds(response)))
                if status not in (200, 206):
                    raise _fail(FileFailure.FAILED, f"Zoom's file server answered HTTP {status}.")
                if _is_html(response.headers.get("content-type")):
                    raise _Refused(FileFailure.HTML_PAGE, "Zoom answered a web page instead of the file.")
                if (response.headers.get("content-encoding") or "identity").strip().lower() != "identity":
                    # Asked for as-is (zoom/download_stream.py); an encoded body is not the file.
                    raise _fail(FileFailure.FAILED, "Zoom's file server sent the file encoded.")
                if status == 200 and offset:
                    offset, digest = 0, hashlib.sha256()  # the server ignored the Range: start over
                length = body.check(status, offset, response.headers, part)
                start = offset
                with PartFile(part, offset) as handle:
                    offset = await _copy_body(response, pipeline, handle, digest, lease, body.total)
        if length is not None and offset - start != length:
            raise DownloadConnectionLost(f"the body ended after {offset - start} of {length} bytes")
        return offset, digest.hexdigest()

    async def _webhook_token(self, row: RecordingFile) -> str | None:
        """The download_token of the newest recording event that announced this file (or, for a
        file only Zoom's list had, of the same meeting instance), decrypted for this call only."""
        async with self._services.db.session() as s:
            events = (await s.exec(
                select(WebhookEvent)
                .where(WebhookEvent.booking_id == row.booking_id,
                       col(WebhookEvent.event_type).in_(RECORDING_EVENTS),
                       col(WebhookEvent.download_token_enc).is_not(None))
                .order_by(col(WebhookEvent.received_at).desc())
            )).all()
        ranked = [e for e in events if row.zoom_file_id in _file_refs(e.payload)] + \
                 [e for e in events if e.zoom_meeting_uuid and e.zoom_meeting_uuid == row.zoom_meeting_uuid]
        for event in ranked:
            try:
                return self._services.cipher.decrypt(event.download_token_enc, row_id=event.id, **TOKEN_FIELD)
            except DecryptionError as exc:
                log.warning("inbox event %s: download token unreadable (%s)", event.id, exc)
        return None

    async def _fresh_token(self, row: RecordingFile, meeting: Meeting) -> tuple[str, str]:
        """A `download_access_token` (and the file's current URL) from the host's recording list."""
        try:
            api = await host_api(self._services, meeting)
            body = await api.get_recordings(row.zoom_meeting_uuid or meeting.zoom_meeting_id)
        except ConnectionUnavailable as exc:
            raise _fail(FileFailure.HOST_UNAVAILABLE,
                        f"The webhook's download token did not work and no fresh one can be had: the "
                        f"host's Zoom connection is {exc.reason}. Reconnect Zoom under Integrations.") from None
        except (ZoomRecordingNotFound, ZoomMeetingNotFound):
            raise _fail(FileFailure.GONE, "Zoom no longer lists this recording (deleted at Zoom?).",
                        final=True) from None
        except ZoomTransientError as exc:
            raise _fail(FileFailure.ZOOM_UNAVAILABLE, f"Zoom did not answer for a fresh token ({exc}).") from None
        except ZoomError as exc:
            raise _fail(FileFailure.TOKEN_REFUSED, f"Zoom refused a fresh download token ({exc}).") from None
        token = body.get("download_access_token")
        if not token:
            raise _fail(FileFailure.TOKEN_REFUSED, "Zoom's recording list came without a download_access_token.")
        url = row.download_url
        for f in body.get("recording_files") or []:
            if isinstance(f, dict) and ZoomFile.model_validate(f).stable_ref() == row.zoom_file_id:
                url = f.get("download_url") or url
        if not url:
            raise _fail(FileFailure.GONE, "Zoom's recording list no longer has this file.", final=True)
        return token, url

    async def _set(self, file_id: str, **values) -> None:
        async with self._services.db.session() as s:
            await s.exec(update(RecordingFile).where(RecordingFile.id == file_id)
                         .values(updated_at=utcnow(), **values))
            await s.commit()


class _Body:
    """What the file server said about the whole file: its total size, from a 200's
    Content-Length or a 206's Content-Range, carried across resumes (and attempts, in the
    heartbeat), so answers that disagree are never stitched into one file."""

    def __init__(self, heartbeat_details) -> None:
        details = list(heartbeat_details or ())
        self.total: int | None = details[1] if len(details) > 1 and isinstance(details[1], int) else None

    def check(self, status: int, offset: int, headers, part) -> int | None:
        """The body length this answer promises (None when it does not say); raises when it
        contradicts the range asked for or what earlier answers said."""
        length = _int(headers.get("content-length"))
        if status == 200:
            total = length
        else:
            match = _CONTENT_RANGE.fullmatch(headers.get("content-range", "").strip())
            if match is None or int(match["first"]) != offset:
                raise _fail(FileFailure.FAILED, "Zoom answered a different byte range than asked for.")
            span = int(match["last"]) - offset + 1
            if length is not None and length != span:
                raise _fail(FileFailure.FAILED, "Zoom's Content-Length and Content-Range disagree.")
            length, total = span, _int(match["total"])
        if total is not None and self.total is not None and total != self.total:
            part.unlink(missing_ok=True)  # the file changed at Zoom: start over next time
            previous, self.total = self.total, None
            raise _fail(FileFailure.SIZE_MISMATCH, f"Zoom's file server first announced {previous} "
                        f"bytes for this file, now {total}; downloading it again from the start.")
        self.total = total if total is not None else self.total
        return length


_CONTENT_RANGE = re.compile(r"bytes (?P<first>\d+)-(?P<last>\d+)/(?P<total>\d+|\*)")


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


class _Lease:
    """Renews the file's Redis lock a few times per lease period, before a write; raises once it
    was lost. A read gives up after half the lease, so no stalled read outlives it."""

    def __init__(self, lock, seconds: float) -> None:
        self._lock, self.every = lock, seconds / 3
        self._next = time.monotonic() + self.every
        self.read_timeout = seconds * READ_SHARE_OF_LEASE

    async def keep(self) -> None:
        if time.monotonic() < self._next:
            return
        try:
            await self._lock.reacquire()
        except LockError:
            raise _fail(FileFailure.IN_PROGRESS, "This attempt lost its lease on the file; another "
                                                 "attempt may be writing it.") from None
        self._next = time.monotonic() + self.every
