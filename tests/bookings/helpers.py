"""Steps the booking integration tests share: sessions, bookings, connecting an org, waiting."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlmodel import select

from models import Meeting, ZoomConnection
from tests.helpers import finish_connect_as
from models import HostReservation

ROOT = Path(__file__).resolve().parents[2]


def services_with_hosts(services, hosts_raw: str):
    """The shared services with another ZOOM_SYSTEM_HOSTS (same database, Redis and clients)."""
    settings = services.settings.model_copy(update={"zoom_system_hosts_raw": hosts_raw})
    settings.__dict__.pop("system_hosts", None)  # a cached_property copied along
    return dataclasses.replace(services, settings=settings, _tokens=None, _temporal_lock=asyncio.Lock())


async def new_system_host(emulator) -> str:
    """A user of the system account that no other test books on."""
    email = f"pool-{uuid.uuid4().hex[:10]}@system.converge.test"
    await emulator.control.create_user(email, account_id="emu-system-account", type=2,
                                       first_name="Converge", last_name="Pool Host")
    return email


SETTLED = {"scheduled", "failed", "cancelled", "ended", "no_recording", "completed"}


def future(hours: float = 48, minutes: float = 0) -> datetime:
    """A start time in the future, whole minutes, in UTC."""
    t = datetime.now(timezone.utc) + timedelta(hours=hours, minutes=minutes)
    return t.replace(second=0, microsecond=0)


def rfc3339(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


async def new_session(api, org_id: str, headers: dict, title: str = "Pricing study") -> str:
    r = await api.http.post(f"/v1/orgs/{org_id}/sessions", headers=headers,
                            json={"title": title, "kind": "idi", "meeting_provider": "zoom_app"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def new_org_with_session(api, name: str = "Acme Research") -> tuple[str, dict, str]:
    org_id, headers = await api.new_org(name)
    return org_id, headers, await new_session(api, org_id, headers)


def booking_body(start: datetime, duration: int = 60, name: str = "Pat Participant",
                 email: str = "pat@example.com") -> dict:
    return {"participant_name": name, "participant_email": email, "start_time": rfc3339(start),
            "duration_minutes": duration}


async def post_booking(api, org_id: str, headers: dict, session_id: str, body: dict, key: str | None = None):
    h = dict(headers)
    if key is not None:
        h["Idempotency-Key"] = key
    return await api.http.post(f"/v1/orgs/{org_id}/sessions/{session_id}/bookings", headers=h, json=body)


async def book(api, org_id: str, headers: dict, session_id: str, start: datetime | None = None,
               duration: int = 60, **body) -> dict:
    r = await post_booking(api, org_id, headers, session_id,
                           booking_body(start or future(), duration, **body))
    assert r.status_code == 202, r.text
    return r.json()


async def get_booking(api, org_id: str, headers: dict, booking_id: str) -> dict:
    r = await api.http.get(f"/v1/orgs/{org_id}/bookings/{booking_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def settled(api, org_id: str, headers: dict, booking_id: str, *, until=None,
                  timeout: float = 60) -> dict:
    """The booking once its workflow has decided (polls; the deadline only guards a hang)."""
    until = until or (lambda b: b["status"] in SETTLED or b["status_reason"] is not None)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        booking = await get_booking(api, org_id, headers, booking_id)
        if until(booking):
            return booking
        assert asyncio.get_running_loop().time() < deadline, f"booking never settled: {booking}"
        await asyncio.sleep(0.1)


async def connect_org(api, emulator, org_id: str, headers: dict, email: str) -> ZoomConnection:
    """Connect the org's Zoom as `email` through the integrations API and the emulator's consent."""
    r = await api.http.post(f"/v1/orgs/{org_id}/integrations/zoom/connect", headers=headers)
    assert r.status_code == 200, r.text
    location = await emulator.control.authorize(r.json()["authorize_url"], email)
    r = await finish_connect_as(api.url, headers, location)  # the org's signed-in browser
    assert r.status_code == 303, r.text
    async with api.services.db.session() as s:
        row = (await s.exec(select(ZoomConnection).where(ZoomConnection.org_id == org_id))).one()
    assert row.status == "active"
    return row


async def fresh_zoom_user(emulator, *, type: int = 2, account_id: str = "emu-globex",
                          first: str = "Robin", last: str = "Researcher") -> str:
    """A Zoom user nobody else connects (a second connect of one user ends the first's tokens)."""
    email = f"{first.lower()}-{uuid.uuid4().hex[:8]}@globex.test"
    await emulator.control.create_user(email, account_id=account_id, type=type, first_name=first,
                                       last_name=last)
    return email


async def zoom_meetings_of(emulator, booking_id: str) -> list[dict]:
    """Every meeting at the emulator (deleted ones too) that carries this booking's reference."""
    mark = f"converge-booking:{booking_id}"
    return [m for m in await emulator.control.meetings() if mark in (m.get("agenda") or "")]


async def meeting_row(services, booking_id: str) -> Meeting | None:
    async with services.db.session() as s:
        return (await s.exec(select(Meeting).where(Meeting.booking_id == booking_id))).first()


async def reservation_row(services, booking_id: str) -> HostReservation | None:
    async with services.db.session() as s:
        return (await s.exec(select(HostReservation).where(HostReservation.booking_id == booking_id))).first()


async def history_text(handle) -> str:
    """A workflow's history as text with every payload decoded (payloads are base64 in JSON),
    so a test can search it for what ops would see in the UI."""
    import base64
    import json

    history = json.loads((await handle.fetch_history()).to_json())
    decoded: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node and isinstance(node["data"], str):
                decoded.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(history)
    return json.dumps(history) + "\n" + "\n".join(decoded)


async def stored_booking(services, org_id: str, session_id: str, start: datetime,
                         duration: int = 60):
    """A booking row as the API stores it, with no workflow: for calling activities directly.
    Marked as started, so that no booking reconciler (api/booking_reconciler.py) starts one."""
    from models import Booking, utcnow

    booking = Booking(org_id=org_id, session_id=session_id, participant_name="Pat Participant",
                      participant_email="pat@example.com", start_time=start, duration_minutes=duration,
                      workflow_started_at=utcnow())
    async with services.db.session() as s:
        s.add(booking)
        await s.commit()
        await s.refresh(booking)
    return booking


def activity_attempt(attempt: int):
    """An ActivityEnvironment whose activities see themselves on this attempt (activity.info())."""
    from temporalio.testing import ActivityEnvironment

    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    return env


async def until(check, *, timeout: float = 60, what: str = "condition"):
    """Poll an async `check` until it returns something truthy (the deadline only guards a hang)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := await check()):
        assert loop.time() < deadline, f"{what} never happened"
        await asyncio.sleep(0.05)
    return value


def worker_env(services, system_host: str, temporal_address: str) -> dict:
    """The environment of a worker in its own process (booking_worker_process.py): the test
    stack's database, Redis, keys and Zoom, the Temporal server at `temporal_address`, and one
    system host nobody else books."""
    st = services.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_"))}
    env.update({
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": st.database_url,
        "REDIS_URL": st.redis_url,
        "TOKEN_ENCRYPTION_KEYS": st.token_encryption_keys,
        "TEMPORAL_ADDRESS": temporal_address,
        "ZOOM_OAUTH_BASE_URL": st.zoom_oauth_base_url,
        "ZOOM_API_BASE_URL": st.zoom_api_base_url,
        "ZOOM_CLIENT_ID": st.zoom_client_id,
        "ZOOM_CLIENT_SECRET": st.zoom_client_secret,
        "ZOOM_REDIRECT_URI": st.zoom_redirect_uri,
        "ZOOM_S2S_ACCOUNT_ID": st.zoom_s2s_account_id,
        "ZOOM_S2S_CLIENT_ID": st.zoom_s2s_client_id,
        "ZOOM_S2S_CLIENT_SECRET": st.zoom_s2s_client_secret,
        "ZOOM_SYSTEM_HOSTS": f"{system_host}:1",
    })
    return env


@asynccontextmanager
async def worker_process(services, system_host: str, temporal_address: str, task_queue: str):
    """The service's worker in its own OS process (booking_worker_process.py), polling once this
    yields it, so a test can SIGKILL it mid-activity; killed at the end if still alive."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "tests" / "bookings" / "booking_worker_process.py"), task_queue,
        env=worker_env(services, system_host, temporal_address), stdout=asyncio.subprocess.PIPE,
        cwd=str(ROOT))
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
