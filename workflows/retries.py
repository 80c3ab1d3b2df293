"""Retry policies the workflows share."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Database writes: a blip is retried quickly, an outage is waited out with a capped interval.
DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
