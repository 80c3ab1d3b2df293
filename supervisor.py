"""Keeps `make run`'s API and worker running: a child that dies is started again, with backoff.

A crash in one process (an unhandled error, the OOM killer, someone's `kill`) should cost a few
seconds of that process, not the whole dev stack with its databases. Restarts back off (1 s, 2 s,
4 s … up to 30 s) so a child that dies at start-up does not spin; a child that stayed up for
STABLE_AFTER counts as healthy again and its next restart is quick.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0


@dataclass
class Child:
    name: str
    args: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None  # set while dead and waiting for its backoff
    restarts: int = 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Supervisor:
    """Starts the children, restarts the ones that die (`check`), stops them all (`stop`)."""

    def __init__(self, cwd: Path, env: dict[str, str], say: Callable[[str], None]) -> None:
        self.cwd, self.env, self.say = cwd, env, say
        self.children: list[Child] = []

    def add(self, name: str, args: list[str], log_path: Path) -> Child:
        child = Child(name, args, log_path)
        self.children.append(child)
        self._start(child)
        return child

    def _start(self, child: Child) -> None:
        log = open(child.log_path, "ab")
        try:
            child.proc = subprocess.Popen(child.args, cwd=self.cwd, env=self.env, stdout=log,
                                          stderr=subprocess.STDOUT)
        finally:
            log.close()  # the child holds its own copy
        child.started_at, child.restart_at = time.monotonic(), None

    def procs(self) -> list[subprocess.Popen]:
        return [c.proc for c in self.children if c.proc is not None]

    def check(self) -> None:
        """One round: note children that died, restart those whose backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is None and not child.alive():
                if now - child.started_at >= STABLE_AFTER:
                    child.backoff = FIRST_BACKOFF
                child.restart_at = now + child.backoff
                self.say(f"• {child.name} exited with code {child.proc.returncode}; restarting it in "
                         f"{child.backoff:.0f}s (see {child.log_path})")
                child.backoff = min(child.backoff * 2, MAX_BACKOFF)
            elif child.restart_at is not None and now >= child.restart_at:
                self._start(child)
                child.restarts += 1
                self.say(f"• {child.name} restarted (pid {child.proc.pid})")

    def stop(self, timeout: float = 10) -> None:
        """SIGINT to every live child (what Ctrl-C would send), then wait; kill what lingers."""
        for child in reversed(self.children):
            child.restart_at = None
            if child.alive():
                child.proc.send_signal(signal.SIGINT)
        for child in self.children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
