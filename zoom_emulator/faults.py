"""Injected faults: the failures Zoom's users have met, on demand.

A rule matches requests by method, path glob (fnmatch on the decoded path, e.g.
"/v2/users/*/meetings") and optionally request parameters (query or form, e.g.
{"grant_type": "refresh_token"}). It fires `count` times (or forever), with a `probability`,
after letting `skip` matching requests through. Actions:

- respond           answer `status` with `body`/`headers` instead of the real handler (a JSON
                    value, or a string sent as text/html unless `headers` say otherwise)
- qps               Zoom's per-second 429 (X-RateLimit-Type: QPS, body code 429)
- delay             only wait `latency_ms`, then handle normally (any action may add latency)
- drop              close the connection without doing anything
- commit_then_drop  do the work (meeting created, token rotated), then close the connection
                    without answering: the lost-response case no retry can repair
- cut               for file downloads: close the connection after `after_bytes` body bytes
- stall             for file downloads: after `after_bytes` body bytes, send nothing for
                    `stall_ms`, then go on (a file server that hangs mid-body and recovers)

Control routes (/_emulator) are never faulted. The random source is seeded, so a probability
rule fails the same requests on every run.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

from .httputil import emulator, json_response, notes, request_params

ACTIONS = ("respond", "qps", "delay", "drop", "commit_then_drop", "cut", "stall")


@dataclass
class FaultRule:
    path: str
    method: str = "*"
    action: str = "respond"
    status: int = 500
    body: Any = None
    headers: dict = field(default_factory=dict)
    latency_ms: int = 0
    count: int | None = None
    probability: float = 1.0
    skip: int = 0
    match: dict = field(default_factory=dict)
    after_bytes: int = 0
    stall_ms: int = 0
    id: int = 0
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FaultRule":
        known = {f.name for f in fields(cls)} - {"id", "seen", "fired"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; known: {sorted(known)}")
        if "path" not in data:
            raise ValueError("a fault rule needs a path glob, e.g. /v2/users/*/meetings")
        rule = cls(**data)
        if rule.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        if not 0 <= rule.probability <= 1:
            raise ValueError("probability must be between 0 and 1")
        return rule

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultBook:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.rules: list[FaultRule] = []
        self.rng = random.Random(7)
        self._next_id = 1

    def add(self, rule: FaultRule) -> FaultRule:
        rule.id = self._next_id
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    async def pick(self, request: web.Request) -> FaultRule | None:
        for rule in self.rules:
            if rule.method not in ("*", request.method):
                continue
            if not fnmatch.fnmatchcase(request.path, rule.path):
                continue
            if rule.match:
                params = await request_params(request)
                if any(params.get(k) != str(v) for k, v in rule.match.items()):
                    continue
            rule.seen += 1
            if rule.seen <= rule.skip:
                continue
            if rule.count is not None and rule.fired >= rule.count:
                continue
            if rule.probability < 1 and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return rule
        return None


def _category(request: web.Request) -> str:
    # Zoom's rate-limit label of the endpoint (docs/zoom.md#rate-limits-and-the-daily-cap)
    if request.path.endswith("/meetings") and request.path.startswith("/v2/users/"):
        return "Medium"
    return "Light"


def _drop(request: web.Request) -> None:
    # Closing the transport makes aiohttp give up writing the response: the client sees the
    # connection end with no answer.
    if request.transport is not None:
        request.transport.close()
    notes(request)["outcome"] = "dropped"


@web.middleware
async def fault_middleware(request: web.Request, handler):
    if request.path.startswith("/_emulator"):
        return await handler(request)
    rule = await emulator(request).faults.pick(request)
    if rule is None:
        return await handler(request)
    notes(request)["fault"] = rule.id
    if rule.latency_ms:
        await asyncio.sleep(rule.latency_ms / 1000)
    if rule.action == "delay":
        return await handler(request)
    if rule.action == "respond":
        if isinstance(rule.body, str):  # a non-JSON body (Zoom sometimes sends HTML or XML)
            headers = {"Content-Type": "text/html; charset=utf-8", **rule.headers}
            return web.Response(text=rule.body, status=rule.status, headers=headers)
        body = rule.body if rule.body is not None else {
            "code": rule.status, "message": "Internal Server Error (injected by the emulator)"}
        return json_response(body, status=rule.status, headers=rule.headers)
    if rule.action == "qps":
        return json_response(
            {"code": 429, "message": "You have reached the maximum per-second rate limit for "
                                     "this API. Try again later."},
            status=429,
            headers={"X-RateLimit-Type": "QPS", "X-RateLimit-Category": _category(request),
                     "X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "0", **rule.headers},
        )
    if rule.action == "drop":
        _drop(request)
        return web.Response(status=499)
    if rule.action == "commit_then_drop":
        response = await handler(request)
        notes(request)["committed_status"] = response.status
        _drop(request)
        return response
    # cut / stall: the streaming handler reads these and stops or pauses after so many bytes
    if rule.action == "stall":
        notes(request)["stall_after"] = (rule.after_bytes, rule.stall_ms / 1000)
    else:
        notes(request)["cut_after"] = rule.after_bytes
    return await handler(request)
