"""TokenRefreshWorkflow's paging and continue-as-new, with stand-in activities under the real names.

The stand-ins play a table of connection ids and record every page asked for, so these tests prove
that a sweep visits every page exactly once, carries its counts across runs and keeps each run's
history small — without a database or Zoom.
"""

from __future__ import annotations

import bisect
import uuid
from collections import Counter

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from workflows.token_refresh_types import SweepPage, SweepPageResult, SweepReport
from devstack import binary
from tests.token_refresh.helpers import histories
from workflows.token_refresh import MAX_PAGES_PER_RUN, TokenRefreshWorkflow, TokenSweep


class FakeConnections:
    """Stand-ins for the two sweep activities over `n` connection ids, all due."""

    def __init__(self, n: int, fail_first_attempt_after: str | None = None) -> None:
        self.ids = [f"{i:06d}" for i in range(n)]
        self.pages: list[str] = []  # after_id of every page attempt that succeeded
        self.refreshed: Counter[str] = Counter()
        self.reports: list[SweepReport] = []
        self.fail_after = fail_first_attempt_after

    def activities(self) -> list:
        @activity.defn(name="refresh_due_connections")
        async def refresh_due_connections(page: SweepPage) -> SweepPageResult:
            if page.after_id == self.fail_after and activity.info().attempt == 1:
                raise ApplicationError("database went away")
            start = bisect.bisect_right(self.ids, page.after_id)
            later = self.ids[start : start + page.limit + 1]
            chosen = later[: page.limit]
            self.pages.append(page.after_id)
            self.refreshed.update(chosen)
            return SweepPageResult(
                selected=len(chosen),
                outcomes={"refreshed": len(chosen)} if chosen else {},
                next_after_id=chosen[-1] if len(later) > page.limit else None,
            )

        @activity.defn(name="report_token_sweep")
        async def report_token_sweep(report: SweepReport) -> dict[str, int]:
            self.reports.append(report)
            return {"active": len(self.ids)}

        return [refresh_due_connections, report_token_sweep]


@pytest_asyncio.fixture(scope="module")
async def ts_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


async def sweep(client: Client, fake: FakeConnections, sweep_input: TokenSweep):
    tq = f"sweep-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=tq, workflows=[TokenRefreshWorkflow], activities=fake.activities()):
        handle = await client.start_workflow(
            TokenRefreshWorkflow.run, sweep_input, id=f"zoom-token-refresh-test-{tq}", task_queue=tq
        )
        result = await handle.result()
    return result, await histories(client, handle)


async def test_sweep_visits_every_page_once_and_continues_as_new_after_n_pages(ts_env):
    fake = FakeConnections(1050)
    result, histories = await sweep(ts_env.client, fake, TokenSweep(page_size=200, max_pages_per_run=2))

    # 1050 ids in pages of 200: five full pages and a last one of 50, each asked for once, in order.
    assert fake.pages == ["", "000199", "000399", "000599", "000799", "000999"]
    assert set(fake.refreshed) == set(fake.ids) and max(fake.refreshed.values()) == 1
    # Two pages per run: runs 1 and 2 continue as new, run 3 finishes and reports once.
    assert len(histories) == 3
    for h in histories[:-1]:
        assert h.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert result.outcomes == {"refreshed": 1050}
    assert (result.pages, result.runs) == (6, 3)
    assert len(fake.reports) == 1 and fake.reports[0].outcomes == {"refreshed": 1050}


async def test_history_stays_small_however_many_connections_exist(ts_env):
    # 30,000 due connections: 150 pages of 200; at 50 pages per run that is three runs.
    assert MAX_PAGES_PER_RUN == 50
    fake = FakeConnections(30_000)
    result, histories = await sweep(ts_env.client, fake, TokenSweep())

    sizes = [len(h.events) for h in histories]
    assert result.outcomes == {"refreshed": 30_000}
    assert (result.pages, len(histories)) == (150, 3)
    assert max(sizes) < 500, sizes
    # Nothing but ids and counts in the history: no run carries the token columns' names or values.
    for h in histories:
        assert b"token_enc" not in h.to_json().encode()


async def test_a_failed_page_is_retried_not_skipped(ts_env):
    fake = FakeConnections(450, fail_first_attempt_after="000199")
    result, _ = await sweep(ts_env.client, fake, TokenSweep(page_size=200))

    assert fake.pages == ["", "000199", "000399"]
    assert result.outcomes == {"refreshed": 450}
    assert max(fake.refreshed.values()) == 1


async def test_an_empty_sweep_still_reports(ts_env):
    """No due connection at all: one page, then the report (so the gauge is set every sweep)."""
    fake = FakeConnections(0)
    result, histories = await sweep(ts_env.client, fake, TokenSweep())
    assert fake.pages == [""] and result.outcomes == {} and len(fake.reports) == 1
    assert len(histories) == 1


@pytest.mark.timeout(60)
async def test_continues_as_new_when_the_server_suggests_it():
    """A dev server told to suggest continue-as-new after 20 events: the sweep obeys long before
    its own page limit."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=[
            "--headless",
            "--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=20",
            # The server holds each new run of a workflow id back 1 s by default; not worth
            # waiting for here.
            "--dynamic-config-value", 'history.workflowIdReuseMinimalInterval="0s"',
        ],
        data_converter=pydantic_data_converter,
    )
    try:
        fake = FakeConnections(2000)
        result, histories = await sweep(env.client, fake, TokenSweep(page_size=100, max_pages_per_run=1000))
    finally:
        await env.shutdown()

    assert result.outcomes == {"refreshed": 2000}
    assert set(fake.refreshed) == set(fake.ids) and max(fake.refreshed.values()) == 1
    # 20 pages (about 6 events each) cannot fit under a 20-event suggestion in one run.
    assert len(histories) >= 5
    assert max(len(h.events) for h in histories) < 40
