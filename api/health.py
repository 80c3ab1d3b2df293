"""Liveness of each dependency, the OpenAPI document and Prometheus metrics."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from api.context import SERVICES
from api.openapi import build_spec, documented
from metrics import API_REGISTRY, BOOKINGS, INBOX_OLDEST_PENDING_SECONDS, INBOX_PENDING, ORG_FALLBACKS

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from services import Services

routes = web.RouteTableDef()
CHECK_TIMEOUT = 2.0
# A live worker long-polls its task queue about once a minute; one not seen for longer than
# WORKER_POLLER_FRESH_SECONDS (default 2 minutes) is frozen or dead, and bookings would sit in
# `scheduling` with nobody to run them.


class HealthOut(BaseModel):
    """ok (200) or degraded (503); each check is ok or "down: <what failed>"."""

    status: Literal["ok", "degraded"]
    checks: dict[str, str]


async def _check(coro) -> str:
    try:
        await asyncio.wait_for(coro, CHECK_TIMEOUT)
        return "ok"
    except Exception as exc:  # the name of the failure is enough; details go to the log
        return f"down: {type(exc).__name__}"


async def _temporal_ok(services: Services) -> None:
    client = await services.temporal()
    await client.service_client.check_health()


class NoWorker(Exception):
    """No worker has polled the booking task queue recently."""


async def _worker_ok(services: Services) -> None:
    client = await services.temporal()
    described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=services.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    now = datetime.now(timezone.utc)
    fresh = timedelta(seconds=services.settings.worker_poller_fresh_seconds)
    if not any(now - p.last_access_time.ToDatetime(tzinfo=timezone.utc) < fresh
               for p in described.pollers):
        raise NoWorker()


@routes.get("/healthz")
@documented("Health of the database, Redis, Temporal and the worker (a live poller on the booking "
            "task queue); 503 names the one that is down",
            auth="none", response=HealthOut, responses={503: HealthOut})
async def healthz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    db, rd, tp, wk = await asyncio.gather(
        _check(services.db.ping()), _check(services.redis.ping()), _check(_temporal_ok(services)),
        _check(_worker_ok(services)),
    )
    checks = {"database": db, "redis": rd, "temporal": tp, "worker": wk}
    ok = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ok" if ok else "degraded", "checks": checks}, status=200 if ok else 503)


@routes.get("/openapi.json")
@documented("This document", auth="none")
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app))


_STATE_QUERIES = (
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0) "
    "FROM webhook_events WHERE route_status = 'pending'",
    "SELECT status, count(*) FROM bookings GROUP BY status",
    "SELECT host_kind, coalesce(fallback_reason, ''), count(*) FROM meetings GROUP BY 1, 2",
)


async def _set_state_gauges(services: Services) -> None:
    """The gauges read from the database (inbox backlog, bookings by status, hosts) at scrape time,
    so every API replica reports the same numbers without a background job."""
    async with services.db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        pending, oldest = await driver.fetchrow(_STATE_QUERIES[0])
        statuses = await driver.fetch(_STATE_QUERIES[1])
        hosts = await driver.fetch(_STATE_QUERIES[2])
    INBOX_PENDING.set(pending)
    INBOX_OLDEST_PENDING_SECONDS.set(float(oldest))
    BOOKINGS.clear()
    for status, n in statuses:
        BOOKINGS.labels(status).set(n)
    ORG_FALLBACKS.clear()
    for kind, reason, n in hosts:
        ORG_FALLBACKS.labels(kind, reason).set(n)


@routes.get("/metrics")
@documented("Prometheus metrics of the API process (the worker serves its own on WORKER_METRICS_PORT)",
            auth="none", content_type="text/plain")
async def metrics(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(_set_state_gauges(request.app[SERVICES]), CHECK_TIMEOUT)
    except Exception:  # a database away must not take the counters with it
        pass
    return web.Response(body=generate_latest(API_REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})
