"""What the inbox retention run asks of the outside world: the activity's name and signature.

The body is in activities/inbox_retention.py and registers under this same name.
"""

from __future__ import annotations

from temporalio import activity


@activity.defn(name="delete_old_inbox_events")
async def delete_old_inbox_events(limit: int) -> int:
    """Delete up to `limit` closed or ignored inbox rows older than the retention; how many."""
    raise NotImplementedError
