"""Recording files: their JSON, who may download them, and their bytes.

Downloads work as at Zoom (docs/zoom.md#recording-downloads): `download_url` takes a bearer token in the
Authorization header only - the webhook's `download_token`, a `download_access_token`, or the
host's own OAuth access token with a recording scope (an S2S token of the host's account counts)
- and answers 302 to a pre-signed file URL. Anything else gets 200 text/html "Only the host can
download this recording", which is what makes naive downloaders save an HTML page as a video.

A file made with its default size is real media: a small playable MP4 / M4A and a WebVTT
transcript with speaker names (zoom_emulator/media/, made once by make_media.py), so the README's
walk-through plays a video and shows a readable transcript. A file given an explicit size (the
benchmarks' large files) is a deterministic pseudo-random pattern of (file key, size), generated
block by block while streaming, so a file of several GiB never sits in memory, any byte range can
be served, and a test can compute the expected sha256 without HTTP (`expected_sha256`). Which of
the two a file is follows from its size alone, so `file_bytes`/`expected_sha256` need no state.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .httputil import ZoomError, base_url, emulator, notes
from .oauth import has_scope, may_act_on, resolve_access_token
from .state import DownloadGrant, Instance, Meeting, RecordingFile, World, iso

_MEDIA_DIR = Path(__file__).parent / "media"
MEDIA: dict[str, bytes] = {
    "MP4": (_MEDIA_DIR / "sample.mp4").read_bytes(),
    "M4A": (_MEDIA_DIR / "sample.m4a").read_bytes(),
    "TRANSCRIPT": (_MEDIA_DIR / "sample.vtt").read_bytes(),
}
_MEDIA_BY_SIZE = {len(data): data for data in MEDIA.values()}
assert len(_MEDIA_BY_SIZE) == len(MEDIA), "media fixtures must differ in size"

# file_type -> (file_extension, recording_type, content type, default size in bytes)
FILE_TYPES: dict[str, tuple[str, str | None, str, int]] = {
    "MP4": ("MP4", "shared_screen_with_speaker_view", "video/mp4", len(MEDIA["MP4"])),
    "M4A": ("M4A", "audio_only", "audio/mp4", len(MEDIA["M4A"])),
    "CHAT": ("TXT", "chat_file", "text/plain", 2 * 1024),
    "TRANSCRIPT": ("VTT", "audio_transcript", "text/vtt", len(MEDIA["TRANSCRIPT"])),
    "CC": ("VTT", None, "text/vtt", 8 * 1024),
    "TIMELINE": ("JSON", None, "application/json", 4 * 1024),
}

BLOCK = 1 << 20

ONLY_HOST_PAGE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Zoom</title></head><body>"
    "<h1>Only the host can download this recording</h1>"
    "<p>Sign in as the host to download this cloud recording.</p></body></html>"
)


# --- deterministic content ---------------------------------------------------------------------


@lru_cache(maxsize=8)
def _pattern(key: str) -> bytes:
    return hashlib.shake_256(b"zoom-emulator/" + key.encode()).digest(BLOCK)


def _block(key: str, index: int) -> bytes:
    # Each 1 MiB block starts with its own stamp, so a resume at the wrong offset is caught.
    stamp = hashlib.blake2b(f"{key}/{index}".encode(), digest_size=32).digest()
    return stamp + _pattern(key)[32:]


def iter_content(key: str, size: int, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
    """Bytes [start, stop) of the file `key` of `size` bytes, in pieces of at most 1 MiB."""
    stop = size if stop is None else min(stop, size)
    media = _MEDIA_BY_SIZE.get(size)
    if media is not None:
        if start < stop:
            yield media[start:stop]
        return
    pos = start
    while pos < stop:
        index, offset = divmod(pos, BLOCK)
        piece = _block(key, index)[offset:min(BLOCK, offset + stop - pos)]
        yield piece
        pos += len(piece)


def file_bytes(key: str, size: int, start: int = 0, stop: int | None = None) -> bytes:
    """The same bytes as one `bytes` object; for small ranges in tests."""
    return b"".join(iter_content(key, size, start, stop))


@lru_cache(maxsize=64)
def expected_sha256(file_key: str, size: int) -> str:
    """Hex sha256 of the whole file a download of `file_key` with `size` bytes must produce."""
    digest = hashlib.sha256()
    for piece in iter_content(file_key, size):
        digest.update(piece)
    return digest.hexdigest()


def file_key(download_url: str) -> str:
    """The file key of a `download_url` (its last path segment; the file id when it has one)."""
    return urlsplit(download_url).path.rstrip("/").rsplit("/", 1)[-1]


# --- building recordings -----------------------------------------------------------------------


def add_files(world: World, instance: Instance, specs: list[Any]) -> list[RecordingFile]:
    """Add files to an instance's recording. A spec is a file type ("MP4") or a dict
    `{"file_type", "size"?, "recording_type"?}`."""
    made = []
    start = instance.started_at + 2  # Zoom's recording starts a moment after the meeting
    end = max(instance.ended_at or start, start)
    for spec in specs:
        spec = {"file_type": spec} if isinstance(spec, str) else dict(spec)
        ftype = str(spec.get("file_type", "")).upper()
        if ftype not in FILE_TYPES:
            raise ValueError(f"file_type must be one of {sorted(FILE_TYPES)}, not {ftype!r}")
        _, rtype, _, default_size = FILE_TYPES[ftype]
        size = spec.get("size", default_size)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError("size must be a whole number of bytes")
        f = RecordingFile(world.new_file_key(), ftype, size, spec.get("recording_type", rtype),
                          start, end)
        instance.files.append(f)
        world.files[f.key] = (instance, f)
        made.append(f)
    return made


def add_participant_audio(world: World, instance: Instance, names: list[str]) -> list[RecordingFile]:
    """One M4A per participant, listed in `participant_audio_files` (docs/zoom.md#recordings)."""
    made = add_files(world, instance, [{"file_type": "M4A", "recording_type": None}] * len(names))
    for f, name in zip(made, names):
        instance.files.remove(f)
        f.file_name = name
        instance.participant_files.append(f)
    return made


def participant_file_json(instance: Instance, f: RecordingFile, base: str) -> dict[str, Any]:
    return {"id": f.key, "recording_start": iso(f.recording_start),
            "recording_end": iso(f.recording_end), "file_name": f.file_name,
            "file_type": "M4A", "file_extension": "M4A", "file_size": f.size,
            "play_url": f"{base}/rec/play/{f.key}", "download_url": f"{base}/rec/download/{f.key}",
            "status": "completed"}


def grant_download(world: World, instance: Instance, kind: str, ttl: int) -> str:
    """Mint a download_token / download_access_token good for this instance's files."""
    token = world.new_secret()
    world.download_grants[token] = DownloadGrant(token, instance.uuid, world.now() + ttl, kind)
    return token


def recording_file_json(instance: Instance, f: RecordingFile, base: str) -> dict[str, Any]:
    ext = FILE_TYPES[f.file_type][0]
    d: dict[str, Any] = {}
    if f.has_id:
        d["id"] = f.key
    d.update(meeting_id=instance.uuid, recording_start=iso(f.recording_start),
             recording_end=iso(f.recording_end), file_type=f.file_type, file_extension=ext)
    if f.has_id:
        d.update(file_size=f.size, play_url=f"{base}/rec/play/{f.key}")
    d["download_url"] = f"{base}/rec/download/{f.key}"
    if f.has_id:
        d.update(status="completed", recording_type=f.recording_type)
    return d


def recording_json(world: World, meeting: Meeting, instance: Instance, base: str,
                   only: list[RecordingFile] | None = None) -> dict[str, Any]:
    """The recording object of GET /meetings/{id}/recordings and the recording webhooks."""
    host = world.users[meeting.host_id]
    chosen = instance.files if only is None else only
    ended = instance.ended_at or instance.started_at
    return {
        "uuid": instance.uuid,
        "id": meeting.id,  # a number here; meeting.* webhooks send it as a string
        "account_id": host.account_id,
        "host_id": host.id,
        "topic": meeting.topic,
        "type": meeting.type,
        "start_time": iso(instance.started_at),
        "timezone": meeting.timezone,
        "duration": max(round((ended - instance.started_at) / 60), 1),
        "total_size": sum(f.size for f in chosen if f.has_id),
        "recording_count": len(chosen),
        "share_url": f"{base}/rec/share/{instance.share_token}",
        "recording_files": [recording_file_json(instance, f, base) for f in chosen],
        "password": meeting.password,
        "recording_play_passcode": instance.play_passcode,
        **({"participant_audio_files": [participant_file_json(instance, f, base)
                                        for f in instance.participant_files]}
           if instance.participant_files and (only is None or any(
               f.file_type != "TRANSCRIPT" for f in only)) else {}),
    }


# --- HTTP --------------------------------------------------------------------------------------


def _may_download(world: World, token: str, instance: Instance) -> bool:
    held = world.download_grants.get(token)
    if held is not None:
        return held.instance_uuid == instance.uuid and held.expires_at > world.now()
    try:
        grant = resolve_access_token(world, token)
    except ZoomError:
        return False
    host = world.users[world.meetings[instance.meeting_id].host_id]
    return has_scope(grant, "recording:read") and may_act_on(grant, host)


def _signature(world: World, key: str, expires: int) -> str:
    return hmac.new(world.signing_key, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()


async def download(request: web.Request) -> web.Response:
    """`download_url`: check the bearer, then 302 to a pre-signed file URL (or the HTML page)."""
    world = emulator(request).world
    if "access_token" in request.query:
        raise ZoomError(401, 124, "Invalid access token, this access token is not supported as "
                                  "query parameter string.")
    key = request.match_info["key"]
    if key not in world.files:
        return web.Response(status=404, content_type="text/html",
                            text="<html><body><h1>This recording does not exist.</h1></body></html>")
    instance, _ = world.files[key]
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    if token and _may_download(world, token, instance):
        expires = int(world.now()) + 3600
        target = f"{base_url(request)}/rec/files/{key}?expires={expires}&sig={_signature(world, key, expires)}"
        return web.Response(status=302, headers={"Location": target})
    return web.Response(text=ONLY_HOST_PAGE, content_type="text/html")


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One `bytes=a-b` range as [start, stop); None when unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            return (max(size - n, 0), size) if n > 0 and size > 0 else None
        start = int(first)
        stop = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size or stop <= start:
        return None
    return start, min(stop, size)


async def serve_file(request: web.Request) -> web.StreamResponse:
    """The pre-signed file URL: streams the bytes, honours Range, can be cut by a fault."""
    world = emulator(request).world
    key = request.match_info["key"]
    try:
        expires = int(request.query.get("expires", ""))
    except ValueError:
        expires = 0
    sig = request.query.get("sig", "")
    if (key not in world.files or expires < world.now()
            or not hmac.compare_digest(sig, _signature(world, key, expires))):
        return web.Response(status=403, content_type="text/html",
                            text="<html><body><h1>Access denied: link expired or invalid"
                                 "</h1></body></html>")
    instance, f = world.files[key]
    ext, _, content_type, _ = FILE_TYPES[f.file_type]
    stamp = datetime.fromtimestamp(instance.started_at, timezone.utc).strftime("%Y%m%d-%H%M%S")
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="GMT{stamp}_Recording_{f.key[:8]}.{ext.lower()}"',
    }
    start, stop, status = 0, f.size, 200
    if "Range" in request.headers:
        wanted = _parse_range(request.headers["Range"], f.size)
        if wanted is None:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{f.size}"})
        (start, stop), status = wanted, 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{f.size}"
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = stop - start
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    cut_after = notes(request).get("cut_after")  # set by a "cut" fault rule
    stall_after, stall_seconds = notes(request).get("stall_after", (None, 0.0))  # a "stall" rule
    sent = 0
    try:
        for piece in iter_content(key, f.size, start, stop):
            if stall_after is not None and sent + len(piece) >= stall_after:
                head, piece = piece[:stall_after - sent], piece[stall_after - sent:]
                await response.write(head)
                sent += len(head)
                await asyncio.sleep(stall_seconds)  # the body hangs, then goes on
                stall_after = None
            if cut_after is not None and sent + len(piece) >= cut_after:
                await response.write(piece[:cut_after - sent])
                # the connection dies mid-body, as downloads did at ~1.5 GB in the wild
                if request.transport is not None:
                    request.transport.close()
                notes(request)["outcome"] = "cut"
                return response
            await response.write(piece)
            sent += len(piece)
        await response.write_eof()
    except ConnectionError:
        notes(request)["outcome"] = "client_gone"
    return response


def routes() -> list[web.RouteDef]:
    return [
        web.get("/rec/download/{key}", download),
        web.get("/rec/files/{key}", serve_file),
    ]
