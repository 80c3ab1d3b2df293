"""`python -m zoom_emulator`: run the emulator alone.

Prints one line, "Zoom emulator listening on http://HOST:PORT", once it accepts connections
(`--port 0` picks a free port; the testing helper reads that line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal

from aiohttp import web

from .app import create_app
from .state import DEFAULT_WEBHOOK_SECRET, DEFAULT_WEBHOOK_URL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m zoom_emulator", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9090)
    p.add_argument("--webhook-url", default=DEFAULT_WEBHOOK_URL,
                   help="where events are POSTed ('' sends none)")
    p.add_argument("--webhook-secret", default=DEFAULT_WEBHOOK_SECRET)
    p.add_argument("--redirect-uri", action="append", default=[],
                   help="another redirect URI for emu-client-id (repeatable)")
    p.add_argument("--time-factor", type=float, default=1.0,
                   help="scales webhook retry delays (0.001: 5 min becomes 0.3 s)")
    p.add_argument("--token-ttl", type=int, default=3600, help="access-token lifetime, seconds")
    p.add_argument("--public-base-url", default=None,
                   help="base URL to put in links (default: the request's origin)")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any config switch, VALUE in JSON (e.g. --set daily_limit=5)")
    return p.parse_args(argv)


def options_from(args: argparse.Namespace) -> dict:
    options = {
        "webhook_url": args.webhook_url or None,
        "webhook_secret": args.webhook_secret,
        "redirect_uris": args.redirect_uri,
        "time_factor": args.time_factor,
        "token_ttl": args.token_ttl,
        "public_base_url": args.public_base_url,
    }
    for item in args.set:
        name, _, raw = item.partition("=")
        try:
            options[name] = json.loads(raw)
        except ValueError:
            options[name] = raw  # a bare string
    return options


async def serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(create_app(**options_from(args)))
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"Zoom emulator listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
