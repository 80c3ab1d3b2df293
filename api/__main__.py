"""Run the API: `python -m api` (make run starts it for you)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

from aiohttp import web

from api.app import create_app
from api.booking_reconciler import booking_reconciler, orphan_sweeper
from api.webhooks.intake import inbox_sweeper
from services import Services
from settings import ConfigError, load_settings


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings()
    services = Services.from_settings(settings)
    await services.wait_for_dependencies(temporal=False)
    await services.db.fill_pool()
    app = create_app(services)
    # Webhook events Temporal could not take when they came are delivered from here.
    app.cleanup_ctx.append(inbox_sweeper)
    # Bookings a dying API process stored but never started get their workflow from here.
    app.cleanup_ctx.append(booking_reconciler)
    # A second Zoom meeting a losing create could not delete is deleted from here.
    app.cleanup_ctx.append(orphan_sweeper)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # API_REUSE_PORT: several API processes listen on one port and the kernel spreads the
    # connections between them (docs/architecture.md#scale-out).
    extra = {"reuse_port": True} if settings.api_reuse_port else {}
    site = web.TCPSite(runner, settings.api_host, settings.port, **extra)
    await site.start()
    # What start-up made (modules, routes, the ORM's tables) lives as long as the process: out of
    # the collector's reach, a full collection no longer walks it, which otherwise stalled every
    # request in flight for tens of milliseconds now and then (bench/README.md, "Where the time goes").
    gc.freeze()
    logging.getLogger("api").info("API listening on %s port %s", settings.api_host, settings.port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await services.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    except KeyboardInterrupt:
        pass
