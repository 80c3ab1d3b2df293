"""Token refresh: many callers needing one org's token, and the keep-alive sweep over many orgs.

1. 200 concurrent callers of `services.tokens.org_access_token` for one connection whose access
   token is due: time until all are served, and the refresh requests Zoom (the emulator) saw,
   which must be exactly 1 (docs/promises.md#3-one-refresh-and-a-rotated-pair-is-never-lost). Baselines: the same 200 callers when the token is fresh
   (read + decrypt only), and one caller doing the refresh alone.
2. The keep-alive sweep (TokenRefreshWorkflow through a real worker and its activities) over
   10,000 connections, a quarter of them (2,500) due: idle past IDLE_REFRESH_AFTER (30 days;
   the other kind of due connection, a token expiring with a call due, costs the same per
   refresh). The rest hold tokens expiring later in the hour and book nothing, so the sweep
   leaves them alone. The rows are inserted directly with tokens encrypted by
   services.cipher; each due row holds a real grant at the emulator (one Zoom user and one
   authorization each, made beforehand and not timed), so every refresh is a real rotation; the
   others are never sent to Zoom. The time for all 10,000 due at once (after an outage) is
   derived from the measured rate and labelled so. Baseline: the same refreshes sent straight
   to the emulator's token endpoint with the sweep's concurrency, using the refresh tokens the
   sweep stored (which also proves it stored working ones).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from bench import cpu
from bench.harness import Row

NAME = "refresh"
CALLERS = 200
SWEEP_CONNECTIONS = 10_000
QUICK_CALLERS = 20
QUICK_SWEEP_CONNECTIONS = 400
# The share of connections the sweep must refresh (idle past IDLE_REFRESH_AFTER).
DUE_FRACTION = 0.25
SETUP_CONCURRENCY = 32


async def _refreshes(emu) -> int:
    return (await emu.control.stats())["token_requests"].get("refresh_token", 0)


async def _due(services, connection_ids: list[str]) -> None:
    from models import ZoomConnection, utcnow

    async with services.db.session() as s:
        await s.exec(update(ZoomConnection).where(col(ZoomConnection.id).in_(connection_ids))
                     .values(access_expires_at=utcnow() - timedelta(minutes=1)))
        await s.commit()


async def _connect_one(stack, org: tuple[str, dict] | None = None) -> str:
    """One org (`org`, default a new one) connected through the real connect flow; its connection id."""
    from connections.connect import finish_connect, start_connect

    emu, services = stack.emulator, stack.services
    email = f"bench-{uuid.uuid4().hex[:8]}@globex.test"
    await emu.control.create_user(email, account_id="emu-globex", type=2)
    org_id, _ = org or await stack.admin_org(f"Refresh Org {email}")
    location = await emu.control.authorize(await start_connect(services, org_id), email)
    query = parse_qs(urlsplit(location).query)
    row = await finish_connect(services, state=query["state"][0], code=query["code"][0], error=None, org_id=org_id)
    return row.id


async def _callers(services, connection_id: str, n: int) -> float:
    started = time.perf_counter()
    tokens = await asyncio.gather(*(services.tokens.org_access_token(connection_id) for _ in range(n)))
    elapsed = time.perf_counter() - started
    if len(set(tokens)) != 1:
        raise RuntimeError(f"{n} callers got {len(set(tokens))} different tokens")
    return elapsed


async def concurrent_callers(stack, n: int) -> list[Row]:
    services, emu = stack.services, stack.emulator
    connection_id = await _connect_one(stack)
    fresh = await _callers(services, connection_id, n)  # fresh token: no refresh

    await _due(services, [connection_id])
    before = await _refreshes(emu)
    single = await _callers(services, connection_id, 1)

    await _due(services, [connection_id])
    mid = await _refreshes(emu)
    contended = await _callers(services, connection_id, n)
    refreshes = await _refreshes(emu) - mid
    if mid - before != 1:
        raise RuntimeError(f"one caller caused {mid - before} refreshes")
    note = "promise 3: must be 1" if refreshes == 1 else f"VIOLATION: expected 1, got {refreshes}"
    return [
        Row(NAME, f"{n} concurrent callers, token due: all served", contended * 1000, "ms",
            fresh * 1000, f"{n} callers, token fresh"),
        Row(NAME, "1 caller, token due: served", single * 1000, "ms"),
        Row(NAME, f"refresh requests at Zoom for those {n} callers", refreshes, "", note=note),
    ]


# --- the sweep ---------------------------------------------------------------------------------


async def _grants(emu, n: int) -> list[dict]:
    """`n` Zoom users of a fresh account, each authorized once: their token responses.

    Straight HTTP with aiohttp rather than the emulator's ControlClient: 30,000 set-up requests
    must not dominate the run (httpx costs several times aiohttp per request here)."""
    import aiohttp

    from zoom_emulator.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URI

    tag = uuid.uuid4().hex[:8]
    account = f"bench-sweep-{tag}"
    await emu.control.create_account(account, plan="business")
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)
    base = emu.base_url
    client_auth = aiohttp.BasicAuth(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)

    async def one(http: aiohttp.ClientSession, i: int) -> dict:
        email = f"u{i}-{tag}@sweep.test"
        async with gate:
            async with http.post(f"{base}/_emulator/users", json={
                    "email": email, "account_id": account, "type": 2}) as r:
                r.raise_for_status()
            async with http.get(f"{base}/oauth/authorize", allow_redirects=False, params={
                    "response_type": "code", "client_id": DEFAULT_CLIENT_ID,
                    "redirect_uri": DEFAULT_REDIRECT_URI, "login_hint": email,
                    "auto": "allow"}) as r:
                code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
            async with http.post(f"{base}/oauth/token", auth=client_auth, data={
                    "grant_type": "authorization_code", "code": code,
                    "redirect_uri": DEFAULT_REDIRECT_URI}) as r:
                r.raise_for_status()
                token = await r.json()
        return {"email": email, **token}

    connector = aiohttp.TCPConnector(limit=SETUP_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        return await asyncio.gather(*(one(http, i) for i in range(n)))


async def _insert_connections(services, grants: list[dict], not_due: int = 0) -> list[str]:
    """One org and one due connection per grant, tokens encrypted as the service stores them,
    plus `not_due` connections whose tokens expire later in the hour (never sent to Zoom);
    returns the due connections' ids."""
    import secrets

    from activities.token_refresh import IDLE_REFRESH_AFTER
    from models import Organization, ZoomConnection, new_id, utcnow
    from connections.tokens import ACCESS_FIELD, REFRESH_FIELD, TABLE

    now = utcnow()
    orgs, conns = [], []
    spare = [{"email": f"idle-{i}@sweep.test", "access_token": secrets.token_urlsafe(32),
              "refresh_token": secrets.token_urlsafe(32),
              # From 20 minutes on: still not due when the last page of a slow sweep is read.
              "expires_at": now + timedelta(minutes=20 + 40 * i / max(not_due, 1))}
             for i in range(not_due)]
    for g in [*grants, *spare]:
        org_id, conn_id = new_id(), new_id()
        orgs.append({"id": org_id, "name": f"Sweep {g['email']}", "api_key_hash": new_id() + new_id(),
                     "created_at": now})
        enc = services.cipher.encrypt
        conns.append({
            "id": conn_id, "org_id": org_id, "zoom_user_id": g["email"],
            "zoom_account_id": "bench-sweep", "zoom_user_name": "Sweep User", "zoom_email": g["email"],
            "zoom_user_type": 2, "scopes": g.get("scope", ""), "status": "active", "warnings": [],
            "access_token_enc": enc(g["access_token"], table=TABLE, row_id=conn_id, field=ACCESS_FIELD),
            "refresh_token_enc": enc(g["refresh_token"], table=TABLE, row_id=conn_id, field=REFRESH_FIELD),
            # Due (a grant): idle past IDLE_REFRESH_AFTER, so the keep-alive refreshes it.
            "access_expires_at": g.get("expires_at") or now + timedelta(minutes=1), "token_version": 0,
            "consecutive_failures": 0,
            "connected_at": now if "expires_at" in g else now - IDLE_REFRESH_AFTER - timedelta(days=1),
        })
    async with services.db.engine.begin() as conn:
        for i in range(0, len(orgs), 1000):
            await conn.execute(Organization.__table__.insert(), orgs[i:i + 1000])
            await conn.execute(ZoomConnection.__table__.insert(), conns[i:i + 1000])
    return [c["id"] for c in conns[:len(grants)]]


