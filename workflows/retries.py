"""Retry policies the workflows share."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Database writes: a blip is retried quickly, an outage is waited out with a capped interval.
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))

# Every activity but a download heartbeats while it runs (activities/liveness.py): a worker killed
# mid-step is noticed after this long without one and the step is retried on another worker,
# instead of after its whole start-to-close timeout (docs/architecture.md#a-dead-worker).
LIVENESS = timedelta(seconds=10)
