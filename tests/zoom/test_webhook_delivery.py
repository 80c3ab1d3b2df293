"""Webhooks the emulator really sends: signature checked on the raw bytes, then parsed.

Covers the link between zoom.webhooks and Zoom's wire format: headers, compact UTF-8 JSON,
string vs number ids, id-less CC/TIMELINE files, app_deauthorized's own shape, url_validation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
import pytest_asyncio
from aiohttp import web

from zoom.client import ZoomApi
from zoom.ids import meeting_id_str
from zoom.oauth import ZoomS2S
from zoom.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AppDeauthorized,
    MeetingEnded,
    MeetingStarted,
    RecordingCompleted,
    RecordingTranscriptCompleted,
    UrlValidation,
    dedupe_key,
    parse_event,
    url_validation_response,
    verify_signature,
)

SECRET = "delivery-test-secret"
WINDOW = 90 * 60


class Receiver:
    """The service's webhook endpoint in miniature: verify, answer validation, record."""

    def __init__(self) -> None:
        self.events: list = []
        self.rejected = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        ok = verify_signature(
            [SECRET],
            request.headers.get(TIMESTAMP_HEADER),
            request.headers.get(SIGNATURE_HEADER),
            raw,
            now=time.time(),
            max_age_seconds=WINDOW,
        )
        if not ok:
            self.rejected += 1
            return web.Response(status=401)
        event = parse_event(raw)
        self.events.append(event)
        if isinstance(event, UrlValidation):
            return web.json_response(url_validation_response(SECRET, event.payload.plain_token))
        return web.Response(status=204)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@pytest_asyncio.fixture
async def receiver(emu) -> AsyncIterator[Receiver]:
    recv = Receiver()
    app = web.Application()
    app.router.add_post("/hook", recv.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    recv.url = f"http://{host}:{port}/hook"
    await emu.control.set_webhook(recv.url, secret=SECRET)
    yield recv
    await emu.control.set_webhook(None)
    await runner.cleanup()


@pytest.fixture
async def system_api(s2s: ZoomS2S, api_for) -> ZoomApi:
    return api_for((await s2s.fetch_token()).access_token.get_secret_value())


def _body() -> dict:
    start = datetime.now(timezone.utc) + timedelta(hours=1)
    return {"topic": "IDI – Ünïcode topic", "type": 2, "duration": 30,
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%SZ")}


async def test_url_validation_passes(emu, receiver: Receiver) -> None:
    result = await emu.control.validate_webhook()
    assert result["passed"], result
    assert len(receiver.of(UrlValidation)) == 1


async def test_meeting_and_recording_events(emu, receiver: Receiver, system_api: ZoomApi) -> None:
    created = await system_api.create_meeting("host1@system.converge.test", _body())
    mid = created["id"]
    await emu.control.start_meeting(mid, wait=True)
    await emu.control.end_meeting(mid, wait=True)
    await emu.control.complete_recording(
        mid, ["MP4", "M4A", "CC", "TIMELINE"], wait=True
    )
    await emu.control.complete_transcript(mid, wait=True)

    assert receiver.rejected == 0
    started, ended = receiver.of(MeetingStarted), receiver.of(MeetingEnded)
    assert len(started) == len(ended) == 1
    assert started[0].payload.object.id == meeting_id_str(mid)  # string on the wire
    assert started[0].payload.object.topic == "IDI – Ünïcode topic"
    assert ended[0].payload.object.end_time is not None

    (recording,) = receiver.of(RecordingCompleted)
    obj = recording.payload.object
    assert obj.id == meeting_id_str(mid)  # number on the wire
    assert obj.uuid == ended[0].payload.object.uuid
    by_type = {f.file_type: f for f in obj.recording_files}
    assert set(by_type) == {"MP4", "M4A", "CC", "TIMELINE"}
    assert by_type["MP4"].id and by_type["MP4"].file_size
    assert by_type["CC"].id is None and by_type["TIMELINE"].file_size is None
    assert recording.download_token is not None

    (transcript,) = receiver.of(RecordingTranscriptCompleted)
    assert [f.file_type for f in transcript.payload.object.recording_files] == ["TRANSCRIPT"]

    keys = [dedupe_key(e) for e in receiver.events]
    assert len(set(keys)) == len(keys) == 4


async def test_duplicate_deliveries_share_a_dedupe_key(
    emu, receiver: Receiver, system_api: ZoomApi
) -> None:
    await emu.control.set_webhook(receiver.url, secret=SECRET, duplicate_events=["meeting.started"])
    created = await system_api.create_meeting("host1@system.converge.test", _body())
    await emu.control.start_meeting(created["id"], wait=True)
    started = receiver.of(MeetingStarted)
    assert len(started) == 2
    assert dedupe_key(started[0]) == dedupe_key(started[1])


async def test_app_deauthorized(emu, receiver: Receiver, connect) -> None:
    await connect("alex@acme.test")
    await emu.control.deauthorize("alex@acme.test", wait=True)
    (event,) = receiver.of(AppDeauthorized)
    assert event.payload.user_id
    assert event.payload.event_ts
    assert dedupe_key(event) == (
        f"app_deauthorized:{event.payload.user_id}:{event.payload.deauthorization_time}"
    )


async def test_millisecond_timestamps_still_verify(
    emu, receiver: Receiver, system_api: ZoomApi
) -> None:
    await emu.control.config(webhook_timestamp_unit="ms")
    created = await system_api.create_meeting("host1@system.converge.test", _body())
    await emu.control.start_meeting(created["id"], wait=True)
    assert receiver.rejected == 0
    assert len(receiver.of(MeetingStarted)) == 1


async def test_wrong_secret_is_rejected(emu, receiver: Receiver, system_api: ZoomApi) -> None:
    await emu.control.set_webhook(receiver.url, secret="someone-else")
    created = await system_api.create_meeting("host1@system.converge.test", _body())
    await emu.control.start_meeting(created["id"])
    # Wait for the first attempt only; Zoom's retries of it would follow for seconds.
    for _ in range(100):
        deliveries = await emu.control.deliveries("meeting.started")
        if deliveries and deliveries[0]["attempts"]:
            break
        await asyncio.sleep(0.05)
    assert deliveries[0]["attempts"][0]["status"] == 401
    assert receiver.rejected >= 1
    assert receiver.events == []