async def _run_sweep(stack) -> tuple[float, object]:
    from temporalio.worker import Worker

    from activities.token_refresh import TokenRefreshActivities
    from workflows.token_refresh import TokenRefreshWorkflow, TokenSweep

    queue = f"bench-sweep-{uuid.uuid4().hex[:8]}"
    acts = TokenRefreshActivities(stack.services)
    async with Worker(stack.client, task_queue=queue, workflows=[TokenRefreshWorkflow],
                      activities=[acts.refresh_due_connections, acts.report_token_sweep]):
        started = time.perf_counter()
        result = await stack.client.execute_workflow(
            TokenRefreshWorkflow.run, TokenSweep(), id=queue, task_queue=queue)
        return time.perf_counter() - started, result


async def _direct_refreshes(stack, connection_ids: list[str], concurrency: int) -> float:
    """The floor: each stored refresh token sent straight to Zoom's token endpoint."""
    from models import ZoomConnection
    from connections.tokens import REFRESH_FIELD, TABLE

    services = stack.services
    async with services.db.session() as s:
        rows = (await s.exec(select(ZoomConnection.id, ZoomConnection.refresh_token_enc)
                             .where(col(ZoomConnection.id).in_(connection_ids)))).all()
    tokens = [services.cipher.decrypt(enc, table=TABLE, row_id=cid, field=REFRESH_FIELD)
              for cid, enc in rows]
    settings = services.settings
    gate = asyncio.Semaphore(concurrency)
    failures = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        async def one(token: str) -> None:
            nonlocal failures
            async with gate:
                r = await http.post(f"{settings.zoom_oauth_base_url}/oauth/token",
                                    auth=(settings.zoom_client_id, settings.zoom_client_secret),
                                    data={"grant_type": "refresh_token", "refresh_token": token})
            failures += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(one(t) for t in tokens))
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{failures} of the sweep's stored refresh tokens were refused by Zoom")
    return elapsed


