"""The keep-alive's batch refresh (`TokenManager.refresh_many`, connections/token_batch.py) keeps
the one-connection promises (docs/promises.md#3-one-refresh-and-a-rotated-pair-is-never-lost):
a row another refresher changed after the sweep read it is not refreshed twice, a taken lock is
waited for, a parked pair is stored before anything is sent, and a failed batch save loses no
pair. Real Postgres, Redis and the emulator; what Zoom saw is the emulator's refresh count.
"""

from __future__ import annotations

import asyncio

import pytest

from connections.parked_pair import parked_pair_key
from tests.connections.helpers import (
    connect,
    fault_fired,
    fresh_zoom_user,
    lock_free,
    make_due,
    refresh_requests,
    row_by_id,
    services_copy,
    tokens_of,
    works,
)
from tests.connections.test_rotated_pair_parking import FaultyDb
from zoom.errors import ZoomTransientError

REFRESH = {"grant_type": "refresh_token"}


async def connections(api, emulator, n: int, name: str):
    rows = []
    for i in range(n):
        org_id, headers = await api.new_org(f"{name} {i}")
        rows.append(await connect(api, emulator, org_id, headers, await fresh_zoom_user(emulator)))
    return rows


def forced(rows) -> list[tuple[str, bool, int]]:
    """What the sweep passes for idle connections: forced, with the version its page read."""
    return [(r.id, True, r.token_version) for r in rows]


async def assert_rotated_once(services, emulator, r) -> None:
    stored = await row_by_id(services, r.id)
    assert (stored.status, stored.token_version) == ("active", r.token_version + 1)
    assert await works(emulator, tokens_of(services, stored)[0])
    assert not await services.redis.exists(parked_pair_key(r.id))


async def test_a_batch_refreshes_each_connection_once_and_stores_working_pairs(api, emulator):
    services = services_copy(api.services)
    rows = await connections(api, emulator, 3, "Batch Ltd")
    before = await refresh_requests(emulator)

    outcomes = await services.tokens.refresh_many(forced(rows))

    assert outcomes == {r.id: "refreshed" for r in rows}
    assert await refresh_requests(emulator) - before == 3
    for r in rows:
        await assert_rotated_once(services, emulator, r)
    # The saved refresh tokens are the live ones: the next batch rotates them again.
    again = [await row_by_id(services, r.id) for r in rows]
    assert await services.tokens.refresh_many(forced(again)) == {r.id: "refreshed" for r in rows}
    assert await refresh_requests(emulator) - before == 6


async def test_a_batch_skips_a_row_another_refresher_changed_after_the_page_was_read(api, emulator):
    services = services_copy(api.services)
    a, b, c = await connections(api, emulator, 3, "Raced Batch Ltd")
    # The sweep read b at this version; an on-demand refresh rotates b before the batch runs.
    await make_due(services, b.id)
    token = await services.tokens.org_access_token(b.id)
    before = await refresh_requests(emulator)

    outcomes = await services.tokens.refresh_many(forced([a, b, c]))

    assert outcomes == {a.id: "refreshed", b.id: "not_due", c.id: "refreshed"}
    assert await refresh_requests(emulator) - before == 2  # none for b
    stored_b = await row_by_id(services, b.id)
    assert stored_b.token_version == b.token_version + 1  # the on-demand refresh's only
    assert tokens_of(services, stored_b)[0] == token and await works(emulator, token)


async def test_a_connection_whose_lock_is_taken_waits_for_it_and_accepts_that_refresh(api, emulator):
    services, other = services_copy(api.services), services_copy(api.services)
    a, b = await connections(api, emulator, 2, "Locked Batch Ltd")
    await make_due(other, b.id)
    # Another worker's on-demand refresh of b is at Zoom (answered slowly) when the batch comes.
    fault = await emulator.control.add_fault("/oauth/token", action="delay", latency_ms=1500,
                                             match=REFRESH, count=1)
    before = await refresh_requests(emulator)
    on_demand = asyncio.create_task(other.tokens.org_access_token(b.id))
    await fault_fired(emulator, fault)

    outcomes = await services.tokens.refresh_many(forced([a, b]))
    token = await on_demand

    # b waited for the lock and found the other worker's refresh: one rotation for b.
    assert outcomes == {a.id: "refreshed", b.id: "not_due"}
    assert await refresh_requests(emulator) - before == 2
    stored_b = await row_by_id(services, b.id)
    assert stored_b.token_version == b.token_version + 1
    assert tokens_of(services, stored_b)[0] == token and await works(emulator, token)


