"""What the keep-alive sweep asks of the outside world: activity names and signatures only.

The bodies are in activities/token_refresh.py (they need the database and Zoom, which the workflow
sandbox must not import) and register under these same names.
"""

from __future__ import annotations

from temporalio import activity

from workflows.token_refresh_types import SweepPage, SweepPageResult, SweepReport


@activity.defn(name="refresh_due_connections")
async def refresh_due_connections(page: SweepPage) -> SweepPageResult:
    """Refresh one page of due connections through the token manager."""
    raise NotImplementedError


@activity.defn(name="report_token_sweep")
async def report_token_sweep(report: SweepReport) -> dict[str, int]:
    """Record the sweep's duration and the connections by status."""
    raise NotImplementedError
