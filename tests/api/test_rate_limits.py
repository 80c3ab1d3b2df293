"""Per-org and per-IP limits in Redis: 429 with Retry-After and the error shape, nothing stored."""

from __future__ import annotations

import dataclasses

import httpx
from sqlmodel import func, select

from models import IdiSession
from tests.helpers import _hidden, start_api


async def limited_api(api, **limits):
    services = dataclasses.replace(api.services, settings=api.services.settings.model_copy(update=limits))
    return await start_api(services)


async def sessions_of(services, org_id: str) -> int:
    async with services.db.session() as s:
        return (await s.exec(select(func.count()).select_from(IdiSession)
                             .where(IdiSession.org_id == org_id))).one()


async def test_mutating_requests_per_org_get_429_with_retry_after(api):
    org_id, headers = await api.new_org("Busy Org")
    other_id, other_headers = await api.new_org("Quiet Org")
    runner, url = await limited_api(api, rate_limit_org_per_minute=2, rate_limit_ip_per_minute=1000)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            body = {"title": "Study", "kind": "idi", "meeting_provider": "zoom_app"}
            answers = [await c.post(f"/v1/orgs/{org_id}/sessions", headers=headers, json=body) for _ in range(3)]
            other = await c.post(f"/v1/orgs/{other_id}/sessions", headers=other_headers, json=body)
            read = await c.get(f"/v1/orgs/{org_id}/sessions", headers=headers)
    finally:
        await runner.cleanup()
    assert [a.status_code for a in answers] in ([201, 201, 429], [201, 429, 429])  # a window edge
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
    assert await sessions_of(api.services, org_id) == sum(a.status_code == 201 for a in answers)
    assert other.status_code == 201 and read.status_code == 200  # another org, and reads, go on


async def test_mutating_requests_per_ip_are_limited_too(api):
    org_id, headers = await api.new_org("One Laptop Org")
    runner, url = await limited_api(api, rate_limit_org_per_minute=1000, rate_limit_ip_per_minute=1)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            body = {"title": "Study"}
            answers = [await c.post(f"/v1/orgs/{org_id}/sessions", headers=headers, json=body) for _ in range(3)]
    finally:
        await runner.cleanup()
    assert answers[-1].status_code == 429 and "address" in answers[-1].json()["error"]["message"]


async def test_sign_in_attempts_per_ip_are_limited(api):
    # Earlier tests signed in from 127.0.0.1 within this minute's window: start from a fresh count.
    async for key in api.services.redis.scan_iter(match="ratelimit:signin-ip:*"):
        await api.services.redis.delete(key)
    runner, url = await limited_api(api, rate_limit_signin_per_ip=2)
    try:
        async with httpx.AsyncClient(base_url=url) as c:
            statuses = []
            for _ in range(4):
                page = await c.get("/signin")
                r = await c.post("/signin", data={"csrf_token": _hidden(page.text, "csrf_token"),
                                                  "api_key": "cvg_guess", "next": "/sessions"})
                statuses.append(r.status_code)
            assert r.headers.get("Retry-After") and r.json()["error"]["code"] == "rate_limited"
    finally:
        await runner.cleanup()
    assert statuses[0] == 401 and statuses[-1] == 429
