"""Two API processes on one port and two workers on one task queue, one of each killed mid-flow:
every booking still ends `scheduled` with exactly one meeting at Zoom (docs/architecture.md#scale-out).

The processes are the real entry points (`python -m api`, `python worker.py`) sharing this test
run's Postgres, Redis, Temporal server and emulator, as replicas in a deployment would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path

import httpx

from devstack import free_port
from tests.bookings.helpers import SETTLED, booking_body, future, zoom_meetings_of
from tests.helpers import zoom_env

ROOT = Path(__file__).resolve().parents[2]
BOOKINGS = 16


def _env(base_env: dict, emulator, temporal_address: str, system_host: str, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZOOM_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_"))}
    env.update(base_env)
    env.update(zoom_env(emulator))
    env.update({"PYTHONPATH": str(ROOT), "TEMPORAL_ADDRESS": temporal_address,
                "ZOOM_SYSTEM_HOSTS": f"{system_host}:1", "WORKER_METRICS_PORT": "0", **extra})
    return env


async def _spawn(args: list[str], env: dict, log: Path) -> asyncio.subprocess.Process:
    out = log.open("wb")
    return await asyncio.create_subprocess_exec(sys.executable, *args, env=env, cwd=str(ROOT),
                                                stdout=out, stderr=asyncio.subprocess.STDOUT)


async def _until(predicate, timeout: float, what: str):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await predicate()):
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.2)
    return value


async def _post(url: str, path: str, headers: dict, body: dict, key: str) -> dict:
    """POST on a new connection each time (so the kernel may pick either API), retried with the same
    Idempotency-Key when the API it reached has been killed."""
    for _ in range(20):
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                r = await http.post(path, headers={**headers, "Idempotency-Key": key}, json=body)
            if r.status_code < 500:
                assert r.status_code in (200, 201, 202), r.text
                return r.json()
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"no API answered {path}")


async def _get(url: str, path: str, headers: dict) -> dict:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        r = await http.get(path, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def test_two_apis_and_two_workers_one_of_each_killed_every_booking_completes(
        base_env, emulator, temporal_env, system_host, tmp_path):
    port = free_port()
    env = _env(base_env, emulator, temporal_env.client.service_client.config.target_host, system_host,
               PORT=str(port), API_HOST="127.0.0.1", API_REUSE_PORT="1")
    url = f"http://127.0.0.1:{port}"
    apis = [await _spawn(["-m", "api"], env, tmp_path / f"api{i}.log") for i in range(2)]
    workers = [await _spawn(["worker.py"], env, tmp_path / f"worker{i}.log") for i in range(2)]
    procs = apis + workers
    try:
        for i in range(2):
            await _until(lambda i=i: _logged(tmp_path / f"api{i}.log", "API listening"), 60, f"api{i} never listened")
            await _until(lambda i=i: _logged(tmp_path / f"worker{i}.log", "worker serving"), 60, f"worker{i} never served")

        admin = {"Authorization": f"Bearer {base_env['ADMIN_API_KEY']}"}
        org = await _post(url, "/v1/orgs", admin, {"name": "Replica Research"}, str(uuid.uuid4()))
        headers = {"Authorization": f"Bearer {org['api_key']}"}
        session = await _post(url, f"/v1/orgs/{org['id']}/sessions", headers,
                              {"title": "Scale-out study", "kind": "idi", "meeting_provider": "zoom_app"},
                              str(uuid.uuid4()))
        path = f"/v1/orgs/{org['id']}/sessions/{session['id']}/bookings"

        async def book(i: int) -> str:
            body = booking_body(future(hours=40 + 2 * i), email=f"p{i}@example.com")
            return (await _post(url, path, headers, body, f"replica-{i}-{uuid.uuid4()}"))["id"]

        first = await asyncio.gather(*(book(i) for i in range(BOOKINGS // 2)))
        # Mid-flow: some meetings are made, others are still being scheduled.
        await _until(lambda: _any_meeting(emulator, first), 60, "no meeting was ever made")
        for victim in (apis[0], workers[0]):
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
        second = await asyncio.gather(*(book(i) for i in range(BOOKINGS // 2, BOOKINGS)))

        async def all_settled():
            found = [await _get(url, f"/v1/orgs/{org['id']}/bookings/{b}", headers) for b in first + second]
            return found if all(b["status"] in SETTLED for b in found) else None

        bookings = await _until(all_settled, 120, "not every booking settled after the kills")
        assert [b["status"] for b in bookings] == ["scheduled"] * BOOKINGS, bookings
        for b in bookings:
            [meeting] = await zoom_meetings_of(emulator, b["id"])
            assert str(meeting["id"]) == b["meeting"]["zoom_meeting_id"]
        # Both API processes took bookings before one was killed: the port really was shared.
        assert all(_count(tmp_path / f"api{i}.log", "/bookings") for i in range(2))
    finally:
        for p in procs:
            if p.returncode is None:
                p.terminate()
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), 15)
            except asyncio.TimeoutError:
                p.kill()
                await p.wait()


async def _any_meeting(emulator, booking_ids: list[str]) -> bool:
    return any([await zoom_meetings_of(emulator, b) for b in booking_ids])


async def _logged(log: Path, text: str) -> bool:
    return log.exists() and text in log.read_text(errors="replace")


def _count(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text)
