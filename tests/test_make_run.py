"""`make run`'s launcher on a fresh data folder: it comes up healthy, and stops all it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from devstack import free_port

ROOT = Path(__file__).resolve().parent.parent


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.timeout(180)
@pytest.mark.parametrize("sigterms", [1, 2], ids=["one-sigterm", "two-sigterms-50ms-apart"])
def test_launcher_comes_up_healthy_then_stops_everything_it_started(tmp_path, sigterms):
    """A SIGTERM to the process group reaches the launcher twice (make passes it on): the second
    one must not cut the first stop short and leave the embedded servers running."""
    data = Path(tempfile.mkdtemp(prefix="converge-run-"))
    port, emu_port, temporal_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZOOM_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_", "TOKEN_", "ADMIN_API"))}
    env.update(CONVERGE_DATA_DIR=str(data), PORT=str(port), ZOOM_EMULATOR_PORT=str(emu_port),
               TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}", TEMPORAL_UI_PORT=str(free_port()))
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    proc = subprocess.Popen([sys.executable, "-m", "cli", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if line.startswith("Ctrl-C stops"):
                break
        text = "".join(out)
        assert "Ready in" in text, text
        assert "Demo API key   cvg_" in text and f"http://127.0.0.1:{port}" in text
        assert "generated " in text and "dev-token-key" in text  # says so when it makes a dev key
        assert f"Zoom emulator  http://127.0.0.1:{emu_port}" in text
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "ok", r.text
        started = _descendants(proc.pid)
        names = " ".join(" ".join(p.cmdline()) for p in started)
        for part in ("postgres", "redis-server", "temporal", "zoom_emulator", "-m api", "worker.py"):
            assert part in names, f"{part} not started: {names}"

        for n in range(sigterms):
            if n:
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        time.sleep(0.5)
        alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"left running: {[p.cmdline() for p in alive]}"
        assert bystander.poll() is None, "stopped a process it did not start"
    finally:
        if proc.poll() is None:
            proc.kill()
        bystander.kill()
        for p in _descendants(proc.pid):
            p.kill()
