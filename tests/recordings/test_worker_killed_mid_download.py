"""Promise 2 (docs/promises.md#2-every-recording-file-stored-once-and-whole) under the worst timing: the worker process is SIGKILLed in the middle of a 200 MiB
recording. Another worker takes the download over, continues from the part file with a Range
request (not from byte 0), and the booking ends with one file, whole, with the right sha256 - and
the killed worker's memory never grew with the file."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
from pathlib import Path

import psutil

from models.recording_store import RecordingStore
from workflows.contract import TASK_QUEUE
from tests.bookings.helpers import book, future, new_org_with_session, services_with_hosts, settled
from tests.recordings.helpers import FAST, FINAL, file_rows, new_system_host, recording_worker, until, webhooks_to
from zoom_emulator.files import expected_sha256

ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20
SIZE = 200 * MIB
KILL_AFTER = 120 * MIB  # far enough in that a worker holding the file in memory would show it


def worker_env(services, system_host: str, temporal_address: str) -> dict:
    st = services.settings
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZOOM_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_", "RECORDINGS_DIR"))}
    env.update({
        "PYTHONPATH": str(ROOT), "DATABASE_URL": st.database_url, "REDIS_URL": st.redis_url,
        "TOKEN_ENCRYPTION_KEYS": st.token_encryption_keys, "TEMPORAL_ADDRESS": temporal_address,
        "RECORDINGS_DIR": st.recordings_dir,  # the same store: the next worker resumes its part file
        "ZOOM_OAUTH_BASE_URL": st.zoom_oauth_base_url, "ZOOM_API_BASE_URL": st.zoom_api_base_url,
        "ZOOM_CLIENT_ID": st.zoom_client_id, "ZOOM_CLIENT_SECRET": st.zoom_client_secret,
        "ZOOM_REDIRECT_URI": st.zoom_redirect_uri, "ZOOM_S2S_ACCOUNT_ID": st.zoom_s2s_account_id,
        "ZOOM_S2S_CLIENT_ID": st.zoom_s2s_client_id, "ZOOM_S2S_CLIENT_SECRET": st.zoom_s2s_client_secret,
        "ZOOM_SYSTEM_HOSTS": f"{system_host}:1",
    })
    return env


async def test_a_worker_killed_mid_download_is_resumed_elsewhere_with_range(api, emulator, temporal_env):
    host = await new_system_host(emulator)
    store = RecordingStore.from_settings(api.services.settings)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "tests" / "recordings" / "recording_worker_process.py"), TASK_QUEUE,
        FAST.model_dump_json(), cwd=str(ROOT), stdout=asyncio.subprocess.PIPE,
        env=worker_env(api.services, host, temporal_env.client.service_client.config.target_host))
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
        worker = psutil.Process(proc.pid)
        async with webhooks_to(emulator, api.url):
            org_id, headers, session_id = await new_org_with_session(api, "Killed Worker Research")
            booking = await settled(api, org_id, headers,
                                    (await book(api, org_id, headers, session_id, start=future(hours=1)))["id"])
            meeting_id = int(booking["meeting"]["zoom_meeting_id"])
            await emulator.control.start_meeting(meeting_id)
            await emulator.control.end_meeting(meeting_id)
            baseline = worker.memory_info().rss
            rec = await emulator.control.complete_recording(
                meeting_id, [{"file_type": "MP4", "size": SIZE}, "TRANSCRIPT"])
            row = await until(lambda: _mp4_row(api.services, booking["id"]), every=0.01)
            part = store.part_path(store.relative_path(row.org_id, row.booking_id, row.id, row.file_extension))
            peak = baseline
            while not part.exists() or part.stat().st_size < KILL_AFTER:
                peak = max(peak, worker.memory_info().rss)
                await asyncio.sleep(0.003)
            os.kill(proc.pid, signal.SIGSTOP)  # frozen mid-file, then killed
            peak = max(peak, worker.memory_info().rss)
            at_kill = part.stat().st_size
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            assert KILL_AFTER <= at_kill < SIZE, at_kill

            svc = services_with_hosts(api.services, f"{host}:1")
            async with recording_worker(temporal_env.client, svc):  # another worker takes over
                booking = await settled(api, org_id, headers, booking["id"],
                                        until=lambda b: b["status"] in FINAL, timeout=120)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    assert (booking["status"], booking["status_reason"]) == ("completed", None), booking
    key = next(f["file_key"] for f in rec["files"] if f["file_type"] == "MP4")
    mp4s = [r for r in booking["recordings"] if r["file_type"] == "MP4"]
    assert len(mp4s) == 1 and mp4s[0]["size_bytes"] == SIZE
    assert mp4s[0]["sha256"] == expected_sha256(key, SIZE)
    stored = store.stored((await file_rows(api.services, booking["id"]))["MP4"].storage_path)
    assert stored.stat().st_size == SIZE and not part.exists()
    assert await asyncio.to_thread(_sha256, stored) == mp4s[0]["sha256"]
    served = [r["status"] for r in await emulator.control.requests()
              if r["path"].startswith(f"/rec/files/{key}")]
    assert served == [200, 206]  # the first from byte 0, the takeover from where the part ended
    assert peak - baseline < 64 * MIB, f"the worker grew by {(peak - baseline) / MIB:.0f} MiB"


async def _mp4_row(services, booking_id: str):
    row = (await file_rows(services, booking_id)).get("MP4")
    return row if row is not None and row.status == "downloading" else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(MIB):
            digest.update(piece)
    return digest.hexdigest()
