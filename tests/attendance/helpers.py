"""What the attendance tests share: a booked meeting on a fresh system host, with the real worker
and the emulator's webhooks aimed at the test API; people joining and leaving at given times."""

from __future__ import annotations

import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tests.bookings.helpers import book, future, new_org_with_session, services_with_hosts, settled
from tests.recordings.helpers import new_system_host, recording_worker, webhooks_to


@dataclass
class Booked:
    org_id: str
    headers: dict
    session_id: str
    booking: dict
    meeting_id: int
    name: str
    email: str

    @property
    def id(self) -> str:
        return self.booking["id"]


def at(base: datetime, minutes: float) -> str:
    return (base + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def a_while_ago() -> datetime:
    """Join and leave times a little in the past, so minutes attended are whole and known."""
    return (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)


@asynccontextmanager
async def stack(api, emulator, temporal_env):
    svc = services_with_hosts(api.services, f"{await new_system_host(emulator)}:3")
    async with webhooks_to(emulator, api.url), recording_worker(temporal_env.client, svc):
        try:
            yield
        finally:
            await emulator.control.config(participant_webhooks=True)


async def booked(api, org: str, name: str = "Riley Chen") -> Booked:
    email = f"riley-{uuid.uuid4().hex[:8]}@interviewee.test"
    org_id, headers, session_id = await new_org_with_session(api, org)
    booking = await book(api, org_id, headers, session_id, start=future(hours=1), duration=30,
                         name=name, email=email)
    booking = await settled(api, org_id, headers, booking["id"])
    assert booking["status"] == "scheduled", booking
    return Booked(org_id, headers, session_id, booking, int(booking["meeting"]["zoom_meeting_id"]),
                  name, email)


async def until_status(api, b: Booked, *statuses: str, timeout: float = 90) -> dict:
    return await settled(api, b.org_id, b.headers, b.id, until=lambda x: x["status"] in statuses,
                         timeout=timeout)


def person(booking: dict, role: str) -> dict | None:
    return next((p for p in booking["attendance"]["participants"] if p["role"] == role), None)
