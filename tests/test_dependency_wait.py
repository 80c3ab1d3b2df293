"""Processes wait for their dependencies (issue 16 item 7): the worker started before Temporal
says it is waiting, instead of exiting, and polls the booking queue once Temporal is there."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from devstack import EmbeddedServices, free_port
from workflows.contract import TASK_QUEUE

from tests.bookings.helpers import ROOT, new_system_host, until, worker_env


async def test_the_worker_waits_for_temporal_then_polls(api, emulator):
    address = f"127.0.0.1:{free_port()}"  # nothing listens here yet
    env = {**worker_env(api.services, await new_system_host(emulator), address), "WORKER_METRICS_PORT": "0"}
    proc = await asyncio.create_subprocess_exec(sys.executable, str(ROOT / "worker.py"), cwd=str(ROOT), env=env,
                                                stderr=asyncio.subprocess.PIPE)
    folder = Path(tempfile.mkdtemp(prefix="converge-temporal-late-"))
    late = EmbeddedServices(folder, say=lambda m: None)
    try:
        seen = await asyncio.wait_for(_line_with(proc, f"waiting for Temporal at {address}"), 60)
        assert "next try in" in seen
        assert proc.returncode is None  # still there, not exited
        await asyncio.to_thread(late.temporal, address, free_port())
        client = await Client.connect(address)
        await until(lambda: _polled(client), timeout=60, what="the worker polling the idi queue")
        assert proc.returncode is None
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        late.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def _line_with(proc, text: str) -> str:
    while line := (await proc.stderr.readline()).decode():
        if text in line:
            return line
    raise AssertionError(f"the worker ended (rc {await proc.wait()}) without saying {text!r}")


async def _polled(client: Client) -> bool:
    described = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=TASK_QUEUE),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW))
    return bool(described.pollers)
