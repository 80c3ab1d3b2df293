"""The one place that hands out Zoom access tokens: an org's (OAuth) and the system account's (S2S).

Why it is built like this (docs/zoom.md#token-rotation, docs/promises.md#3-one-refresh-and-a-rotated-pair-is-never-lost):
- Zoom rotates refresh tokens: each works once. Two workers refreshing with the same one leave
  the loser with `invalid_grant`, and a careless loser then marks a healthy connection dead. So a
  refresh runs under a Redis lock per connection, re-reads the row once it holds the lock (another
  worker may have refreshed meanwhile), and saves the new pair with a compare-and-swap on
  `token_version` before the new access token is handed to anyone.
- The lock must not lapse while its holder talks to Zoom, or a second worker sends the same
  refresh token: each token call is cut off after `REFRESH_CALL_TIMEOUT`, the lock's time is
  renewed before the one repeated call, and a holder that finds its lock gone never expires the
  connection (the other worker's save decides).
- Once Zoom has been asked to rotate, the answer is saved even if the caller goes away (an
  activity timing out, a worker shutting down): the refresh and the save run as one task that a
  cancelled caller does not cancel. A rotated pair nobody saved would leave a dead refresh token
  in the database.
- A save can fail after Zoom rotated (the database drops or hangs). The pair is parked in Redis,
  encrypted, the moment Zoom answers (connections/parked_pair.py); each save attempt and each row
  read is bounded by DB_CALL_TIMEOUT so the lock's time is never eaten unnoticed, a failed save is
  retried with the lock renewed, and the next holder of the lock stores a parked pair before it
  would send the row's (dead) refresh token.
- A dead grant (`invalid_grant`, "Invalid Token!") is final: the connection becomes `expired` and
  bookings fall back to the system account; retrying would only get the app flagged. Network
  errors, 5xx and 429 are transient: the connection stays active and the caller retries later.
  A stored token that cannot be decrypted is as unusable as a refused one: the booking falls back
  at once (reason `token_undecryptable`) instead of failing every attempt until it starts. The
  connection expires only when the token does not authenticate under a key this process has; a
  key id it does not load may be a deploy that has not reached it yet (a new first key in
  TOKEN_ENCRYPTION_KEYS), and expiring would destroy grants every other process can still use.
- A refresh whose answer was lost may have rotated the token at Zoom already. The old refresh
  token is tried once more; if Zoom says it is dead, the connection expires with
  `refresh_response_lost`, a reason that tells ops what happened rather than a vague failure.
- Decrypted tokens live only in this process's memory for the length of a call; the database and
  Redis hold ciphertext only. The S2S token is shared through Redis (encrypted) so that all
  workers use one token instead of invalidating each other's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator, Awaitable, Callable

from redis.exceptions import LockError, RedisError
from sqlalchemy import Row, select, update
from sqlalchemy.exc import SQLAlchemyError

from connections.parked_pair import DELETE_IF_EQUAL, ParkedPairs
from connections.token_batch import BatchRefresh
from connections.token_outcomes import (  # noqa: F401 (the labels are imported from here)
    ACCESS_FIELD,
    REFRESH_FIELD,
    TABLE,
    EXPIRED,
    NOT_ACTIVE,
    NOT_DUE,
    REFRESHED,
    TRANSIENT_FAILURE,
    RowChanged as _RowChanged,
    refresh_lock_key,
)
from models import ZoomConnection, utcnow
from token_cipher import DecryptionError
from zoom.client import ZoomApi
from zoom.errors import (
    ZoomClientAuthError,
    ZoomError,
    ZoomGrantDead,
    ZoomRefreshOutcomeUnknown,
    ZoomTransientError,
)
from zoom.oauth import TokenSet, ZoomOAuth, ZoomS2S

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

log = logging.getLogger("token_manager")

# Status reasons this module writes.
REFRESH_FAILED = "refresh_failed"
REFRESH_RESPONSE_LOST = "refresh_response_lost"
TOKEN_UNDECRYPTABLE = "token_undecryptable"
# ConnectionUnavailable.detail when this process lacks the key a token was written with.
KEY_NOT_LOADED = "key_not_loaded"
# The reasons a call gives when it expired the connection itself, just now.
_EXPIRED_NOW = (REFRESH_FAILED, REFRESH_RESPONSE_LOST, TOKEN_UNDECRYPTABLE)

S2S_BINDING = {"table": "redis", "row_id": "s2s", "field": "access_token"}

# The row as the token manager reads it: a Core row (attribute access like the model's, without
# building an ORM object per read).
_CONNECTIONS = ZoomConnection.__table__
StoredRow = Row


class ConnectionUnavailable(Exception):
    """The org's Zoom connection cannot give a token, so the booking falls back to the system
    account. `reason`: not_connected | disconnected | expired | revoked (the stored status), or
    refresh_failed | refresh_response_lost | token_undecryptable when this call found the grant
    unusable and expired it, or system_account_not_configured. `detail` is the stored
    status_reason, if any, or key_not_loaded (token_undecryptable, connection left as it is)."""

    def __init__(self, reason: str, message: str | None = None, *, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(message or f"Zoom connection unavailable: {reason}"
                         + (f" ({detail})" if detail else ""))


class ZoomNotConfigured(ZoomClientAuthError):
    """ZOOM_CLIENT_ID / _SECRET are not set: this server cannot connect orgs to Zoom, refresh or
    revoke their tokens. A ZoomClientAuthError, so a refresh treats it as our configuration's
    fault and never as a reason to expire an org's grant."""

    def __init__(self) -> None:
        super().__init__("ZOOM_CLIENT_ID / ZOOM_CLIENT_SECRET are not set")


