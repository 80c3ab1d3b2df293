"""Postgres and Temporal restarted mid-flow (issue 16 item 8), on servers this test owns (never the
machine's): webhooks that come while the database is down are answered 5xx, so Zoom sends them
again, and none is lost; the API and the worker reconnect by themselves; bookings go on."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import httpx

from api.webhooks.intake import inbox_sweeper
from devstack import EmbeddedServices, free_port, split_address
from models.migrate import migrate
from services import Services
from tests.bookings.helpers import book, future, new_org_with_session, new_system_host, settled, until
from tests.helpers import Api, make_settings, zoom_env
from tests.recordings.helpers import webhooks_to
from worker import build_worker


async def test_postgres_and_temporal_restarts_lose_nothing(base_env, emulator):
    folder = Path(tempfile.mkdtemp(prefix="converge-outage-"))
    own = EmbeddedServices(folder, say=lambda m: None)
    try:
        database_url = own.postgres("converge")
        pg_port = split_address(database_url.split("@", 1)[1].split("/", 1)[0])[1]
        temporal_address = own.temporal(f"127.0.0.1:{free_port()}", free_port())
        await migrate(database_url)
        settings = make_settings({**base_env, **zoom_env(emulator), "DATABASE_URL": database_url,
                                  "ZOOM_SYSTEM_HOSTS": f"{await new_system_host(emulator)}:5"},
                                 TEMPORAL_ADDRESS=temporal_address)
        services = Services.from_settings(settings)
        await services.wait_for_dependencies(temporal=True)
        from aiohttp import web

        from api.app import create_app

        app = create_app(services)
        app.cleanup_ctx.append(inbox_sweeper)  # as `python -m api` runs it
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}"
        await emulator.control.config(time_factor=0.01)  # Zoom retries a webhook after 3 s, 12 s, 36 s
        try:
            async with httpx.AsyncClient(base_url=url, timeout=30) as http, webhooks_to(emulator, url), \
                    build_worker(await services.temporal(), services):
                api = Api(url, http, services)
                org_id, headers, session_id = await new_org_with_session(api, "Outage Research")
                first = await settled(api, org_id, headers,
                                      (await book(api, org_id, headers, session_id, future(hours=2)))["id"])
                assert first["status"] == "scheduled", first
                meeting = int(first["meeting"]["zoom_meeting_id"])

                # Postgres down: the webhook is refused with a 5xx; Zoom sends it again later.
                own.stop_one("postgres")
                await emulator.control.start_meeting(meeting)
                await emulator.control.end_meeting(meeting)
                refused = await until(lambda: _answered(emulator, meeting, lambda s: s >= 500),
                                      timeout=30, what="a 5xx to meeting.ended")
                assert refused
                own.postgres("converge", port=pg_port)
                ended = await settled(api, org_id, headers, first["id"],
                                      until=lambda b: b["status"] == "ended", timeout=60)
                assert ended["status"] == "ended", ended  # the retried webhooks were applied

                # Temporal down: webhooks are still stored and answered 200; the inbox sweeper
                # delivers them once Temporal is back, and the worker and the API reconnect.
                second = await settled(api, org_id, headers,
                                       (await book(api, org_id, headers, session_id, future(hours=3)))["id"])
                assert second["status"] == "scheduled", second
                meeting = int(second["meeting"]["zoom_meeting_id"])
                own.stop_one("temporal")
                await emulator.control.start_meeting(meeting)
                await emulator.control.end_meeting(meeting)
                assert await until(lambda: _answered(emulator, meeting, lambda s: s == 200),
                                   timeout=30, what="meeting.ended answered while Temporal is down")
                own.temporal(temporal_address, free_port())
                ended = await settled(api, org_id, headers, second["id"],
                                      until=lambda b: b["status"] == "ended", timeout=60)
                assert ended["status"] == "ended", ended
                third = await settled(api, org_id, headers,
                                      (await book(api, org_id, headers, session_id, future(hours=4)))["id"])
                assert third["status"] == "scheduled", third
        finally:
            await emulator.control.config(time_factor=0.001)
            await runner.cleanup()
            await services.close()
    finally:
        own.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def _answered(emulator, meeting: int, ok) -> bool:
    """Whether the API answered meeting.ended of this meeting with a status `ok` accepts."""
    for d in await emulator.control.deliveries("meeting.ended"):
        if str(d["payload"].get("payload", {}).get("object", {}).get("id")) != str(meeting):
            continue
        if any(isinstance(a.get("status"), int) and ok(a["status"]) for a in d["attempts"]):
            return True
    return False
