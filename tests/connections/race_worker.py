"""One of the two OS processes of the refresh race test.

Builds its own Services from the environment (as a worker would), says it is ready, waits for the
go signal so both processes ask at the same moment, then prints a hash of the token it got.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys

from services import Services
from settings import load_settings


async def wait_for_item(redis, key: str, seconds: int = 60) -> None:
    """BLPOP in short rounds: redis-py's default socket timeout (5 s) cuts longer blocking calls."""
    for _ in range(seconds):
        if await redis.blpop([key], timeout=1):
            return
    raise SystemExit(f"nothing arrived on {key}")


async def main(connection_id: str, barrier: str) -> None:
    services = Services.from_settings(load_settings(_env_file=None))
    try:
        await services.redis.rpush(f"{barrier}:ready", "1")
        await wait_for_item(services.redis, f"{barrier}:go")
        token = await services.tokens.org_access_token(connection_id)
        print(hashlib.sha256(token.encode()).hexdigest(), flush=True)
    finally:
        await services.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
