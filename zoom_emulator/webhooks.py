"""Webhook events: their shapes, Zoom's signature, and delivery with Zoom's retry schedule.

Signature (docs/zoom.md#webhook-signatures): `x-zm-signature: v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>`
with `x-zm-request-timestamp` (Unix seconds; ms by switch) over a compact JSON body that keeps
non-ASCII characters raw - a receiver that re-serialises the JSON instead of hashing the raw body
gets a mismatch, as it would with Zoom.

Delivery is asynchronous: `emit` returns at once and a task POSTs the event. An attempt that is
not answered 2xx within `webhook_timeout` (3 s) is retried after 5, 20 and 60 minutes - scaled by
`time_factor` - and then dropped. Every attempt lands in the delivery log.

Webhook timestamps and `event_ts` use the wall clock, not the emulator clock: the receiver
checks them against its own clock, and moving the emulator clock (to expire tokens) must not make
every event look stale.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import aiohttp

from . import files
from .state import Instance, Meeting, OAuthClient, User, World, iso

if TYPE_CHECKING:
    from .app import Emulator


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Zoom's `x-zm-signature` value for a body sent with this timestamp header."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def encode(event: dict[str, Any]) -> bytes:
    # compact, raw UTF-8: what Zoom sends, and what the signature is computed over
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _ms() -> int:
    return int(time.time() * 1000)


# --- event shapes ------------------------------------------------------------------------------


def _envelope(event: str, account_id: str, obj: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"event": event, "event_ts": _ms(), "payload": {"account_id": account_id,
                                                           "object": obj}, **top}


def meeting_event(world: World, name: str, meeting: Meeting, instance: Instance) -> dict[str, Any]:
    """meeting.started / meeting.ended. Note `id` is a STRING here (a number in REST)."""
    host = world.users[meeting.host_id]
    obj = {
        "id": str(meeting.id),
        "uuid": instance.uuid,
        "host_id": host.id,
        "topic": meeting.topic,
        "type": meeting.type,
        "start_time": iso(instance.started_at),
        "timezone": meeting.timezone,
        "duration": meeting.duration,
    }
    if name == "meeting.ended":
        obj["end_time"] = iso(instance.ended_at)
    return _envelope(name, host.account_id, obj)


def recording_event(world: World, name: str, meeting: Meeting, instance: Instance,
                    only: list, base: str, download_token: str | None) -> dict[str, Any]:
    """recording.completed / recording.transcript_completed: `id` a NUMBER, top-level token."""
    host = world.users[meeting.host_id]
    obj = files.recording_json(world, meeting, instance, base, only)
    obj["host_email"] = host.email
    top = {"download_token": download_token} if download_token else {}
    return _envelope(name, host.account_id, obj, **top)


def deauthorized_event(user: User, client: OAuthClient, retention: bool) -> dict[str, Any]:
    """app_deauthorized has its own shape: no payload.object, event_ts inside the payload."""
    when = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    signature = hmac.new(client.client_secret.encode(),
                         f"{user.account_id}:{user.id}:{when}".encode(), hashlib.sha256).hexdigest()
    return {
        "event": "app_deauthorized",
        "payload": {
            "account_id": user.account_id,
            "user_id": user.id,
            "client_id": client.client_id,
            "deauthorization_time": when,
            "signature": signature,
            "event_ts": _ms(),
            "user_data_retention": retention,
        },
    }


# --- delivery ----------------------------------------------------------------------------------


@dataclass
class Delivery:
    id: int
    event: str
    request_id: str
    payload: dict[str, Any]
    created_at: float
    state: str = "pending"  # pending | delivered | dropped | no_endpoint | failed (validation)
    attempts: list = field(default_factory=list)
    task: asyncio.Task | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event, "request_id": self.request_id,
                "state": self.state, "created_at": self.created_at, "attempts": self.attempts,
                "payload": self.payload}


class WebhookDispatcher:
    def __init__(self, emulator: "Emulator"):
        self.em = emulator
        self.deliveries: list[Delivery] = []
        self._session: aiohttp.ClientSession | None = None

    @property
    def world(self) -> World:
        return self.em.world

    def reset(self) -> None:
        for d in self.deliveries:
            if d.task and not d.task.done():
                d.task.cancel()
        self.deliveries = []

    async def close(self) -> None:
        tasks = [d.task for d in self.deliveries if d.task and not d.task.done()]
        self.reset()
        await asyncio.gather(*tasks, return_exceptions=True)  # let the cancellations land
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "Zoom Marketplace/1.1a"})
        return self._session

    def _new(self, event: dict[str, Any]) -> Delivery:
        d = Delivery(len(self.deliveries) + 1, event["event"], secrets.token_urlsafe(16), event,
                     time.time())
        self.deliveries.append(d)
        return d

    def emit(self, event: dict[str, Any]) -> list[Delivery]:
        """Queue an event for delivery (twice when configured so); returns at once."""
        hook = self.world.webhook
        if hook.events is not None and event["event"] not in hook.events:
            return []
        made = []
        for _ in range(2 if event["event"] in hook.duplicate_events else 1):
            d = self._new(event)
            if not hook.url:
                d.state = "no_endpoint"
            elif hook.revalidation_failed and self.world.config.failed_revalidation_stops_events:
                d.state = "endpoint_not_validated"
            else:
                d.task = asyncio.get_running_loop().create_task(self._deliver(d))
            made.append(d)
        return made

    def emit_deauthorized(self, user: User, client: OAuthClient,
                          retention: bool = False) -> list[Delivery]:
        return self.emit(deauthorized_event(user, client, retention))

    def _timestamp(self) -> str:
        if self.world.config.webhook_timestamp_unit == "ms":
            return str(_ms())
        return str(int(time.time()))

    async def _attempt(self, d: Delivery, body: bytes, timestamp: str) -> tuple[dict, Any]:
        hook, config = self.world.webhook, self.world.config
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": sign(hook.secret, timestamp, body),
            "x-zm-request-id": d.request_id,
            "x-zm-trackingid": d.request_id,
        }
        started = time.monotonic()
        record: dict[str, Any] = {"attempt": len(d.attempts) + 1, "at": time.time(),
                                  "timestamp": timestamp, "status": None, "error": None}
        reply = None
        try:
            timeout = aiohttp.ClientTimeout(total=config.webhook_timeout)
            async with self._client().post(str(hook.url), data=body, headers=headers,
                                           timeout=timeout) as resp:
                raw = await resp.read()
                record["status"] = resp.status
                try:
                    reply = json.loads(raw) if raw else None
                except ValueError:
                    reply = None
        except asyncio.TimeoutError:
            record["error"] = f"no answer within {config.webhook_timeout:g} s"
        except aiohttp.ClientError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
        record["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
        record["ok"] = record["status"] is not None and 200 <= record["status"] < 300
        d.attempts.append(record)
        return record, reply

    async def _deliver(self, d: Delivery) -> None:
        body = encode(d.payload)
        first_ts = self._timestamp()
        delays = [0, *self.world.config.webhook_retry_delays]
        for n, delay in enumerate(delays):
            if delay:
                await asyncio.sleep(delay * self.world.config.time_factor)
            # Whether Zoom re-signs a retry is UNVERIFIED; the switch plays both.
            fresh = n > 0 and self.world.config.webhook_resign_retries
            record, _ = await self._attempt(d, body, self._timestamp() if fresh else first_ts)
            if record["ok"]:
                d.state = "delivered"
                return
        d.state = "dropped"

    async def validate(self) -> dict[str, Any]:
        """Send endpoint.url_validation once and check the answer, as Zoom does when saving."""
        plain = secrets.token_urlsafe(16)
        event = {"payload": {"plainToken": plain}, "event_ts": _ms(),
                 "event": "endpoint.url_validation"}
        d = self._new(event)
        hook = self.world.webhook
        result: dict[str, Any] = {"passed": False, "at": time.time(), "status": None,
                                  "reason": None, "delivery_id": d.id}
        if not hook.url:
            d.state = result["reason"] = "no_endpoint"
        else:
            record, reply = await self._attempt(d, encode(event), self._timestamp())
            expected = hmac.new(hook.secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
            result["status"] = record["status"]
            if record["status"] != 200:
                result["reason"] = record["error"] or f"HTTP {record['status']}, expected 200"
            elif not isinstance(reply, dict):
                result["reason"] = "response is not a JSON object"
            elif reply.get("plainToken") != plain:
                result["reason"] = "plainToken does not match"
            elif not hmac.compare_digest(str(reply.get("encryptedToken", "")), expected):
                result["reason"] = "encryptedToken is not HMAC-SHA256(secret, plainToken)"
            else:
                result["passed"] = True
            d.state = "delivered" if result["passed"] else "failed"
        hook.validation = result
        hook.validated_at = self.world.now()
        if result["passed"]:
            hook.revalidation_failed = False
        return result

    async def revalidate_if_due(self) -> dict[str, Any] | None:
        """Zoom re-validates a saved endpoint every 72 hours (docs/zoom.md#webhook-revalidation);
        the emulator does it whenever its clock has passed that mark. A failure stops events
        (switch `failed_revalidation_stops_events`) until a validation passes again."""
        hook = self.world.webhook
        if not hook.url:
            return None
        if hook.validated_at is None:
            hook.validated_at = self.world.started_at
        if self.world.now() - hook.validated_at < self.world.config.revalidate_every:
            return None
        result = await self.validate()
        hook.revalidation_failed = not result["passed"]
        return result

    async def settle(self, timeout: float = 30.0, only: list[Delivery] | None = None) -> bool:
        """Wait until the given (default: all) deliveries stopped retrying; False on timeout."""
        tasks = [d.task for d in (self.deliveries if only is None else only)
                 if d.task is not None and not d.task.done()]
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        return not pending
