"""CPU seconds by process role over a stretch of work: this process (API + worker), the Temporal
server, the emulator, Postgres, Redis.

On a 2-core box other work shifts wall-clock figures from run to run; CPU spent per unit of
work moves far less, and it says which process a slowdown lives in.
"""

from __future__ import annotations

import psutil

# Replica processes of bench/replicas.py first: their command lines name no other role.
ROLES = (("-m api", "api"), ("worker.py", "worker"), ("temporal", "temporal"), ("zoom_emulator", "emulator"), ("postgres", "postgres"),
         ("redis-server", "redis"))


def _role(proc: psutil.Process, me: int) -> str | None:
    if proc.pid == me:
        return "bench"
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    for needle, role in ROLES:
        if needle in cmd:
            return role
    return None


def snapshot() -> dict[int, tuple[str, float]]:
    me = psutil.Process()
    found: dict[int, tuple[str, float]] = {}
    for proc in [me, *me.children(recursive=True)]:
        role = _role(proc, me.pid)
        if role is None:
            continue
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        found[proc.pid] = (role, t.user + t.system)
    return found


def used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds per role between two snapshots (processes that ended meanwhile are lost)."""
    out: dict[str, float] = {}
    for pid, (role, t) in after.items():
        out[role] = out.get(role, 0.0) + t - before.get(pid, (role, 0.0))[1]
    return out
