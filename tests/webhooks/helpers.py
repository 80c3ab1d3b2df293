"""What the webhook tests share: Zoom-shaped bodies, Zoom's signature, a booking with a meeting,
and a stand-in booking workflow that records the `zoom_event` signals it gets."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select
from temporalio.worker import Worker

from api.auth import hash_api_key, new_api_key
from models import Booking, IdiSession, Meeting, Organization, WebhookEvent, utcnow
from tests.webhooks.signal_recorder import SignalRecorder
from workflows.contract import booking_workflow_id
from workflows.booking_types import ZoomEventSignal
from zoom.webhooks import sign

SECRET = "emu-webhook-secret"  # what zoom_env() configures
HOOK = "/v1/zoom/webhooks"


def compact(body: dict) -> bytes:
    """As Zoom sends it: compact JSON, non-ASCII kept raw."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def headers_for(raw: bytes, secret: str = SECRET, timestamp: int | str | None = None,
                content_type: str | None = "application/json; charset=utf-8") -> dict:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    h = {"x-zm-request-timestamp": ts, "x-zm-signature": sign(secret, ts, raw)}
    if content_type:
        h["Content-Type"] = content_type
    return h


async def post_signed(http, body: dict | bytes, **kw):
    raw = body if isinstance(body, bytes) else compact(body)
    return await http.post(HOOK, content=raw, headers=headers_for(raw, **kw))


def new_meeting_id() -> int:
    return random.randrange(10**10, 10**11)


def new_uuid() -> str:
    return uuid.uuid4().hex[:22] + "=="


def meeting_event(event: str, meeting_id: int, meeting_uuid: str) -> dict:
    """meeting.started / meeting.ended: the id is a STRING here."""
    obj = {"id": str(meeting_id), "uuid": meeting_uuid, "host_id": "host-x", "topic": "IDI – Café ☕",
           "type": 2, "start_time": "2030-01-01T10:00:00Z", "timezone": "UTC", "duration": 30}
    if event == "meeting.ended":
        obj["end_time"] = "2030-01-01T10:31:00Z"
    return {"event": event, "event_ts": int(time.time() * 1000),
            "payload": {"account_id": "emu-system-account", "object": obj}}


def recording_event(meeting_id: int, meeting_uuid: str, file_types=("MP4", "M4A"), *,
                    event: str = "recording.completed", download_token: str | None = "dl-token-secret-123") -> dict:
    """recording.completed / transcript_completed: the id is a NUMBER, the token at the top."""
    files = []
    for kind in file_types:
        key = f"{kind.lower()}-{meeting_uuid[:8]}"
        files.append({"id": key, "meeting_id": meeting_uuid, "recording_start": "2030-01-01T10:00:02Z",
                      "recording_end": "2030-01-01T10:31:00Z", "file_type": kind,
                      "file_extension": {"TRANSCRIPT": "VTT"}.get(kind, kind), "file_size": 1000,
                      "download_url": f"http://127.0.0.1:9/rec/download/{key}", "status": "completed",
                      "recording_type": "shared_screen_with_speaker_view"})
    body = {"event": event, "event_ts": int(time.time() * 1000),
            "payload": {"account_id": "emu-system-account", "object": {
                "id": meeting_id, "uuid": meeting_uuid, "host_id": "host-x", "topic": "IDI",
                "type": 2, "start_time": "2030-01-01T10:00:00Z", "timezone": "UTC", "duration": 31,
                "password": "meeting-passcode-42", "recording_play_passcode": "play-passcode-42",
                "total_size": 1000 * len(files), "recording_count": len(files), "recording_files": files}}}
    if download_token:
        body["download_token"] = download_token
    return body


@dataclass
class BookedMeeting:
    org_id: str
    booking_id: str
    zoom_meeting_id: int


async def booked_meeting(services, zoom_meeting_id: int | None = None) -> BookedMeeting:
    """An org with a booking whose meeting is `zoom_meeting_id`, straight into the database."""
    mid = zoom_meeting_id or new_meeting_id()
    now = utcnow()
    org = Organization(name="Webhook Org", api_key_hash=hash_api_key(new_api_key()))
    session = IdiSession(org_id=org.id, title="Webhook study")
    booking = Booking(org_id=org.id, session_id=session.id, participant_name="Pat",
                      participant_email="pat@example.com", start_time=now + timedelta(hours=1),
                      duration_minutes=30, status="scheduled", workflow_id=None)
    booking.workflow_id = booking_workflow_id(booking.id)
    meeting = Meeting(booking_id=booking.id, org_id=org.id, zoom_meeting_id=str(mid), host_kind="system",
                      host_email="host1@system.converge.test", start_time=booking.start_time,
                      duration_minutes=30)
    async with services.db.session() as s:
        for row in (org, session, booking, meeting):
            s.add(row)
            await s.flush()
        await s.commit()
    return BookedMeeting(org.id, booking.id, mid)


async def inbox_rows(services, zoom_meeting_id: int | str) -> list[WebhookEvent]:
    async with services.db.session() as s:
        return list((await s.exec(select(WebhookEvent).where(
            WebhookEvent.zoom_meeting_id == str(zoom_meeting_id)).order_by(WebhookEvent.received_at))).all())


@asynccontextmanager
async def recorder(client, booking_id: str):
    """A SignalRecorder running as `idi-booking-{booking_id}`; yields its handle."""
    queue = f"recorder-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[SignalRecorder]):
        handle = await client.start_workflow(SignalRecorder.run, id=booking_workflow_id(booking_id), task_queue=queue)
        try:
            yield handle
        finally:
            try:
                await handle.signal(SignalRecorder.finish)
                await handle.result()
            except Exception:
                pass


async def seen(handle, count: int, timeout: float = 30) -> list[ZoomEventSignal]:
    """The recorder's signals once it holds `count` (the deadline only guards a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await handle.query(SignalRecorder.seen)
        if len(got) >= count:
            return [ZoomEventSignal.model_validate(g) if isinstance(g, dict) else g for g in got]
        assert loop.time() < deadline, f"only {len(got)} signals arrived: {got}"
        await asyncio.sleep(0.05)


async def rows_once(services, zoom_meeting_id: int | str, ready, timeout: float = 30) -> list[WebhookEvent]:
    """The meeting's inbox rows once `ready(rows)` holds: signals are sent after the webhook's
    answer, so a row's outcome lands a moment later (the deadline only guards a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await inbox_rows(services, zoom_meeting_id)
        if ready(rows):
            return rows
        assert loop.time() < deadline, f"inbox rows never got there: {[(r.route_status, r.attempts) for r in rows]}"
        await asyncio.sleep(0.05)
