"""The keep-alive's refresh of a batch of connections: the token manager's promises in fewer
round trips (docs/promises.md#3-one-refresh-and-a-rotated-pair-is-never-lost).

Why: one refresh at a time cost the sweep about three bare token requests of CPU, nearly all of
it round trips to Postgres and Redis around the one that matters (bench/README.md, "Where the
time goes"). A batch (the sweep's CONCURRENCY connections at a time):
1. tries every refresh lock at once (one SET NX each); a connection whose lock is taken goes
   through `TokenManager.refresh` alone, which waits for it and accepts the other refresh;
2. re-reads all the locked rows in one query and looks for their parked pairs in one MGET, both
   under the locks; a connection with a parked pair goes through `refresh` alone (it stores the
   pair before anything is sent to Zoom);
3. sends each refresh token to Zoom with the one-connection code (the lost-answer retry and the
   dead-grant verdicts), parking each new pair in Redis the moment Zoom answers;
4. saves every new pair in one UPDATE, each row under its own token_version check; a row that
   changed meanwhile loses its check as before, and if the statement fails each pair goes
   through the one-row save with its retries (the pairs stay parked if those fail too);
5. drops the parked copies in one pipeline and releases each lock.
Steps 3-5 are one task shielded from the caller's cancellation, like a single refresh. The batch
waits for its slowest refresh (two token calls, REFRESH_CALL_TIMEOUT each) before saving: far
inside LOCK_TIMEOUT, and nobody uses a keep-alive's token meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from redis.exceptions import RedisError
from sqlalchemy import DateTime, Integer, String, Text, column, func, update, values
from sqlalchemy.exc import SQLAlchemyError

from connections.token_outcomes import (
    ACCESS_FIELD,
    REFRESH_FIELD,
    ERROR,
    REFRESHED,
    TABLE,
    TRANSIENT_FAILURE,
    RowChanged,
    refresh_lock_key,
)
from models import ZoomConnection, utcnow
from zoom.errors import ZoomTransientError
from zoom.oauth import TokenSet

log = logging.getLogger("token_manager")


@dataclass
class _Held:
    """A connection of the batch whose lock we hold, as read under it."""

    id: str
    lock: Any
    row: Any  # the Core row, or None when it is gone
    done_by_another: Callable[[Any], bool]


@dataclass
class _Rotated:
    held: _Held
    tokens: TokenSet
    received_at: datetime
    parked: bytes | None  # the parked ciphertext, None when Redis could not take it


class BatchRefresh:
    """`refresh_many`, a part of TokenManager (it uses the manager's lock, reads and saves)."""

    async def refresh_many(self, due: list[tuple[str, bool, int]]) -> dict[str, str]:
        """`refresh` for several connections, (id, force, seen_version) each; their outcome
        labels by id. `seen_version` is the token_version the caller read when it chose the
        connection: a forced refresh accepts one another worker finished since then."""
        locks = {cid: self._lock(refresh_lock_key(cid)) for cid, _, _ in due}
        tried = await asyncio.gather(*(self._try_lock(lock) for lock in locks.values()),
                                     return_exceptions=True)
        outcomes: dict[str, str] = {}
        held = {item[0]: item for item, got in zip(due, tried) if got is True}
        alone = [item for item, got in zip(due, tried) if got is False]
        batch: list[_Held] = []
        try:
            for item, got in zip(due, tried):
                if isinstance(got, ZoomTransientError):  # Redis away: nothing was sent to Zoom
                    outcomes[item[0]] = TRANSIENT_FAILURE
                elif isinstance(got, BaseException):
                    raise got
            if held:
                ids = sorted(held)
                rows = await self._load_many(ids)
                parked = await self._parked_among(ids)
                for cid in ids:
                    _, force, seen = held[cid]
                    if cid in parked:
                        alone.append(held[cid])
                    else:
                        done = self._done_by_another(None if force else self.REFRESH_AHEAD, seen)
                        batch.append(_Held(cid, locks[cid], rows.get(cid), done))
        except ZoomTransientError as exc:
            log.warning("zoom token refresh of %d connections failed, will retry: %s",
                        len(held), exc)
            outcomes.update((cid, TRANSIENT_FAILURE) for cid in held)
        finally:
            # Locks not handed to the batch (a parked pair, a failed read, a cancel) are freed
            # now rather than left to expire after LOCK_TIMEOUT.
            handed = {h.id for h in batch}
            await asyncio.gather(*(self._release(locks[cid]) for cid in held if cid not in handed))
        results = await asyncio.gather(
            self._shielded(self._batch_holding(batch)),
            *(self._settle(cid, self.refresh(cid, force=force, seen_version=seen))
              for cid, force, seen in alone))
        outcomes.update(results[0])
        outcomes.update((cid, label) for (cid, _, _), label in zip(alone, results[1:]))
        return outcomes

    async def _batch_holding(self, batch: list[_Held]) -> dict[str, str]:
        """Steps 3-5 for the connections whose locks we hold."""
        outcomes: dict[str, str] = {}
        rotated: list[_Rotated] = []
        try:
            async def rotate(held: _Held) -> tuple[str, int, bool]:
                try:
                    self._require_active(held.row)
                    if held.done_by_another(held.row):
                        return (*await self._stored_access(held.row), False)
                    tokens = await self._call_refresh(held.row, held.lock)
                    received_at = utcnow()
                    parked = await self._park(held.row, tokens, received_at)
                    rotated.append(_Rotated(held, tokens, received_at, parked))
                    return "", 0, True  # refreshed once saved (below)
                except RowChanged:
                    return (*await self._as_it_is_now(held.id), False)

            # Every refresh of the batch runs to its end before the locks go (`_settle` keeps
            # one failure from ending the gather): a lock released while its refresh token is
            # at Zoom would let another worker send the same one.
            labels = await asyncio.gather(*(self._settle(h.id, self._outcome(h.id, rotate(h)))
                                            for h in batch))
            outcomes.update((h.id, label) for h, label in zip(batch, labels))
            if rotated:
                outcomes.update(await self._save_all(rotated))
        finally:
            await asyncio.gather(*(self._release(h.lock) for h in batch))
        return outcomes

    async def _save_all(self, rotated: list[_Rotated]) -> dict[str, str]:
        """Step 4: the outcome of each rotated pair once saved (or left parked)."""
        saved = await self._save_batch(rotated)
        if saved is None:  # the statement failed: each pair through the one-row save
            async def one(r: _Rotated) -> tuple[str, int, bool]:
                try:
                    await self._save_rotated(r.held.row, r.tokens, r.received_at, r.held.lock,
                                             r.parked)
                    return "", 0, True
                except RowChanged:
                    return (*await self._as_it_is_now(r.held.id), False)

            labels = await asyncio.gather(*(self._settle(r.held.id, self._outcome(r.held.id, one(r)))
                                            for r in rotated))
            return {r.held.id: label for r, label in zip(rotated, labels)}
        await self._drop_parked_many([(r.held.id, r.parked) for r in rotated if r.parked])
        outcomes = {}
        for r in rotated:
            if r.held.id in saved:
                log.info("zoom connection %s refreshed (token version %d)", r.held.id,
                         r.held.row.token_version + 1)
                outcomes[r.held.id] = REFRESHED
                continue
            # The pair belongs to a grant the row no longer holds (as in `_save_rotated`).
            log.warning("zoom connection %s changed during refresh; new tokens discarded",
                        r.held.id)

            async def as_now(r=r) -> tuple[str, int, bool]:
                await self._revoke_if_disconnected(r.held.id, r.tokens.access_token.get_secret_value())
                return (*await self._as_it_is_now(r.held.id), False)

            outcomes[r.held.id] = await self._settle(r.held.id, self._outcome(r.held.id, as_now()))
        return outcomes

    async def _settle(self, connection_id: str, labelled) -> str:
        """An outcome label, or `error` (logged) when something unforeseen broke this one
        connection's refresh: the others of the batch go on."""
        try:
            return await labelled
        except Exception as exc:
            # Zoom errors carry no token (zoom.errors scrubs them), so the type and text are safe.
            log.warning("keep-alive refresh of connection %s failed: %s: %s", connection_id,
                        type(exc).__name__, str(exc)[:200])
            return ERROR

    async def _save_batch(self, rotated: list[_Rotated]) -> set[str] | None:
        """One UPDATE storing every pair, each row compare-and-swapped on its token_version;
        the ids it stored, or None when the statement failed (it may still have committed: the
        one-row saves then find the version moved and the row holding the pair)."""
        encrypt = self._services.cipher.encrypt
        data = []
        for r in rotated:
            cid, t = r.held.id, r.tokens
            data.append((
                cid, r.held.row.token_version,
                encrypt(t.access_token.get_secret_value(), table=TABLE, row_id=cid, field=ACCESS_FIELD),
                None if t.refresh_token is None else encrypt(
                    t.refresh_token.get_secret_value(), table=TABLE, row_id=cid, field=REFRESH_FIELD),
                t.expires_at(r.received_at),
                " ".join(t.scope) if t.scope else None,
            ))
        new = values(column("id", String), column("version", Integer), column("access", Text),
                     column("refresh", Text), column("expires", DateTime(timezone=True)),
                     column("scopes", Text), name="rotated").data(data)
        z = ZoomConnection.__table__
        statement = (
            update(z)
            .where(z.c.id == new.c.id, z.c.token_version == new.c.version, z.c.status == "active")
            .values(access_token_enc=new.c.access,
                    refresh_token_enc=func.coalesce(new.c.refresh, z.c.refresh_token_enc),
                    access_expires_at=new.c.expires, token_version=new.c.version + 1,
                    consecutive_failures=0, last_refreshed_at=utcnow(),
                    scopes=func.coalesce(new.c.scopes, z.c.scopes))
            .returning(z.c.id)
        )
        try:
            async with asyncio.timeout(self.DB_CALL_TIMEOUT):
                async with self._services.db.autocommit() as c:
                    return {row.id for row in (await c.execute(statement)).all()}
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            log.warning("saving %d rotated pairs in one statement failed (%s); saving them "
                              "one by one", len(rotated), type(exc).__name__)
            return None

    async def _drop_parked_many(self, parked: list[tuple[str, bytes]]) -> None:
        if not parked:
            return
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                await self._parked.drop_many(parked)
        except (RedisError, OSError, TimeoutError) as exc:
            # Harmless: the next holder sees their version is past and drops them.
            log.warning("could not drop %d parked pairs (%s)", len(parked),
                              type(exc).__name__)
