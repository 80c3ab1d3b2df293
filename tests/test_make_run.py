"""`make run`'s launcher on a fresh data folder: it comes up healthy, and stops all it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
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


def _launcher_env() -> tuple[dict, int]:
    data = Path(tempfile.mkdtemp(prefix="converge-run-"))
    port, emu_port, temporal_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ZOOM_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_", "TOKEN_", "ADMIN_API"))}
    env.update(CONVERGE_DATA_DIR=str(data), PORT=str(port), ZOOM_EMULATOR_PORT=str(emu_port),
               TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}", TEMPORAL_UI_PORT=str(free_port()),
               WORKER_METRICS_PORT="0")
    return env, port


@pytest.mark.timeout(180)
@pytest.mark.parametrize("sigterms", [1, 2], ids=["one-sigterm", "two-sigterms-50ms-apart"])
def test_launcher_comes_up_healthy_then_stops_everything_it_started(sigterms):
    """A SIGTERM to the process group reaches the launcher twice (make passes it on): the second
    one must not cut the first stop short and leave the embedded servers running."""
    env, port = _launcher_env()
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
        assert f"Zoom emulator  http://127.0.0.1:{env['ZOOM_EMULATOR_PORT']}" in text
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


class _Lines:
    """The launcher's output, read on a thread so a test can wait for a line without blocking."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, predicate, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        with self._cond:
            while time.monotonic() < deadline:
                for line in self.lines:
                    if predicate(line):
                        return line
                self._cond.wait(0.5)
        raise AssertionError("not seen in time:\n" + "".join(self.lines))


def _healthy(port: int, seconds: float) -> httpx.Response:
    deadline, last = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        try:
            last = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            if last.status_code == 200:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"/healthz did not recover: {last and last.text}")


def _child(launcher_pid: int, part: str) -> psutil.Process:
    """The launcher's own child whose command line has `part` (not the embedded servers)."""
    found = [p for p in psutil.Process(launcher_pid).children() if part in " ".join(p.cmdline())]
    assert len(found) == 1, [p.cmdline() for p in psutil.Process(launcher_pid).children()]
    return found[0]


@pytest.mark.timeout(180)
def test_launcher_restarts_the_worker_and_the_api_when_they_die():
    """make run is a supervisor: a killed worker or API is started again and says so; the stack
    stays up, /healthz answers ok again, and a stop afterwards still ends everything."""
    env, port = _launcher_env()
    proc = subprocess.Popen([sys.executable, "-m", "cli", "run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = _Lines(proc.stdout)
    try:
        out.wait_for(lambda line: line.startswith("Ctrl-C stops"), 150)
        for part in ("worker.py", "-m api"):
            name = "worker" if part == "worker.py" else "api"
            victim = _child(proc.pid, part)
            victim.kill()
            out.wait_for(lambda line: line.startswith(f"• {name} exited with code -9; restarting"), 20)
            out.wait_for(lambda line: line.startswith(f"• {name} restarted (pid "), 20)
            assert proc.poll() is None, "".join(out.lines)
            replacement = _child(proc.pid, part)
            assert replacement.pid != victim.pid
            _healthy(port, 60)
        started = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        time.sleep(0.5)
        alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _descendants(proc.pid):
            p.kill()
