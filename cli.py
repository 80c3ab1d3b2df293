"""Command line: `python -m cli <command>`.

  run             the dev stack behind `make run`: embedded services, migrations, API, worker
  create-org NAME create an organization and print its API key (shown once)
  migrate         bring DATABASE_URL to the newest schema
  rotate-keys     re-encrypt every stored token with the first TOKEN_ENCRYPTION_KEYS key
  redrive ID      start a failed booking again under its same workflow id
  generate-key    print a new `kid:base64key` entry for TOKEN_ENCRYPTION_KEYS
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack import EmbeddedServices
    from supervisor import Supervisor

ROOT = Path(__file__).resolve().parent
# Dev-only knobs (not part of the configuration contract): tests run a second stack beside yours.
DATA = Path(os.environ.get("CONVERGE_DATA_DIR") or ROOT / ".data")
EMULATOR_PORT = int(os.environ.get("ZOOM_EMULATOR_PORT", "9090"))
TEMPORAL_UI_PORT = int(os.environ.get("TEMPORAL_UI_PORT", "8233"))


def say(msg: str) -> None:
    print(msg, flush=True)


# -- run ------------------------------------------------------------------------------------


def _dev_secret(name: str, make) -> str:
    """A dev-only secret kept under .data/ so a second `make run` reuses it."""
    path = DATA / name
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
        say(f"  generated {path} (dev only; set it yourself in production)")
    return path.read_text().strip()


def _dev_environment(services: EmbeddedServices) -> dict[str, str]:
    """Fill every unset variable with the embedded default; returns the env for the children."""
    import secrets

    from token_cipher import generate_key

    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["CONVERGE_DEV_MODE"] = "1"
    # Recordings live beside the rest of the dev data, so CONVERGE_DATA_DIR moves them too.
    env.setdefault("RECORDINGS_DIR", str(DATA / "recordings"))
    if not env.get("TOKEN_ENCRYPTION_KEYS"):
        env["TOKEN_ENCRYPTION_KEYS"] = _dev_secret("dev-token-key", lambda: f"dev:{generate_key()}")
    if not env.get("ADMIN_API_KEY"):
        env["ADMIN_API_KEY"] = _dev_secret("dev-admin-key", lambda: secrets.token_urlsafe(24))
    if not env.get("DATABASE_URL"):
        say("• starting embedded Postgres…")
        env["DATABASE_URL"] = services.postgres()
    if not env.get("REDIS_URL"):
        say("• starting embedded Redis…")
        env["REDIS_URL"] = services.redis()
    address = env.get("TEMPORAL_ADDRESS") or "localhost:7233"
    say(f"• Temporal at {address} (starting the dev server if nothing answers)…")
    env["TEMPORAL_ADDRESS"] = services.temporal(address, ui_port=TEMPORAL_UI_PORT)
    public = env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{env.get('PORT', '8000')}")
    if not env.get("ZOOM_CLIENT_ID"):
        say(f"• no ZOOM_CLIENT_ID: starting the Zoom emulator on :{EMULATOR_PORT}…")
        redirect = env.get("ZOOM_REDIRECT_URI") or f"{public}/v1/integrations/zoom/callback"
        base = services.zoom_emulator(
            EMULATOR_PORT, webhook_url=f"{public}/v1/zoom/webhooks", redirect_uri=redirect
        )
        env.update(
            ZOOM_OAUTH_BASE_URL=base,
            ZOOM_API_BASE_URL=f"{base}/v2",
            ZOOM_CLIENT_ID="emu-client-id",
            ZOOM_CLIENT_SECRET="emu-client-secret",
            ZOOM_REDIRECT_URI=redirect,
            ZOOM_WEBHOOK_SECRET_TOKEN="emu-webhook-secret",
            ZOOM_S2S_ACCOUNT_ID="emu-system-account",
            ZOOM_S2S_CLIENT_ID="emu-s2s-client-id",
            ZOOM_S2S_CLIENT_SECRET="emu-s2s-client-secret",
            ZOOM_SYSTEM_HOSTS=env.get("ZOOM_SYSTEM_HOSTS")
            or "host1@system.converge.test:2,host2@system.converge.test:2",
        )
    return env


async def _prepare(env: dict[str, str]) -> dict:
    """Migrate, register search attributes, and create the demo org on first run."""
    from api.orgs import create_org
    from models.migrate import migrate
    from services import Services
    from settings import load_settings
    from temporal_setup import ensure_search_attributes

    os.environ.update(env)
    settings = load_settings()
    say("• migrating the database…")
    await migrate(settings.database_url)
    services = Services.from_settings(settings)
    try:
        for attempt in range(50):
            try:
                client = await services.temporal()
                await ensure_search_attributes(client)
                break
            except Exception:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.2)
        demo_file = DATA / "demo-org.json"
        if demo_file.exists():
            return json.loads(demo_file.read_text())
        created = await create_org(services, "Demo Research Team")
        demo = created.model_dump()
        demo_file.write_text(json.dumps(demo))
        demo_file.chmod(0o600)
        return demo
    finally:
        await services.close()


def _wait_healthy(port: int, children: list, log_dir: Path, seconds: float = 30) -> None:
    """Until /healthz is ok (the worker polls too), so "Ready" means bookings will run."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise RuntimeError(f"a process exited while starting; see {log_dir}/")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    say(f"• /healthz is not ok yet after {seconds:.0f}s; see {log_dir}/ and /healthz")


