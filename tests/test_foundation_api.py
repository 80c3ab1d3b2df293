"""The API skeleton: health, error format, org creation and isolation, OpenAPI, metrics."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
from sqlmodel import select

from models import Organization


async def test_healthz_reports_each_dependency(api, temporal_env):
    from worker import build_worker

    async with build_worker(temporal_env.client, api.services, task_queue=api.services.task_queue):
        for _ in range(50):  # until the worker's first poll has reached the server
            r = await api.http.get("/healthz")
            if r.status_code == 200:
                break
            await asyncio.sleep(0.1)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "temporal": "ok",
                                                   "worker": "ok"}}


async def test_healthz_names_the_worker_when_nobody_polls_the_booking_queue(services, temporal_env):
    import uuid

    from tests.helpers import start_api
    from worker import build_worker

    lonely = type(services)(**{**services.__dict__, "task_queue": f"idi-{uuid.uuid4().hex[:8]}"})
    runner, url = await start_api(lonely)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            r = await c.get("/healthz")
            assert r.status_code == 503 and r.json()["checks"]["worker"] == "down: NoWorker", r.text
            async with build_worker(temporal_env.client, lonely, task_queue=lonely.task_queue):
                for _ in range(50):  # the worker's first poll reaches the server within moments
                    r = await c.get("/healthz")
                    if r.status_code == 200:
                        break
                    await asyncio.sleep(0.1)
        assert r.status_code == 200 and r.json()["checks"]["worker"] == "ok", r.text
    finally:
        await runner.cleanup()


async def test_healthz_names_the_dependency_that_is_down(services):
    import redis.asyncio as redis

    from tests.helpers import start_api

    broken = type(services)(**{**services.__dict__, "redis": redis.from_url("redis://127.0.0.1:1/0")})
    runner, url = await start_api(broken)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            r = await c.get("/healthz")
        assert r.status_code == 503
        checks = r.json()["checks"]
        assert checks["redis"].startswith("down")
        assert checks["database"] == "ok" and checks["temporal"] == "ok"
    finally:
        await runner.cleanup()
        await broken.redis.aclose()


async def test_create_org_returns_key_once_and_stores_only_its_hash(api):
    org_id, headers = await api.new_org("Key Check Ltd")
    key = headers["Authorization"].split()[1]
    async with api.services.db.session() as s:
        org = (await s.exec(select(Organization).where(Organization.id == org_id))).one()
    assert org.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in org.api_key_hash


async def test_create_org_needs_the_admin_key(api):
    r = await api.http.post("/v1/orgs", json={"name": "x"}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    r = await api.http.post("/v1/orgs", json={"name": "x"})
    assert r.status_code == 401


async def test_bad_org_body_gets_specific_error_and_creates_nothing(api):
    admin = {"Authorization": f"Bearer {api.services.settings.admin_api_key}"}
    async with api.services.db.session() as s:
        before = len((await s.exec(select(Organization))).all())
    r = await api.http.post("/v1/orgs", json={"name": "   "}, headers=admin)
    assert r.status_code == 400
    assert r.json()["error"] == {"code": "invalid_request", "message": "name: must not be blank"}
    r = await api.http.post("/v1/orgs", content=b"{not json", headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = await api.http.post("/v1/orgs", content=b"name=x", headers={**admin, "Content-Type": "text/plain"})
    assert r.status_code == 415
    async with api.services.db.session() as s:
        assert len((await s.exec(select(Organization))).all()) == before


async def test_unknown_route_and_method_use_the_error_format(api):
    r = await api.http.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await api.http.delete("/healthz")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_oversized_body_is_refused(api):
    admin = {"Authorization": f"Bearer {api.services.settings.admin_api_key}"}
    r = await api.http.post("/v1/orgs", content=b'{"name":"' + b"a" * (2 * 1024 * 1024) + b'"}',
                            headers={**admin, "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"


async def test_openapi_lists_exactly_the_routes_the_app_serves(api):
    from api.app import create_app

    spec = (await api.http.get("/openapi.json")).json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    app = create_app(api.services)
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    assert documented == served
    assert ("POST", "/v1/orgs") in served


async def test_metrics_are_prometheus_text(api):
    r = await api.http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert "python_info" in r.text


async def test_metrics_report_the_inbox_backlog_and_bookings_by_status(api):
    r = await api.http.get("/metrics")
    assert r.status_code == 200
    for name in ("converge_inbox_pending", "converge_inbox_oldest_pending_seconds",
                 "converge_http_request_seconds_bucket", "converge_webhooks_total"):
        assert name in r.text, name
