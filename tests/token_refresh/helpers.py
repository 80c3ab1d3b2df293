"""Steps the keep-alive tests share: orgs, emulator users, real connections, running one sweep."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from datetime import timedelta
from functools import partial
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, update
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Worker

from activities.token_refresh import IDLE_REFRESH_AFTER, TokenRefreshActivities
from bench.cadence import book
from models import Organization, ZoomConnection, new_id, utcnow
from workflows.token_refresh import TokenRefreshWorkflow, TokenSweep, TokenSweepResult
from connections.connect import finish_connect, start_connect


async def new_org(svc, name: str = "Keepalive Research") -> str:
    org = Organization(name=name, api_key_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest())
    async with svc.db.session() as s:
        s.add(org)
        await s.commit()
    return org.id


async def zoom_users(emulator, n: int) -> list[str]:
    """`n` fresh licensed users in a fresh emulator account: Zoom keeps one grant per user and
    app, so every connection needs a Zoom user of its own."""
    tag = uuid.uuid4().hex[:8]
    account = f"keepalive-{tag}"
    await emulator.control.create_account(account, plan="business")
    emails = [f"host{i}-{tag}@keepalive.test" for i in range(n)]
    for email in emails:
        await emulator.control.create_user(email, account_id=account, type=2)
    return emails


async def connect(svc, emulator, org_id: str, email: str) -> ZoomConnection:
    """The real connect flow (authorize URL, consent at the emulator, callback handling)."""
    location = await emulator.control.authorize(await start_connect(svc, org_id), email)
    query = parse_qs(urlsplit(location).query)
    return await finish_connect(svc, state=query["state"][0], code=query["code"][0], error=None, org_id=org_id)


async def connected(svc, emulator, n: int) -> list[ZoomConnection]:
    rows = []
    for email in await zoom_users(emulator, n):
        rows.append(await connect(svc, emulator, await new_org(svc), email))
    return rows


async def row(svc, connection_id: str) -> ZoomConnection:
    async with svc.db.session() as s:
        return (await s.exec(select(ZoomConnection).where(ZoomConnection.id == connection_id))).one()


async def set_row(svc, connection_id: str, **values) -> None:
    async with svc.db.session() as s:
        await s.exec(update(ZoomConnection).where(ZoomConnection.id == connection_id).values(**values))
        await s.commit()


async def refresh_requests(emulator) -> int:
    """Refresh-token requests the emulator has received so far (faulted ones included)."""
    return (await emulator.control.stats())["token_requests"].get("refresh_token", 0)


def keepalive_worker(svc, client: Client, task_queue: str) -> Worker:
    acts = TokenRefreshActivities(svc)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[TokenRefreshWorkflow],
        activities=[acts.refresh_due_connections, acts.report_token_sweep],
    )


async def start_sweep(client: Client, task_queue: str, sweep: TokenSweep | None = None):
    return await client.start_workflow(
        TokenRefreshWorkflow.run,
        sweep or TokenSweep(),
        id=f"zoom-token-refresh-test-{uuid.uuid4().hex}",
        task_queue=task_queue,
    )


async def run_sweep(svc, client: Client, sweep: TokenSweep | None = None) -> tuple[TokenSweepResult, list[WorkflowHistory]]:
    """One whole sweep through the real workflow and activities; its result and every run's history."""
    tq = f"keepalive-{uuid.uuid4().hex}"
    async with keepalive_worker(svc, client, tq):
        handle = await start_sweep(client, tq, sweep)
        result = await handle.result()
    return result, await histories(client, handle)


async def histories(client: Client, handle) -> list[WorkflowHistory]:
    """Every run's history of a continue-as-new chain, first run first."""
    found = []
    run_id = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        found.append(history)
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    return found


async def idle(svc, connection_id: str) -> None:
    """Make the connection idle long enough for the keep-alive to refresh it."""
    long_ago = utcnow() - IDLE_REFRESH_AFTER - timedelta(days=1)
    await set_row(svc, connection_id, last_refreshed_at=long_ago, connected_at=long_ago)


async def call_soon(svc, connection: ZoomConnection, starts_in: timedelta = timedelta(minutes=30)) -> str:
    """A scheduled interview of the connection's org, due within the hour: the keep-alive keeps
    this connection's token fresh. The booking id."""
    return await book(svc, connection.org_id, starts_in=starts_in)


async def insert_connections(svc, n: int, *, expires_in: timedelta, emulator=None,
                             idle_for: timedelta | None = None) -> list[str]:
    """`n` orgs with a connection each, written straight to the database (the connect flow costs
    tens of ms apiece here). With `emulator`, each holds a live grant of a Zoom user of its own;
    without, tokens Zoom never issued (fine for connections the sweep must not touch). With
    `idle_for`, last refreshed that long ago."""
    if emulator is not None:
        emails = await zoom_users_bulk(emulator, n)
        gate = asyncio.Semaphore(20)

        async def grant(email: str) -> dict:
            async with gate:
                return await emulator.control.user_token(email)

        tokens = await asyncio.gather(*(grant(e) for e in emails))
    else:
        emails = [f"idle{i}-{uuid.uuid4().hex[:8]}@keepalive.test" for i in range(n)]
        tokens = [{"access_token": secrets.token_urlsafe(32), "refresh_token": secrets.token_urlsafe(32)}
                  for _ in emails]
    now = utcnow()
    orgs, rows = [], []
    for email, t in zip(emails, tokens):
        org = Organization(name=f"Org {email}", api_key_hash=hashlib.sha256(email.encode()).hexdigest())
        conn_id = new_id()
        enc = partial(svc.cipher.encrypt, table="zoom_connections", row_id=conn_id)
        orgs.append(org)
        rows.append(ZoomConnection(
            id=conn_id, org_id=org.id, zoom_user_id=email, zoom_account_id="keepalive",
            zoom_email=email, access_token_enc=enc(t["access_token"], field="access_token_enc"),
            refresh_token_enc=enc(t["refresh_token"], field="refresh_token_enc"),
            access_expires_at=now + expires_in, token_version=1, connected_at=now - (idle_for or timedelta()),
            last_refreshed_at=now - (idle_for or timedelta()),
        ))
    async with svc.db.session() as s:
        s.add_all(orgs)
        await s.flush()
        s.add_all(rows)
        await s.commit()
    return [r.id for r in rows]


async def zoom_users_bulk(emulator, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    account = f"keepalive-bulk-{tag}"
    await emulator.control.create_account(account, plan="business")
    emails = [f"bulk{i}-{tag}@keepalive.test" for i in range(n)]
    gate = asyncio.Semaphore(20)

    async def create(email: str) -> None:
        async with gate:
            await emulator.control.create_user(email, account_id=account)

    await asyncio.gather(*(create(e) for e in emails))
    return emails


async def versions(svc, ids: list[str]) -> dict[int, int]:
    """token_version -> how many of `ids` have it."""
    async with svc.db.session() as s:
        return dict((await s.exec(
            select(ZoomConnection.token_version, func.count())
            .where(ZoomConnection.id.in_(ids)).group_by(ZoomConnection.token_version))).all())
