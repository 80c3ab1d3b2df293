"""Runs the service's download activity in a fresh process and reports time and memory.

`python -m bench.download_probe`: reads the job (one JSON line) on stdin, sets up, prints `ready`,
waits for a `go` line, runs the download and prints its JSON. A separate process, so the RSS
growth measured is the download's own and not the benchmark process's earlier peaks; the parent
samples that RSS from outside (bench/rss.py), as it does curl's, so no sampling thread competes
with the download for this process's GIL. The activity runs under temporalio's
ActivityEnvironment (heartbeats are collected, not sent). Settings come from the environment the
parent passes (the contract variables).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time


def settings_env(settings) -> dict[str, str]:
    """The contract variables of `settings`, for a child process's environment."""
    env = {}
    for name, value in settings.model_dump(by_alias=True).items():
        if value is not None and name.isupper():
            env[name] = str(value)
    return env


async def run_probe(stack, booking_id: str, file_id: str) -> dict:
    from pathlib import Path

    from bench.rss import PeakRss

    env = {**os.environ, **settings_env(stack.services.settings)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.download_probe", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env=env, cwd=str(Path(__file__).resolve().parent.parent))
    try:
        proc.stdin.write(json.dumps({"booking_id": booking_id, "file_id": file_id}).encode() + b"\n")
        await proc.stdin.drain()
        if (await proc.stdout.readline()).strip() != b"ready":
            raise RuntimeError("download probe did not get ready")
        with PeakRss(proc.pid) as peak:
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
            out = await proc.stdout.readline()
        await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"download probe exited with {proc.returncode}")
    result = json.loads(out)
    if "error" in result:
        raise RuntimeError(f"download activity failed: {result['error']}")
    return {**result, "rss_start": peak.start_bytes, "rss_peak": peak.peak_bytes,
            "rss_growth": peak.growth}


async def _main(job: dict) -> dict:
    from temporalio.testing import ActivityEnvironment

    from activities.recording_download import RecordingDownloadActivities
    from services import Services
    from settings import load_settings
    from workflows.recording_types import DownloadFileInput

    services = Services.from_settings(load_settings(_env_file=None))
    try:
        acts = RecordingDownloadActivities(services)
        env = ActivityEnvironment()
        beats: list = []
        env.on_heartbeat = lambda *details: beats.append(details)
        inp = DownloadFileInput(booking_id=job["booking_id"], file_id=job["file_id"])
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # "go": the parent samples RSS from now on
        started = time.perf_counter()
        try:
            stored = await env.run(acts.download_recording_file, inp)
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"[:500]}
        seconds = time.perf_counter() - started
        maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"seconds": seconds, "size": stored.size_bytes, "sha256": stored.sha256,
                "maxrss_growth": max(0, maxrss_after - maxrss_before), "heartbeats": len(beats)}
    finally:
        await services.close()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(json.loads(sys.stdin.readline())))), flush=True)
