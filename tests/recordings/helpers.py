"""What the recording integration tests share: a worker whose bookings wait seconds, not hours;
the emulator's webhooks aimed at the test API; a finished Zoom recording of a booked meeting."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select
from temporalio.worker import Worker

from models import RecordingFile, WebhookEvent
from workflows.contract import TASK_QUEUE
from tests.webhooks.helpers import SECRET, booked_meeting
from workflows.recording_types import RecordingTimings

# A booking of these tests waits seconds where production waits hours.
FAST = RecordingTimings(
    recording_first_poll=timedelta(seconds=1),
    recording_deadline=timedelta(seconds=20),
    transcript_first_poll=timedelta(seconds=1),
    transcript_deadline=timedelta(seconds=60),
    poll_max_interval=timedelta(seconds=2),
    download_heartbeat=timedelta(seconds=3),
)
FINAL = {"completed", "no_recording", "failed", "cancelled"}


def recording_worker(client, services, *, task_queue: str = TASK_QUEUE,
                     timings: RecordingTimings = FAST) -> Worker:
    """The service's worker (every workflow and activity), with the recording waits shortened."""
    from activities import build_activities
    from worker import workflows

    return Worker(client, task_queue=task_queue, workflows=workflows(),
                  activities=build_activities(services, timings))


@asynccontextmanager
async def webhooks_to(emulator, url: str, **options):
    """Zoom's webhooks go to the test API for the block; faults and switches are undone after."""
    before = (await emulator.control.http.get("/_emulator/webhook")).json()
    await emulator.control.set_webhook(f"{url}/v1/zoom/webhooks", secret=SECRET, events=None, **options)
    try:
        yield
    finally:
        await emulator.control.set_webhook(before.get("url"), events=before.get("events"))
        await emulator.control.clear_faults()
        await emulator.control.config(download_token_ttl=86400)


async def new_system_host(emulator) -> str:
    email = f"rec-{uuid.uuid4().hex[:10]}@system.converge.test"
    await emulator.control.create_user(email, account_id="emu-system-account", type=2,
                                       first_name="Converge", last_name="Recording Host")
    return email


@dataclass
class ZoomRecording:
    """A booking whose meeting was held at the emulator and cloud-recorded."""

    org_id: str
    booking_id: str
    meeting_id: int
    uuid: str
    download_token: str
    files: dict[str, dict]  # file_type -> {"file_key", "size", "download_url", ...}
    event_id: str  # the recording.completed row in the inbox


async def zoom_recording(api, emulator, files: list) -> ZoomRecording:
    """A meeting made at the emulator for a fresh system host, the booking rows that own it, and
    its finished recording, whose webhook went through the test API into the inbox (no workflow
    runs for the booking, so the event is `closed` there; activities are called directly)."""
    services = api.services
    host = await new_system_host(emulator)
    token = await services.tokens.system_access_token()
    r = await services.http.post(
        f"{services.settings.zoom_api_base_url}/users/{host}/meetings",
        headers={"Authorization": f"Bearer {token}"},
        json={"topic": "IDI", "type": 2, "start_time": "2030-01-01T10:00:00Z", "duration": 30,
              "settings": {"auto_recording": "cloud"}})
    r.raise_for_status()
    meeting_id = r.json()["id"]
    booked = await booked_meeting(services, meeting_id)
    async with services.db.session() as s:
        from models import Meeting

        meeting = (await s.exec(select(Meeting).where(Meeting.booking_id == booked.booking_id))).one()
        meeting.host_email = host
        s.add(meeting)
        await s.commit()
    async with webhooks_to(emulator, api.url):
        await emulator.control.start_meeting(meeting_id)
        await emulator.control.end_meeting(meeting_id)
        rec = await emulator.control.complete_recording(meeting_id, files, wait=True)
    async with services.db.session() as s:
        event = (await s.exec(select(WebhookEvent).where(
            WebhookEvent.zoom_meeting_id == str(meeting_id),
            WebhookEvent.event_type == "recording.completed"))).one()
    return ZoomRecording(booked.org_id, booked.booking_id, meeting_id, rec["uuid"], rec["download_token"],
                         {f["file_type"]: f for f in rec["files"]}, event.id)


async def file_rows(services, booking_id: str) -> dict[str, RecordingFile]:
    async with services.db.session() as s:
        rows = (await s.exec(select(RecordingFile).where(RecordingFile.booking_id == booking_id))).all()
    return {r.file_type: r for r in rows}


async def until(check, timeout: float = 60, every: float = 0.1):
    """Poll `check()` (async) until it returns something truthy; the deadline only guards a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await check()
        if got:
            return got
        assert loop.time() < deadline, "the condition never came true"
        await asyncio.sleep(every)
