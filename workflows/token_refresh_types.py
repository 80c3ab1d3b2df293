"""What the keep-alive sweep passes between its workflow and activities: ids and counts, no token."""

from __future__ import annotations

from pydantic import BaseModel

PAGE_SIZE = 200


class SweepPage(BaseModel):
    """Which page to do: due connections with an id after `after_id`, at most `limit` of them."""

    after_id: str = ""
    limit: int = PAGE_SIZE


class SweepPageResult(BaseModel):
    selected: int
    outcomes: dict[str, int]
    # The last id of this page when more due connections follow; None when this was the last.
    next_after_id: str | None = None


class SweepReport(BaseModel):
    outcomes: dict[str, int]
    seconds: float
