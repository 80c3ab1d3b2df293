"""The service's worker in its own OS process, so a test can SIGKILL it in the middle of a download.

Builds its Services from the environment, as `python worker.py` does, with the recording waits
given as JSON on the command line (tests/recordings/helpers.py FAST), serves the task queue named
on the command line, and prints "ready" once it polls.
"""

from __future__ import annotations

import asyncio
import sys

from services import Services, connect_temporal
from settings import load_settings
from tests.recordings.helpers import recording_worker
from workflows.recording_types import RecordingTimings


async def main(task_queue: str, timings: str) -> None:
    settings = load_settings(_env_file=None)
    client = await connect_temporal(settings)
    services = Services.from_settings(settings, temporal=client)
    async with recording_worker(client, services, task_queue=task_queue,
                                timings=RecordingTimings.model_validate_json(timings)):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
