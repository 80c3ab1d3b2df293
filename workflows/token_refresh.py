"""TokenRefreshWorkflow: one keep-alive sweep over every Zoom connection that needs a refresh.

Started every few minutes by the `zoom-token-refresh` Schedule (temporal_setup.py). The sweep walks
due connections in pages by id; each page is one activity that returns counts and the next cursor,
so the history grows by a handful of events per page whatever the number of connections, and the
run continues as new before it grows large. Tokens never enter the history: only ids and counts.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.token_refresh_activities import refresh_due_connections, report_token_sweep
    from workflows.token_refresh_types import PAGE_SIZE, SweepPage, SweepReport
    from workflows.retries import LIVENESS

# About 6 history events per page: 50 pages keep a run near 300 events, far below the server's
# continue-as-new suggestion, and still cover 10,000 due connections per run.
MAX_PAGES_PER_RUN = 50


class TokenSweep(BaseModel):
    """Where a sweep stands; the Schedule starts it empty, continue-as-new carries it on."""

    after_id: str = ""
    started_at: datetime | None = None
    outcomes: dict[str, int] = {}
    pages: int = 0
    runs: int = 0
    page_size: int = PAGE_SIZE
    max_pages_per_run: int = MAX_PAGES_PER_RUN


class TokenSweepResult(BaseModel):
    outcomes: dict[str, int]
    pages: int
    runs: int
    seconds: float


@workflow.defn
class TokenRefreshWorkflow:
    @workflow.run
    async def run(self, sweep: TokenSweep) -> TokenSweepResult:
        started_at = sweep.started_at or workflow.now()
        outcomes = Counter(sweep.outcomes)
        cursor: str | None = sweep.after_id
        pages_this_run = 0
        while cursor is not None:
            page = await workflow.execute_activity(
                refresh_due_connections,
                SweepPage(after_id=cursor, limit=sweep.page_size),
                # A page is seconds of work when Zoom answers, but one refresh may wait 30 s for
                # the lock and twice 15 s for Zoom; a worker that dies mid-page is noticed by the
                # missing heartbeat, and the page is done again (what got refreshed is no longer
                # due, or comes back `not_due`).
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=LIVENESS,
                retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1)),
            )
            outcomes.update(page.outcomes)
            cursor = page.next_after_id
            pages_this_run += 1
            if cursor is not None and (
                pages_this_run >= sweep.max_pages_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                workflow.continue_as_new(
                    sweep.model_copy(
                        update={
                            "after_id": cursor,
                            "started_at": started_at,
                            "outcomes": dict(outcomes),
                            "pages": sweep.pages + pages_this_run,
                            "runs": sweep.runs + 1,
                        }
                    )
                )
        seconds = (workflow.now() - started_at).total_seconds()
        await workflow.execute_activity(
            report_token_sweep,
            SweepReport(outcomes=dict(outcomes), seconds=seconds),
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=LIVENESS,
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return TokenSweepResult(
            outcomes=dict(outcomes),
            pages=sweep.pages + pages_this_run,
            runs=sweep.runs + 1,
            seconds=seconds,
        )
