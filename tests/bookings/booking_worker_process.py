"""A booking worker in its own OS process, so a test can SIGKILL it mid-activity.

Builds its Services from the environment, as `python worker.py` does, serves the task queue named
on the command line, and prints "ready" once it polls.
"""

from __future__ import annotations

import asyncio
import sys

from services import Services, connect_temporal
from settings import load_settings
from worker import build_worker


async def main(task_queue: str) -> None:
    settings = load_settings(_env_file=None)
    client = await connect_temporal(settings)
    services = Services.from_settings(settings, temporal=client)
    async with build_worker(client, services, task_queue=task_queue):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
