"""The sweep over thousands of connections on the real stack: it pages by id, continues as new, and
touches only what is due. Figures are printed (run with -s to see them).

Each refresh here costs several database, Redis and HTTP round trips (~15-40 ms on a 2-core CI box,
emulator included), so the suite refreshes 100 of 2,000 connections; the full 2,000-refresh
measurement runs with KEEPALIVE_BENCH=1:

    KEEPALIVE_BENCH=1 TEST_DATABASE_URL=... TEST_REDIS_URL=... \
        .venv/bin/pytest tests/token_refresh/test_token_sweep_scale.py -s -k bench
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest

from tests.token_refresh.helpers import insert_connections, refresh_requests, run_sweep, versions
from workflows.token_refresh import TokenSweep


async def test_a_sweep_over_2000_connections_refreshes_just_the_due_ones_page_by_page(
    keepalive, emulator, temporal_env
):
    svc, client = keepalive, temporal_env.client
    await run_sweep(svc, client)  # anything earlier tests left due is done, so the counts are ours
    # Tokens about to expire, but nothing booked: on-demand refreshes are for those.
    not_due = await insert_connections(svc, 1900, expires_in=timedelta(minutes=5))
    due = await insert_connections(svc, 100, expires_in=timedelta(minutes=50), emulator=emulator,
                                   idle_for=timedelta(days=31))
    zoom_before = await refresh_requests(emulator)

    t0 = time.perf_counter()
    # Pages of 25 and two pages per run, so the real activity crosses page and run boundaries.
    result, runs = await run_sweep(svc, client, TokenSweep(page_size=25, max_pages_per_run=2))
    seconds = time.perf_counter() - t0

    events = [len(h.events) for h in runs]
    print(f"\nsweep over 2000 connections, 100 due: {seconds:.1f} s, {result.pages} pages, "
          f"runs {events} history events")
    assert result.outcomes == {"refreshed": 100}
    assert (result.pages, result.runs, len(runs)) == (4, 2, 2)
    assert max(events) < 500
    assert await refresh_requests(emulator) - zoom_before == 100
    assert await versions(svc, due) == {2: 100}
    assert await versions(svc, not_due) == {1: 1900}


@pytest.mark.skipif(not os.environ.get("KEEPALIVE_BENCH"), reason="measurement; set KEEPALIVE_BENCH=1")
@pytest.mark.timeout(600)
async def test_bench_a_sweep_refreshing_2000_connections(keepalive, emulator, temporal_env):
    svc, client = keepalive, temporal_env.client
    await run_sweep(svc, client)
    t0 = time.perf_counter()
    due = await insert_connections(svc, 2000, expires_in=timedelta(minutes=50), emulator=emulator,
                                   idle_for=timedelta(days=31))
    setup = time.perf_counter() - t0
    zoom_before = await refresh_requests(emulator)

    t0 = time.perf_counter()
    result, runs = await run_sweep(svc, client)
    seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    again, again_runs = await run_sweep(svc, client)
    idle_seconds = time.perf_counter() - t0

    events = [len(h.events) for h in runs]
    print(f"\nsweep refreshing 2000 due connections: {seconds:.1f} s ({2000 / seconds:.0f}/s), "
          f"{result.pages} pages, runs {events} history events; the same 2000 again (none due): "
          f"{idle_seconds:.2f} s, {[len(h.events) for h in again_runs]} events; "
          f"setup {setup:.1f} s")
    assert result.outcomes == {"refreshed": 2000}
    assert await refresh_requests(emulator) - zoom_before == 2000
    assert result.pages == 10 and max(events) < 500
    assert await versions(svc, due) == {2: 2000}
    assert again.outcomes == {} and len(again_runs) == 1