def zoom_oauth(services: Services) -> ZoomOAuth:
    """Converge's user-managed OAuth app, as configured; ZoomNotConfigured when it is not."""
    st = services.settings
    if not (st.zoom_client_id and st.zoom_client_secret):
        raise ZoomNotConfigured()
    return ZoomOAuth(services.http, st.zoom_oauth_base_url, st.zoom_client_id, st.zoom_client_secret)


def tokens_destroyed(status: str, reason: str | None, at: datetime) -> dict:
    """Column values that end a connection's grant here: the new status, no tokens, and a new
    token_version, so a refresh in flight loses its compare-and-swap instead of writing back."""
    return {
        "status": status, "status_reason": reason, "status_changed_at": at,
        "access_token_enc": None, "refresh_token_enc": None, "access_expires_at": None,
        "token_version": ZoomConnection.token_version + 1,
    }


class OrgZoomApi(ZoomApi):
    """A ZoomApi acting as an org's user. `token_version` is the version of the stored token it
    last used: a caller that learns from Zoom that this grant cannot host (e.g. its user is gone)
    passes it to `mark_expired`, so a reconnect made in the meantime is not expired with it."""

    token_version: int | None = None


def s2s_cache_key(settings) -> str:
    """Where the shared S2S token lives in Redis. A token belongs to one issuer, account and app,
    so the key names them (hashed): changed credentials never pick up a stale token."""
    identity = "|".join((settings.zoom_oauth_base_url, settings.zoom_s2s_account_id or "",
                         settings.zoom_s2s_client_id or ""))
    return f"zoom:s2s:{hashlib.sha256(identity.encode()).hexdigest()[:16]}:access_token"