def run() -> int:
    from devstack import EmbeddedServices, port_answers
    from supervisor import Supervisor

    DATA.mkdir(exist_ok=True)
    services = EmbeddedServices(DATA / "services", say=say)
    supervisor: Supervisor | None = None
    stopping = False

    def stop(*_):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        # A SIGTERM sent to the process group arrives twice (make passes it on) and people press
        # Ctrl-C again: once stopping, further signals must not interrupt it half-way.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        say("\n• stopping…")
        if supervisor is not None:
            supervisor.stop()
        services.stop()
        say("• stopped everything make run started.")

    def on_sigterm(*_):
        # Leave the main loop; `finally` below does the stopping, with further signals ignored.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        started = time.monotonic()
        with_emulator = not os.environ.get("ZOOM_CLIENT_ID")
        env = _dev_environment(services)
        demo = asyncio.run(_prepare(env))
        port = int(env.get("PORT", "8000"))
        say("• starting the API and the worker…")
        log_dir = DATA / "services" / "logs"
        supervisor = Supervisor(ROOT, env, say)
        api = supervisor.add("api", [sys.executable, "-m", "api"], log_dir / "api.log")
        supervisor.add("worker", [sys.executable, "worker.py"], log_dir / "worker.log")
        deadline = time.monotonic() + 30
        while not port_answers("127.0.0.1", port) and time.monotonic() < deadline:
            if not api.alive():
                raise RuntimeError(f"the API exited; see {log_dir}/api.log")
            time.sleep(0.1)
        _wait_healthy(port, supervisor.procs(), log_dir)
        public = env["PUBLIC_BASE_URL"]
        emulator = "" if not with_emulator else (
            f"  Zoom emulator  {env['ZOOM_OAUTH_BASE_URL']}   (stand-in for Zoom; see zoom_emulator/README.md)\n")
        say(
            f"\nReady in {time.monotonic() - started:.1f}s.\n"
            f"  API            {public}   (health: {public}/healthz, docs: {public}/openapi.json)\n"
            f"  Temporal UI    http://127.0.0.1:{TEMPORAL_UI_PORT}   (each booking's history)\n{emulator}"
            f"  Demo org       {demo['name']}  id={demo['id']}\n"
            f"  Demo API key   {demo['api_key']}\n"
            f"  Logs           {log_dir}/\n"
            f"Next: curl -H 'Authorization: Bearer {demo['api_key']}' "
            f"{public}/v1/orgs/{demo['id']}/integrations/zoom\n"
            f"The API and the worker are restarted when they exit (with backoff; see the logs).\n"
            f"Ctrl-C stops everything make run started."
        )
        # From here on a child that dies is restarted (supervisor.py); only a signal stops the stack.
        while True:
            supervisor.check()
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:
        say(f"make run failed: {exc}")
        return 1
    finally:
        stop()


# -- other commands --------------------------------------------------------------------------


async def _create_org(name: str) -> None:
    from api.orgs import create_org
    from services import Services
    from settings import load_settings

    services = Services.from_settings(load_settings())
    try:
        created = await create_org(services, name)
    finally:
        await services.close()
    print(json.dumps(created.model_dump(), indent=2))
    print("Keep the api_key now: it is stored hashed and cannot be shown again.", file=sys.stderr)


async def _migrate() -> None:
    from models.migrate import migrate
    from settings import load_settings

    await migrate(load_settings().database_url)
    print("database is at the newest schema")


async def _rotate_keys() -> None:
    from services import Services
    from settings import load_settings
    from token_rotation import reencrypt_all

    services = Services.from_settings(load_settings())
    try:
        counts = await reencrypt_all(services.db, services.cipher, progress=lambda m: print(m, file=sys.stderr))
    finally:
        await services.close()
    print(json.dumps(counts))


async def _redrive(booking_id: str) -> int:
    from api.booking_workflow import NotRedrivable, redrive_booking
    from services import Services
    from settings import load_settings

    services = Services.from_settings(load_settings())
    try:
        booking = await redrive_booking(services, booking_id)
    except LookupError:
        print(f"no booking {booking_id}", file=sys.stderr)
        return 1
    except NotRedrivable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        await services.close()
    print(json.dumps({"id": booking.id, "status": booking.status, "workflow_id": booking.workflow_id}))
    return 0


def main(argv: list[str] | None = None) -> int:
    from settings import ConfigError

    parser = argparse.ArgumentParser(prog="python -m cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run")
    org = sub.add_parser("create-org")
    org.add_argument("name")
    sub.add_parser("migrate")
    sub.add_parser("rotate-keys")
    sub.add_parser("generate-key")
    redrive = sub.add_parser("redrive")
    redrive.add_argument("booking_id")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run()
        if args.command == "create-org":
            asyncio.run(_create_org(args.name))
        elif args.command == "migrate":
            asyncio.run(_migrate())
        elif args.command == "rotate-keys":
            asyncio.run(_rotate_keys())
        elif args.command == "redrive":
            return asyncio.run(_redrive(args.booking_id))
        elif args.command == "generate-key":
            from token_cipher import generate_key

            print(f"k{int(time.time())}:{generate_key()}")
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
