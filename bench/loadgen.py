"""Open-loop HTTP load generator, run as its own process: `python -m bench.loadgen < plan.json`.

Open loop: request i of a step is due at t0 + i/rate whether or not earlier ones have answered,
and its latency counts from that due time. A closed loop (send, wait, send) slows down with the
server and hides queueing; this one does not. It runs in a separate process so that its own CPU
use never shares the event loop of the server it measures, and the same generator drives the
service and the baseline.

Plan (JSON on stdin): {"url", "requests_file": JSONL of {"headers", "body"}, "offset" (first
line to send), "steps":
[{"rate", "seconds"}], "timeout", "connections", "stop_p99_ms"}. Output (JSON on stdout): one
entry per step with sent, ok, errors, p50/p99/max latency in ms and the completed rate. Counts
and time are bounded: at most rate*seconds requests per step, each with `timeout`, and later
steps are skipped once a step's p99 passes `stop_p99_ms` (the server is past saturation).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections import Counter

import aiohttp

from bench.harness import percentile


async def _step(session: aiohttp.ClientSession, url: str, requests, rate: float, seconds: float,
                timeout: float) -> dict:
    loop = asyncio.get_running_loop()
    count = max(1, int(rate * seconds))
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    per_request = aiohttp.ClientTimeout(total=timeout)

    async def one(due: float, headers: dict, body: bytes) -> None:
        try:
            async with session.post(url, data=body, headers=headers, timeout=per_request) as r:
                await r.read()
                if r.status >= 300:
                    errors[f"http_{r.status}"] += 1
                    return
        except Exception as exc:  # every failure is a data point, never a crash
            errors[type(exc).__name__] += 1
            return
        latencies.append((loop.time() - due) * 1000)

    t0 = loop.time() + 0.05
    tasks = []
    for i in range(count):
        due = t0 + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        headers, body = next(requests)
        tasks.append(asyncio.create_task(one(due, headers, body)))
    await asyncio.wait(tasks, timeout=timeout + 1)
    for t in tasks:
        t.cancel()
    elapsed = loop.time() - t0
    return {
        "rate": rate, "sent": count, "ok": len(latencies), "errors": dict(errors),
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else None,
        "completed_per_s": len(latencies) / elapsed if elapsed > 0 else None,
    }


async def run(plan: dict) -> list[dict]:
    with open(plan["requests_file"]) as f:
        prepared = [json.loads(line) for line in f if line.strip()][plan.get("offset", 0):]
    requests = itertools.cycle([(r["headers"], r["body"].encode()) for r in prepared])
    connector = aiohttp.TCPConnector(limit=plan.get("connections", 256), force_close=False)
    results = []
    async with aiohttp.ClientSession(connector=connector) as session:
        for step in plan["steps"]:
            got = await _step(session, plan["url"], requests, step["rate"], step["seconds"],
                              plan.get("timeout", 5.0))
            results.append(got)
            p99 = got["p99_ms"]
            if p99 is None or p99 > plan.get("stop_p99_ms", 2000) or got["ok"] < got["sent"] // 2:
                break
            await asyncio.sleep(plan.get("pause", 0.3))
    return results


if __name__ == "__main__":
    out = asyncio.run(run(json.load(sys.stdin)))
    json.dump(out, sys.stdout)