async def test_a_batch_cancelled_while_zoom_answers_still_saves_every_rotated_pair(api, emulator):
    services = services_copy(api.services)
    rows = await connections(api, emulator, 2, "Cancelled Batch Ltd")
    fault = await emulator.control.add_fault("/oauth/token", action="delay", latency_ms=1500,
                                             match=REFRESH, count=1)
    before = await refresh_requests(emulator)

    batch = asyncio.create_task(services.tokens.refresh_many(forced(rows)))
    await fault_fired(emulator, fault)  # a refresh token is at Zoom now
    batch.cancel()  # the activity timed out, or the worker is shutting down
    with pytest.raises(asyncio.CancelledError):
        await batch
    for r in rows:
        await lock_free(services, r.id)

    assert await refresh_requests(emulator) - before == 2
    for r in rows:
        await assert_rotated_once(services, emulator, r)


async def test_a_parked_pair_in_a_batch_is_stored_without_asking_zoom(api, emulator):
    a, b = await connections(api, emulator, 2, "Parked Batch Ltd")
    faulty = FaultyDb(api.services.db, fail=3)
    failing = services_copy(api.services, db=faulty)
    failing.tokens.SAVE_RETRY_DELAY = 0.01
    await make_due(failing, b.id)
    with pytest.raises(ZoomTransientError):
        await failing.tokens.org_access_token(b.id)  # Zoom rotated b; every save failed
    assert await failing.redis.exists(parked_pair_key(b.id))
    services = services_copy(api.services)
    before = await refresh_requests(emulator)

    outcomes = await services.tokens.refresh_many(forced([a, b]))

    assert outcomes == {a.id: "refreshed", b.id: "not_due"}
    assert await refresh_requests(emulator) - before == 1  # a only: b's parked pair was stored
    await assert_rotated_once(services, emulator, a)
    await assert_rotated_once(services, emulator, b)


@pytest.mark.parametrize("mode", ["raise", "hang", "hang_after_commit"])
async def test_a_failed_batch_save_falls_back_to_one_row_saves_and_loses_no_pair(api, emulator, mode):
    rows = await connections(api, emulator, 3, f"Batch Save {mode} Ltd")
    faulty = FaultyDb(api.services.db, fail=1, mode=mode)  # the batch's one UPDATE
    services = services_copy(api.services, db=faulty)
    services.tokens.DB_CALL_TIMEOUT = 0.5  # 5 s in production
    before = await refresh_requests(emulator)

    outcomes = await services.tokens.refresh_many(forced(rows))

    assert faulty.failed == 1
    assert await refresh_requests(emulator) - before == 3  # nothing sent twice
    # Committed before the answer was lost: the one-row saves find the pairs already stored.
    expected = "not_due" if mode == "hang_after_commit" else "refreshed"
    assert outcomes == {r.id: expected for r in rows}
    for r in rows:
        await assert_rotated_once(services, emulator, r)


async def test_a_batch_whose_saves_all_fail_leaves_every_pair_parked_for_the_next(api, emulator):
    rows = await connections(api, emulator, 2, "Batch Parked Ltd")
    # The batch statement and every one-row attempt (3 per pair) fail.
    faulty = FaultyDb(api.services.db, fail=1 + 3 * len(rows))
    failing = services_copy(api.services, db=faulty)
    failing.tokens.SAVE_RETRY_DELAY = 0.01
    before = await refresh_requests(emulator)

    outcomes = await failing.tokens.refresh_many(forced(rows))

    assert outcomes == {r.id: "transient_failure" for r in rows}
    assert faulty.failed == faulty.fail
    for r in rows:
        assert await failing.redis.exists(parked_pair_key(r.id))
        assert (await row_by_id(failing, r.id)).token_version == r.token_version
    services = services_copy(api.services)
    assert await services.tokens.refresh_many(forced(rows)) == {r.id: "not_due" for r in rows}
    assert await refresh_requests(emulator) - before == 2  # one rotation each, ever
    for r in rows:
        await assert_rotated_once(services, emulator, r)