async def sweep(stack, n: int) -> list[Row]:
    from activities.token_refresh import CONCURRENCY

    emu = stack.emulator
    due = int(n * DUE_FRACTION)
    setup = time.perf_counter()
    grants = await _grants(emu, due)
    ids = await _insert_connections(stack.services, grants, not_due=n - due)
    setup = time.perf_counter() - setup
    before = await _refreshes(emu)
    a = cpu.snapshot()
    seconds, result = await _run_sweep(stack)
    used = cpu.used(a, cpu.snapshot())
    refreshed = result.outcomes.get("refreshed", 0)
    at_zoom = await _refreshes(emu) - before
    if refreshed != due or at_zoom != due:
        raise RuntimeError(f"the sweep refreshed {refreshed} ({at_zoom} at Zoom) of {due} due: "
                           f"{result.outcomes}")
    a = cpu.snapshot()
    direct = await _direct_refreshes(stack, ids, CONCURRENCY)
    direct_used = cpu.used(a, cpu.snapshot())
    label = f"direct refreshes at Zoom, concurrency {CONCURRENCY}"
    return [
        Row(NAME, f"keep-alive sweep over {n:,} connections, {due:,} due", seconds, "s", direct,
            label, note=f"{result.pages} pages, {result.runs} runs; set-up {setup:.0f}s not timed"),
        Row(NAME, "keep-alive sweep: refreshes per second", due / seconds, "/s", due / direct, label),
        Row(NAME, "keep-alive sweep: worker CPU per refresh", used.get("bench", 0) / due * 1000, "ms",
            direct_used.get("bench", 0) / due * 1000, label, note="goal 1.5x or less"),
        Row(NAME, f"derived: all {n:,} due at once (after an outage)", n / (due / seconds), "s",
            n / (due / direct), label, note="measured rate x count, not run"),
    ]


async def run(stack, quick: bool) -> list[Row]:
    rows = await concurrent_callers(stack, QUICK_CALLERS if quick else CALLERS)
    rows += await sweep(stack, QUICK_SWEEP_CONNECTIONS if quick else SWEEP_CONNECTIONS)
    return rows