class TokenManager(BatchRefresh):
    # A token handed out stays valid at least this long: long enough for any one Zoom call.
    MARGIN = timedelta(minutes=5)
    # The scheduled refresh renews tokens of connections with a Zoom call due that expire within
    # this window, so those bookings rarely have to refresh in their own path (activities/token_refresh.py).
    REFRESH_AHEAD = timedelta(minutes=15)
    # One token-endpoint call, whatever the HTTP client's own timeouts add up to (pool, connect,
    # write and read can each take their full time): past this it counts as a lost answer.
    REFRESH_CALL_TIMEOUT = 15.0
    # The lock outlives the slowest refresh (two token calls of REFRESH_CALL_TIMEOUT each, and
    # its time is renewed before the second, plus the save), so it cannot lapse while a refresh
    # is in flight; waiters give up well before a caller would. Callers that wait on a refresh
    # (resolve_booking_host) allow LOCK_WAIT plus two token calls.
    LOCK_TIMEOUT = 60.0
    LOCK_WAIT = 30.0
    LOCK_POLL = 0.05
    # One database read or save of the row: a hung database must not eat the lock's time
    # unnoticed. A save that fails after Zoom rotated is retried this many times, the lock renewed
    # before each retry; if all fail the pair stays parked (connections/parked_pair.py).
    DB_CALL_TIMEOUT = 5.0
    REDIS_CALL_TIMEOUT = 5.0
    SAVE_ATTEMPTS = 3
    SAVE_RETRY_DELAY = 0.2
    # The shared S2S token leaves Redis this long before Zoom would reject it.
    S2S_EARLY = 300

    def __init__(self, services: Services) -> None:
        self._services = services
        # Refreshes running on after their caller was cancelled: asyncio keeps only weak
        # references to tasks, and one collected mid-flight would lose the rotated pair.
        self._inflight: set[asyncio.Task] = set()
        self._parked = ParkedPairs(services.redis, services.cipher)

    def __repr__(self) -> str:
        return "TokenManager()"

    # --- org tokens ---------------------------------------------------------------------------

    async def org_access_token(self, connection_id: str) -> str:
        """An access token valid for at least `MARGIN`, refreshed here when needed.

        Raises ConnectionUnavailable (the booking falls back to the system account) or a
        ZoomTransientError (try again later)."""
        token, _ = await self._org_token(connection_id)
        return token

    async def forget_org_access_token(
        self, connection_id: str, *, rejected_token: str | None = None
    ) -> None:
        """Zoom refused the access token (code 124): make the next `org_access_token` refresh.

        With `rejected_token`, nothing happens if the stored token is already another one (a
        parallel caller refreshed it): forgetting that one would waste a refresh."""
        row = await self._load(connection_id)
        if row is None or row.access_token_enc is None:
            return
        if rejected_token is not None:
            try:
                if self._decrypt(row, ACCESS_FIELD) != rejected_token:
                    return
            except DecryptionError:
                pass  # forgetting it is harmless; the next use finds it undecryptable
        past = datetime(2000, 1, 1, tzinfo=timezone.utc)
        async with self._services.db.autocommit() as c:
            await c.execute(
                update(ZoomConnection)
                .where(ZoomConnection.id == connection_id,
                       ZoomConnection.token_version == row.token_version)
                .values(access_expires_at=past)
            )

    async def refresh(self, connection_id: str, *, force: bool = False,
                      seen_version: int | None = None) -> str:
        """Refresh if due (or `force`), for the scheduled workflow; returns an outcome label
        (REFRESHED, NOT_DUE, EXPIRED, TRANSIENT_FAILURE, NOT_ACTIVE) instead of raising.

        `seen_version`: the token_version the caller read when it chose this connection (the
        sweep's page); a forced refresh accepts one another worker finished since then."""
        row = await self._load(connection_id)
        if row is None or row.status != "active":
            return NOT_ACTIVE
        if not force and self._fresh(row, self.REFRESH_AHEAD):
            return NOT_DUE
        return await self._outcome(connection_id, self._refresh_locked(
            connection_id,
            due_within=None if force else self.REFRESH_AHEAD,
            seen_version=row.token_version if seen_version is None else seen_version,
        ))

    async def _outcome(self, connection_id: str, refreshing: Awaitable[tuple[str, int, bool]]) -> str:
        """The outcome label of one refresh under way."""
        try:
            _, _, refreshed = await refreshing
            return REFRESHED if refreshed else NOT_DUE
        except ConnectionUnavailable as exc:
            if exc.detail == KEY_NOT_LOADED:
                return TRANSIENT_FAILURE
            return EXPIRED if exc.reason in _EXPIRED_NOW else NOT_ACTIVE
        except (ZoomError, LockError) as exc:
            log.warning("zoom token refresh of connection %s failed, will retry: %s",
                        connection_id, exc)
            return TRANSIENT_FAILURE

    async def _as_it_is_now(self, connection_id: str) -> tuple[str, int]:
        """A reconnect or disconnect wrote the row while Zoom was answering: whatever Zoom said
        was about tokens no longer stored, and the row as it is now is the truth."""
        current = await self._load(connection_id)
        self._require_active(current)
        return await self._stored_access(current)

    async def mark_expired(self, connection_id: str, reason: str, *,
                           expected_version: int | None = None) -> bool:
        """Mark an active connection expired (tokens destroyed): the org has to reconnect.

        Pass `expected_version` (OrgZoomApi.token_version) when the reason comes from a Zoom
        answer to a token: only that grant expires, not one a reconnect stored since. Returns
        whether the connection changed."""
        return await self._expire(connection_id, reason, expected_version=expected_version)

    def org_api(self, connection_id: str) -> OrgZoomApi:
        """A Zoom client acting as the org's connected user; a 124 refreshes once and retries."""

        async def get_token() -> str:
            token, api.token_version = await self._org_token(connection_id)
            return token

        async def forget(rejected: str | None) -> None:
            await self.forget_org_access_token(connection_id, rejected_token=rejected)

        api = self._api(OrgZoomApi, get_token, forget)
        return api

    @asynccontextmanager
    async def refresh_lock(self, connection_id: str) -> AsyncIterator[bool]:
        """Hold the connection's refresh lock while rewriting its tokens elsewhere (disconnect),
        so no refresh is between Zoom and the database meanwhile. Waits up to LOCK_WAIT and
        yields whether it got the lock; without it the caller's version check still keeps the
        data right, and a refresh that loses to a disconnect revokes what it got."""
        lock = self._lock(refresh_lock_key(connection_id))
        acquired = await lock.acquire()
        try:
            yield acquired
        finally:
            if acquired:
                await self._release(lock)

    # --- system (S2S) token -------------------------------------------------------------------

    async def system_access_token(self) -> str:
        """The system account's token, fetched once for all workers and cached (encrypted) in Redis.

        Without Redis it is a transient failure, not a fetch of our own: a new S2S token may end
        the one the other workers hold (docs/zoom.md#server-to-server-oauth), so callers wait."""
        try:
            return await self._shared_system_token()
        except RedisError as exc:
            raise ZoomTransientError(
                f"Redis is unavailable ({type(exc).__name__}), so the shared system Zoom token "
                "cannot be read; try again shortly"
            ) from None

    async def _shared_system_token(self) -> str:
        token = await self._cached_system_token()
        if token is not None:
            return token
        lock = self._lock(self._s2s_key() + ":lock")
        if not await lock.acquire():
            raise ZoomTransientError("another worker is fetching the system Zoom token; try again")
        try:
            token = await self._cached_system_token()
            if token is not None:
                return token
            tokens = await self._s2s().fetch_token()
            token = tokens.access_token.get_secret_value()
            ttl = max(tokens.expires_in - self.S2S_EARLY, 30)
            ciphertext = self._services.cipher.encrypt(token, **S2S_BINDING)
            await self._services.redis.set(self._s2s_key(), ciphertext, ex=ttl)
            return token
        finally:
            await self._release(lock)

    async def forget_system_access_token(self, *, rejected_token: str | None = None) -> None:
        """Zoom refused the system token: drop it from Redis, unless another worker has already
        replaced it (then `rejected_token` no longer matches and the new one stays)."""
        redis, key = self._services.redis, self._s2s_key()
        ciphertext = await redis.get(key)
        if ciphertext is None:
            return
        if rejected_token is not None and self._decrypt_cached(ciphertext) not in (None, rejected_token):
            return
        await redis.eval(DELETE_IF_EQUAL, 1, key, ciphertext)

    def system_api(self) -> ZoomApi:
        """A Zoom client acting as Converge's system account (pass host user ids, never `me`)."""

        async def forget(rejected: str | None) -> None:
            await self.forget_system_access_token(rejected_token=rejected)

        return self._api(ZoomApi, self.system_access_token, forget)

    def _api(self, cls: type[ZoomApi], get_token: Callable[[], Awaitable[str]],
             forget: Callable[[str | None], Awaitable[None]]) -> ZoomApi:
        """A client whose 124 forgets exactly the token Zoom refused, not a newer one a parallel
        caller stored meanwhile."""
        handed_out: list[str] = []

        async def token() -> str:
            handed_out[:] = [await get_token()]
            return handed_out[0]

        async def on_rejected() -> None:
            await forget(handed_out[0] if handed_out else None)

        s = self._services
        return cls(s.http, s.settings.zoom_api_base_url, token, on_rejected)

    # --- refresh, under the lock --------------------------------------------------------------

    async def _org_token(self, connection_id: str) -> tuple[str, int]:
        """(an access token valid for MARGIN, the token_version it is stored under)."""
        row = await self._load(connection_id)
        self._require_active(row)
        if self._fresh(row, self.MARGIN):
            return await self._stored_access(row)
        token, version, _ = await self._refresh_locked(connection_id, due_within=self.MARGIN)
        return token, version

    async def _refresh_locked(
        self,
        connection_id: str,
        *,
        due_within: timedelta | None,
        seen_version: int | None = None,
    ) -> tuple[str, int, bool]:
        """Refresh under the connection's lock; (the access token now stored, its token_version,
        whether we refreshed).

        `due_within` None means forced; then `seen_version` lets a forced refresh that waited for
        the lock accept a refresh another worker finished meanwhile instead of doing a second."""
        done_by_another = self._done_by_another(due_within, seen_version)
        lock = self._lock(refresh_lock_key(connection_id))
        deadline = asyncio.get_running_loop().time() + self.LOCK_WAIT
        # Waiters poll the row as well as the lock: when the holder has saved a fresh token,
        # every waiter returns it at once instead of queueing for the lock one by one.
        while not await self._try_lock(lock):
            if asyncio.get_running_loop().time() > deadline:
                raise ZoomTransientError(
                    "the Zoom token of this connection is being refreshed by another worker; "
                    "try again shortly"
                )
            await asyncio.sleep(self.LOCK_POLL)
            row = await self._load(connection_id)
            self._require_active(row)
            if done_by_another(row):
                return (*await self._stored_access(row), False)
        return await self._shielded(self._refresh_holding(lock, connection_id, done_by_another))

    def _done_by_another(self, due_within: timedelta | None,
                         seen_version: int | None) -> Callable[[StoredRow], bool]:
        """Whether a row read under the lock needs no refresh from us any more."""
        def done_by_another(row: StoredRow) -> bool:
            if due_within is not None:
                return self._fresh(row, due_within)
            return row.token_version != seen_version and self._fresh(row, self.MARGIN)
        return done_by_another

    def _shielded(self, holding: Awaitable) -> Awaitable:
        """Run the work of a lock holder as its own task, shielded from the caller's
        cancellation: it releases the lock only once whatever Zoom answered is saved (or known
        to be useless)."""
        work = asyncio.ensure_future(holding)
        self._inflight.add(work)
        work.add_done_callback(self._settled)
        return asyncio.shield(work)

    async def _try_lock(self, lock) -> bool:
        """One non-blocking try for the refresh lock. Redis away (down, or not answering within
        REDIS_CALL_TIMEOUT) is a transient failure: nothing was sent to Zoom, the caller retries
        later (a booking's activity by its retry policy, the keep-alive on its next sweep), and
        a token that is still valid never needed the lock (`_org_token`)."""
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                return await lock.acquire(blocking=False)
        except (RedisError, OSError, TimeoutError) as exc:
            raise ZoomTransientError(
                f"Redis is unavailable ({type(exc).__name__}), so the Zoom token cannot be "
                "refreshed safely now; try again shortly"
            ) from None

    def _settled(self, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        if not task.cancelled():
            task.exception()  # a caller that went away never reads it; don't log it as lost

    async def _refresh_holding(
        self, lock, connection_id: str, done_by_another: Callable[[StoredRow], bool]
    ) -> tuple[str, int, bool]:
        try:
            # Re-read under the lock: another worker may have refreshed since we looked.
            row = await self._load(connection_id)
            self._require_active(row)
            try:
                # A pair an earlier holder got from Zoom but could not store comes first: the
                # refresh token in the row is already dead.
                row = await self._finish_parked(row, lock)
                if done_by_another(row):
                    return (*await self._stored_access(row), False)
                tokens = await self._call_refresh(row, lock)
                received_at = utcnow()
                parked = await self._park(row, tokens, received_at)
                access = await self._save_rotated(row, tokens, received_at, lock, parked)
                return access, row.token_version + 1, True
            except _RowChanged:
                return (*await self._as_it_is_now(connection_id), False)
        finally:
            await self._release(lock)

    async def _call_refresh(self, row: ZoomConnection, lock) -> TokenSet:
        try:
            refresh_token = self._decrypt(row, REFRESH_FIELD)
        except DecryptionError as exc:
            raise await self._undecryptable(row, REFRESH_FIELD, exc) from None
        oauth = zoom_oauth(self._services)
        try:
            return await self._send_refresh(oauth, refresh_token)
        except ZoomGrantDead:
            raise await self._dead(row, REFRESH_FAILED, lock) from None
        except ZoomRefreshOutcomeUnknown as first:
            log.warning("zoom refresh of connection %s lost its answer (%s); trying the same "
                        "refresh token once more", row.id, first)
        except ZoomError:
            # Transient, or our own client credentials: never a reason to expire the org's grant.
            await self._count_failure(row)
            raise
        # Renew the lock's full time before sending again; if it lapsed, another worker may be
        # refreshing with this same token right now, and a second send would race it.
        if not await self._renew(lock):
            await self._count_failure(row)
            raise ZoomTransientError(
                "the refresh lock lapsed while Zoom's answer was lost; the refresh token was not "
                "sent again"
            ) from None
        # The first answer was lost: if Zoom rotated, this old token is dead now and says so.
        try:
            return await self._send_refresh(oauth, refresh_token)
        except ZoomGrantDead:
            raise await self._dead(row, REFRESH_RESPONSE_LOST, lock) from None
        except ZoomError:
            await self._count_failure(row)
            raise

    async def _send_refresh(self, oauth: ZoomOAuth, refresh_token: str) -> TokenSet:
        """One refresh call, bounded so the lock always outlives it. Cut off, it may still have
        reached Zoom: that is a lost answer, not a failure to send."""
        try:
            async with asyncio.timeout(self.REFRESH_CALL_TIMEOUT):
                return await oauth.refresh(refresh_token)
        except TimeoutError:
            raise ZoomRefreshOutcomeUnknown(
                f"Zoom /oauth/token did not answer within {self.REFRESH_CALL_TIMEOUT:g} s"
            ) from None

    async def _dead(self, row: ZoomConnection, reason: str, lock) -> ConnectionUnavailable:
        """Expire the connection for a dead grant; the exception for the caller to raise."""
        if not await self._still_owned(lock):
            # Our lock lapsed, so another worker may have refreshed with this same token: that
            # is why Zoom calls it dead, and its save (not our verdict) decides.
            await self._count_failure(row)
            raise ZoomTransientError(
                "Zoom refused the refresh token after this worker's refresh lock had lapsed; "
                "another worker may have rotated it, so the connection was left as it is"
            )
        if not await self._expire(row.id, reason, expected_version=row.token_version):
            raise _RowChanged()
        log.warning("zoom connection %s expired: %s", row.id, reason)
        return ConnectionUnavailable(reason)

    async def _undecryptable(self, row: ZoomConnection, field: str, exc: DecryptionError) -> Exception:
        """A stored token of `row` cannot be decrypted: the caller falls back (booking) or
        reports a failure (keep-alive). The exception for the caller to raise.

        Altered, misbound or garbled ciphertext is useless to every process: the connection
        expires so the org sees it must reconnect. A key id this process does not load may be
        one that was dropped or one not deployed here yet; the row is left alone, and the log
        names the key id for ops."""
        kid = self._missing_key_id(getattr(row, field))
        if kid is not None:
            log.error("zoom connection %s: its %s was written with key id %r, which this process "
                      "does not load; add it to TOKEN_ENCRYPTION_KEYS (connection left as it is)",
                      row.id, field, kid)
            return ConnectionUnavailable(TOKEN_UNDECRYPTABLE, detail=KEY_NOT_LOADED)
        if not await self._expire(row.id, TOKEN_UNDECRYPTABLE, expected_version=row.token_version):
            # Rewritten meanwhile (a refresh or reconnect under a current key): look again.
            return ZoomTransientError("the Zoom connection changed while its token was read; try again")
        log.error("zoom connection %s expired: a stored token cannot be decrypted (%s)", row.id, exc)
        return ConnectionUnavailable(TOKEN_UNDECRYPTABLE)

    async def _park(self, row: ZoomConnection, tokens: TokenSet, received_at: datetime) -> bytes | None:
        """Keep the pair Zoom just rotated to in Redis until the row holds it. Best effort: if
        Redis is away too, the save below is the only copy, as before."""
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                return await self._parked.park(row.id, row.token_version, tokens, received_at)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("zoom connection %s: could not park the rotated pair (%s); saving it "
                        "directly", row.id, type(exc).__name__)
            return None

    async def _finish_parked(self, row: ZoomConnection, lock) -> ZoomConnection:
        """Store a parked pair that replaces the row's current tokens; the row as it is then.

        A parked pair for another token_version is stale (its save did land, or a reconnect or
        disconnect rewrote the row) and is dropped."""
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                parked = await self._parked.get(row.id)
        except (RedisError, OSError, TimeoutError) as exc:
            raise ZoomTransientError(
                f"Redis did not answer ({type(exc).__name__}); the Zoom token is not refreshed "
                "until it does") from None
        if parked is None:
            return row
        if parked.replaces_version == row.token_version:
            log.warning("zoom connection %s: storing the rotated pair an earlier refresh parked "
                        "when its save failed", row.id)
            await self._save_rotated(row, parked.tokens, parked.received_at, lock, parked.ciphertext)
            current = await self._load(row.id)
            self._require_active(current)
            return current
        await self._drop_parked(row.id, parked.ciphertext)
        return row

    async def _save_rotated(self, row: ZoomConnection, tokens: TokenSet, received_at: datetime,
                            lock, parked: bytes | None) -> str:
        """Store the new pair (CAS on token_version) before anyone may use the access token.

        Each attempt is bounded by DB_CALL_TIMEOUT and retried with the lock renewed; when every
        attempt fails, or the lock lapsed, the pair stays parked for the next holder and the
        caller gets a transient error (the connection stays active)."""
        cipher = self._services.cipher
        access = tokens.access_token.get_secret_value()
        values = {
            "access_token_enc": cipher.encrypt(access, table=TABLE, row_id=row.id, field=ACCESS_FIELD),
            "access_expires_at": tokens.expires_at(received_at),
            "token_version": row.token_version + 1,
            "consecutive_failures": 0,
            "last_refreshed_at": utcnow(),
        }
        if tokens.refresh_token is not None:
            values["refresh_token_enc"] = cipher.encrypt(
                tokens.refresh_token.get_secret_value(), table=TABLE, row_id=row.id,
                field=REFRESH_FIELD,
            )
        if tokens.scope:
            values["scopes"] = " ".join(tokens.scope)
        statement = (
            update(ZoomConnection)
            .where(ZoomConnection.id == row.id,
                   ZoomConnection.token_version == row.token_version,
                   ZoomConnection.status == "active")
            .values(**values)
        )
        for attempt in range(1, self.SAVE_ATTEMPTS + 1):
            try:
                async with asyncio.timeout(self.DB_CALL_TIMEOUT):
                    async with self._services.db.autocommit() as c:
                        result = await c.execute(statement)
                break
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                # A save that timed out may still have committed: the next attempt's CAS then
                # matches nothing and the row, re-read, holds this pair.
                where = "parked in Redis for the next refresh" if parked else "NOT parked"
                log.warning("zoom connection %s: saving the rotated pair failed (attempt %d of "
                            "%d, %s); the pair is %s", row.id, attempt, self.SAVE_ATTEMPTS,
                            type(exc).__name__, where)
                if attempt == self.SAVE_ATTEMPTS:
                    raise ZoomTransientError(
                        f"the database did not store the rotated Zoom token pair; it is {where}"
                    ) from None
                await asyncio.sleep(self.SAVE_RETRY_DELAY * attempt)
                if not await self._renew(lock):
                    # Another worker may hold the lock now; it finds the parked pair and stores it.
                    raise ZoomTransientError(
                        f"the refresh lock lapsed while the rotated pair was being saved; it is {where}"
                    ) from None
        if parked is not None:
            await self._drop_parked(row.id, parked)
        if result.rowcount != 1:
            # The pair we got belongs to a grant the row no longer holds.
            log.warning("zoom connection %s changed during refresh; new tokens discarded", row.id)
            await self._revoke_if_disconnected(row.id, access)
            raise _RowChanged()
        log.info("zoom connection %s refreshed (token version %d)", row.id, row.token_version + 1)
        return access

    async def _revoke_if_disconnected(self, connection_id: str, access_token: str) -> None:
        """A disconnect won the race with this refresh: it revoked the pair it saw, but the pair
        Zoom just handed us is live and nobody else holds it, so end it here (best effort).
        Other losses keep theirs: a reconnect of the same Zoom user has already ended this grant
        at Zoom, and revoking blindly could end a grant someone still uses."""
        current = await self._load(connection_id)
        if current is not None and current.status != "disconnected":
            return
        try:
            await zoom_oauth(self._services).revoke(access_token)
            log.info("zoom connection %s: revoked the pair a refresh got during its disconnect",
                     connection_id)
        except ZoomError as exc:
            log.warning("zoom connection %s: could not revoke the pair a refresh got during its "
                        "disconnect: %s", connection_id, exc)

    async def _count_failure(self, row: StoredRow) -> None:
        # Bounded like every statement under the lock: in a keep-alive batch the other
        # connections' rotated pairs wait, unsaved, for this one (connections/token_batch.py).
        async with self._bounded_db() as c:
            await c.execute(
                update(ZoomConnection)
                .where(ZoomConnection.id == row.id)
                .values(consecutive_failures=ZoomConnection.consecutive_failures + 1)
            )

    async def _expire(self, connection_id: str, reason: str, *, expected_version: int | None) -> bool:
        """active → expired with `reason`, tokens destroyed; False when nothing matched."""
        conditions = [ZoomConnection.id == connection_id, ZoomConnection.status == "active"]
        if expected_version is not None:
            conditions.append(ZoomConnection.token_version == expected_version)
        async with self._bounded_db() as c:
            result = await c.execute(
                update(ZoomConnection)
                .where(*conditions)
                .values(**tokens_destroyed("expired", reason, utcnow()))
            )
        return result.rowcount == 1

    @asynccontextmanager
    async def _bounded_db(self):
        """An autocommit connection whose work must end within DB_CALL_TIMEOUT (a database that
        hangs is a transient failure, never a lock held unnoticed)."""
        try:
            async with asyncio.timeout(self.DB_CALL_TIMEOUT):
                async with self._services.db.autocommit() as c:
                    yield c
        except TimeoutError:
            raise ZoomTransientError(
                f"the database did not answer within {self.DB_CALL_TIMEOUT:g} s") from None

    # --- helpers ------------------------------------------------------------------------------

    async def _load(self, connection_id: str) -> StoredRow | None:
        rows = await self._load_many([connection_id])
        return rows.get(connection_id)

    async def _load_many(self, connection_ids: list[str]) -> dict[str, StoredRow]:
        """The rows by id (absent ones left out), in one query."""
        async with self._bounded_db() as c:
            rows = (await c.execute(
                select(_CONNECTIONS).where(_CONNECTIONS.c.id.in_(connection_ids))
            )).all()
        return {row.id: row for row in rows}

    async def _parked_among(self, connection_ids: list[str]) -> set[str]:
        """Which of these connections have a parked pair (one MGET); Redis away is transient:
        nothing may be sent to Zoom before we know."""
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                return await self._parked.present(connection_ids)
        except (RedisError, OSError, TimeoutError) as exc:
            raise ZoomTransientError(
                f"Redis did not answer ({type(exc).__name__}); the Zoom token is not refreshed "
                "until it does") from None

    async def _drop_parked(self, connection_id: str, parked: bytes) -> None:
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                await self._parked.drop(connection_id, parked)
        except (RedisError, OSError, TimeoutError) as exc:
            # Harmless: the next holder sees its version is past and drops it.
            log.warning("zoom connection %s: could not drop the parked pair (%s)", connection_id,
                        type(exc).__name__)

    @staticmethod
    def _require_active(row: ZoomConnection | None) -> None:
        if row is None:
            raise ConnectionUnavailable("not_connected")
        if row.status != "active":
            raise ConnectionUnavailable(row.status, detail=row.status_reason)
        if not row.access_token_enc or not row.refresh_token_enc:
            raise ConnectionUnavailable("not_connected")  # never written that way; be safe

    @staticmethod
    def _fresh(row: ZoomConnection, margin: timedelta) -> bool:
        return row.access_expires_at is not None and row.access_expires_at - margin > utcnow()

    def _decrypt(self, row: ZoomConnection, field: str) -> str:
        return self._services.cipher.decrypt(getattr(row, field), table=TABLE, row_id=row.id, field=field)

    async def _stored_access(self, row: ZoomConnection) -> tuple[str, int]:
        """(the row's access token, its token_version), or what `_undecryptable` says."""
        try:
            return self._decrypt(row, ACCESS_FIELD), row.token_version
        except DecryptionError as exc:
            raise await self._undecryptable(row, ACCESS_FIELD, exc) from None

    def _missing_key_id(self, ciphertext: str) -> str | None:
        """The key id `ciphertext` names when this process does not load it, else None."""
        try:
            kid = self._services.cipher.key_id_of(ciphertext)
        except DecryptionError:
            return None  # garbled: no key would help
        return None if kid in self._services.settings.encryption_keys else kid

    def _lock(self, name: str):
        # thread_local=False: one event loop runs many holders; the token lives on the object.
        return self._services.redis.lock(
            name, timeout=self.LOCK_TIMEOUT, blocking_timeout=self.LOCK_WAIT,
            sleep=self.LOCK_POLL, thread_local=False,
        )

    async def _renew(self, lock) -> bool:
        """Give the lock its full time again; False if it lapsed or Redis cannot say."""
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                await lock.reacquire()
            return True
        except (RedisError, OSError, TimeoutError):
            return False

    async def _still_owned(self, lock) -> bool:
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                return await lock.owned()
        except (RedisError, OSError, TimeoutError):
            return False  # unknown counts as lapsed: never expire a grant on a guess

    async def _release(self, lock) -> None:
        try:
            async with asyncio.timeout(self.REDIS_CALL_TIMEOUT):
                await lock.release()
        except LockError:
            # It lapsed (a very slow refresh); the version check kept the data right anyway.
            log.warning("zoom token lock %s had expired before release", lock.name)
        except (RedisError, OSError, TimeoutError) as exc:
            # Redis went away after the work was done: the lock expires by itself (LOCK_TIMEOUT)
            # and what was saved stays saved; the caller's token is good.
            log.warning("zoom token lock %s not released, Redis unavailable (%s)", lock.name,
                        type(exc).__name__)

    def _s2s(self) -> ZoomS2S:
        st = self._services.settings
        if not (st.zoom_s2s_account_id and st.zoom_s2s_client_id and st.zoom_s2s_client_secret):
            raise ConnectionUnavailable(
                "system_account_not_configured",
                "ZOOM_S2S_ACCOUNT_ID, ZOOM_S2S_CLIENT_ID and ZOOM_S2S_CLIENT_SECRET are not set",
            )
        return ZoomS2S(self._services.http, st.zoom_oauth_base_url, st.zoom_s2s_account_id,
                       st.zoom_s2s_client_id, st.zoom_s2s_client_secret)

    def _s2s_key(self) -> str:
        return s2s_cache_key(self._services.settings)

    async def _cached_system_token(self) -> str | None:
        ciphertext = await self._services.redis.get(self._s2s_key())
        return None if ciphertext is None else self._decrypt_cached(ciphertext)

    def _decrypt_cached(self, ciphertext: bytes) -> str | None:
        try:
            return self._services.cipher.decrypt(ciphertext.decode(), **S2S_BINDING)
        except DecryptionError:
            # Written under a key no longer loaded (rotation): a cache miss, not an outage.
            return None
