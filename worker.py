"""Temporal worker: serves the `idi` task queue (`python worker.py`; make run starts it).

Workflows run in Temporal's sandbox; activities get the process's Services (database, Redis,
Zoom HTTP, cipher) injected, so nothing in them reaches for a global. At start-up it also makes
sure the token keep-alive Schedule exists and serves its own Prometheus metrics on
WORKER_METRICS_PORT (default 9464, 0 turns it off): the keep-alive sweep's metrics live here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta

from temporalio.worker import Worker

from services import Services
from workflows.contract import TASK_QUEUE
from settings import ConfigError, load_settings
from metrics import serve_worker_metrics, worker_metrics_port
from temporal_setup import (
    ensure_inbox_retention_schedule,
    ensure_search_attributes,
    ensure_token_refresh_schedule,
)

# On shutdown, running activities get this long to finish before they are cancelled: enough for
# a token refresh in flight (two token calls of 15 s) to save what Zoom rotated.
GRACEFUL_SHUTDOWN = timedelta(seconds=30)


def workflows() -> list[type]:
    """Every workflow this worker runs."""
    from workflows.booking import IdiBookingWorkflow
    from workflows.inbox_retention import InboxRetentionWorkflow
    from workflows.token_refresh import TokenRefreshWorkflow

    return [IdiBookingWorkflow, TokenRefreshWorkflow, InboxRetentionWorkflow]


def build_worker(client, services: Services, task_queue: str = TASK_QUEUE, **options) -> Worker:
    from activities import build_activities

    options.setdefault("graceful_shutdown_timeout", GRACEFUL_SHUTDOWN)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows(),
        activities=build_activities(services),
        **options,
    )


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    metrics_port = worker_metrics_port()
    services = Services.from_settings(settings)
    await services.wait_for_dependencies(temporal=True)
    client = await services.temporal()
    await ensure_search_attributes(client)
    await ensure_token_refresh_schedule(client)
    await ensure_inbox_retention_schedule(client)
    serve_worker_metrics(metrics_port)
    worker = build_worker(client, services)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.getLogger("worker").info("worker serving task queue %r", TASK_QUEUE)
    async with worker:
        await stop.wait()
    await services.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
