"""A rotated pair is never lost when its save fails (issue 16 item 1, promise 3).

Faults are injected in the database connections the token manager uses: the UPDATE that stores a
rotated pair raises, or hangs, for a set number of attempts, while Postgres, Redis and the
emulator's token endpoint are real. What Zoom saw comes from the emulator's own refresh count.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.dml import Update
from sqlalchemy.sql.selectable import Select

import pytest

from connections.parked_pair import parked_pair_key
from tests.connections.helpers import (
    connect,
    fresh_zoom_user,
    make_due,
    refresh_requests,
    row_by_id,
    services_copy,
    tokens_of,
    works,
)
from zoom.errors import ZoomTransientError


class FaultyDb:
    """The real database, except that the next `fail` saves of a token pair go wrong: `mode`
    "raise" (the connection drops), "hang" (no answer) or "hang_after_commit" (stored, but the
    answer never comes back); or, with "hang_reads", the next `fail` reads."""

    def __init__(self, db, *, fail: int, mode: str = "raise") -> None:
        self._db, self.fail, self.mode, self.failed = db, fail, mode, 0

    def __getattr__(self, name):
        return getattr(self._db, name)

    @asynccontextmanager
    async def session(self):
        async with self._db.session() as s:
            yield _Faulty(s, self, "exec", s.commit)

    @asynccontextmanager
    async def autocommit(self):
        async with self._db.autocommit() as c:
            yield _Faulty(c, self, "execute", None)


class _Faulty:
    """A session (`exec`, then commit) or an autocommit connection (`execute`) with faults."""

    def __init__(self, inner, db: FaultyDb, run: str, commit) -> None:
        self._inner, self._db, self._run, self._commit = inner, db, getattr(inner, run), commit
        setattr(self, run, self._statement)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    async def _statement(self, statement, *args, **kw):
        db = self._db
        if db.mode == "hang_reads" and isinstance(statement, Select) and db.failed < db.fail:
            db.failed += 1
            await asyncio.sleep(3600)
        saves_pair = isinstance(statement, Update) and "refresh_token_enc" in str(statement)
        if not saves_pair or db.failed >= db.fail or db.mode == "hang_reads":
            return await self._run(statement, *args, **kw)
        db.failed += 1
        if db.mode == "raise":
            raise OperationalError(str(statement), {}, ConnectionResetError("connection reset by peer"))
        if db.mode == "hang_after_commit":
            result = await self._run(statement, *args, **kw)
            if self._commit is not None:
                await self._commit()
        await asyncio.sleep(3600)
        return result


async def connected_due(api, emulator, name: str, fail: int, mode: str = "raise"):
    org_id, headers = await api.new_org(name)
    row = await connect(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    faulty = FaultyDb(api.services.db, fail=fail, mode=mode)
    services = services_copy(api.services, db=faulty)
    services.tokens.DB_CALL_TIMEOUT = 0.5  # 5 s in production
    services.tokens.SAVE_RETRY_DELAY = 0.01
    await make_due(services, row.id)
    return services, faulty, row


async def test_a_save_that_keeps_failing_parks_the_pair_and_the_next_refresh_stores_it(api, emulator):
    services, faulty, row = await connected_due(api, emulator, "Parked Pair Ltd", fail=3)
    before = await refresh_requests(emulator)

    with pytest.raises(ZoomTransientError):
        await services.tokens.org_access_token(row.id)

    assert faulty.failed == 3  # every save attempt failed
    stored = await row_by_id(services, row.id)
    assert stored.status == "active" and stored.token_version == row.token_version
    assert await services.redis.exists(parked_pair_key(row.id))
    parked = await services.redis.get(parked_pair_key(row.id))

    # The database is back: the next caller finishes the save instead of refreshing again.
    token = await services.tokens.org_access_token(row.id)

    assert await refresh_requests(emulator) - before == 1  # one rotation at Zoom, ever
    stored = await row_by_id(services, row.id)
    assert (stored.status, stored.status_reason) == ("active", None)
    assert stored.token_version == row.token_version + 1
    assert token == tokens_of(services, stored)[0] and await works(emulator, token)
    assert not await services.redis.exists(parked_pair_key(row.id))
    # What sat in Redis was ciphertext: neither token of the pair is readable in it.
    for secret in tokens_of(services, stored):
        assert secret.encode() not in parked
    # The saved refresh token is the live one: a later refresh works.
    await make_due(services, row.id)
    again = await services.tokens.org_access_token(row.id)
    assert await works(emulator, again) and await refresh_requests(emulator) - before == 2
    assert (await row_by_id(services, row.id)).status == "active"


@pytest.mark.parametrize("mode", ["raise", "hang", "hang_after_commit"])
async def test_a_save_failing_once_is_retried_within_the_same_refresh(api, emulator, mode):
    services, faulty, row = await connected_due(api, emulator, f"Retried Save {mode} Ltd", fail=1,
                                                mode=mode)
    before = await refresh_requests(emulator)

    token = await services.tokens.org_access_token(row.id)

    assert faulty.failed == 1
    assert await refresh_requests(emulator) - before == 1
    stored = await row_by_id(services, row.id)
    assert stored.status == "active" and stored.token_version == row.token_version + 1
    assert token == tokens_of(services, stored)[0] and await works(emulator, token)
    assert not await services.redis.exists(parked_pair_key(row.id))


async def test_the_keepalive_finishes_a_parked_save_without_asking_zoom(api, emulator):
    services, faulty, row = await connected_due(api, emulator, "Parked Sweep Ltd", fail=3)
    before = await refresh_requests(emulator)
    with pytest.raises(ZoomTransientError):
        await services.tokens.org_access_token(row.id)

    # A forced keep-alive refresh finds the parked pair: stored, and no second rotation.
    outcome = await services.tokens.refresh(row.id, force=True)

    assert outcome == "not_due"
    assert await refresh_requests(emulator) - before == 1
    stored = await row_by_id(services, row.id)
    assert stored.status == "active" and stored.token_version == row.token_version + 1
    assert await works(emulator, tokens_of(services, stored)[0])


async def test_a_hung_row_read_is_cut_off_and_sends_nothing_to_zoom(api, emulator):
    services, faulty, row = await connected_due(api, emulator, "Hung Read Ltd", fail=1,
                                                mode="hang_reads")
    before = await refresh_requests(emulator)

    # The bound here only keeps the old code's endless wait from hanging the suite.
    with pytest.raises(ZoomTransientError, match="database did not answer"):
        await asyncio.wait_for(services.tokens.org_access_token(row.id), 60)

    assert faulty.failed == 1 and await refresh_requests(emulator) == before
    token = await services.tokens.org_access_token(row.id)  # the database answers again
    assert await works(emulator, token) and await refresh_requests(emulator) - before == 1
