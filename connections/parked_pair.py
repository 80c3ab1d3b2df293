"""A rotated token pair that Zoom has issued but the database has not stored yet.

Why (docs/promises.md#3-one-refresh-and-a-rotated-pair-is-never-lost): once Zoom answers a refresh,
the refresh token in the database is dead. If the save then fails (a database blip, a timeout),
the new pair is the org's only grant, so it is parked here first: AES-256-GCM encrypted
(token_cipher, bound to the connection and this slot), in Redis beside the refresh lock, tagged with
the token_version it replaces. Whoever next holds the connection's lock stores it before asking Zoom
for anything, so the pair is saved exactly once and the dead token is never sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr

from token_cipher import DecryptionError, TokenCipher
from zoom.oauth import TokenSet

FIELD = "parked_pair"
# Longer than any refresh token could be waiting on an outage; Zoom's own lifetime for an unused
# refresh token is at least ~90 days (docs/zoom.md#refresh-token-lifetime).
KEEP = timedelta(days=90)

# Compare-and-delete: drop the parked pair only if it is still the one this caller saw.
DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def parked_pair_key(connection_id: str) -> str:
    return f"zoom:parked-pair:{connection_id}"


@dataclass(frozen=True)
class ParkedPair:
    replaces_version: int  # the row's token_version when Zoom rotated
    tokens: TokenSet
    received_at: datetime  # when Zoom answered: the access token's expiry counts from here
    ciphertext: bytes  # as stored, for compare-and-delete


class ParkedPairs:
    def __init__(self, redis, cipher: TokenCipher) -> None:
        self._redis = redis
        self._cipher = cipher

    def _binding(self, connection_id: str) -> dict:
        return {"table": "redis", "row_id": connection_id, "field": FIELD}

    async def park(self, connection_id: str, replaces_version: int, tokens: TokenSet,
                   received_at: datetime) -> bytes:
        plain = json.dumps({
            "replaces_version": replaces_version,
            "received_at": received_at.isoformat(),
            "access_token": tokens.access_token.get_secret_value(),
            "refresh_token": tokens.refresh_token.get_secret_value() if tokens.refresh_token else None,
            "expires_in": tokens.expires_in,
            "scope": tokens.scope,
        })
        ciphertext = self._cipher.encrypt(plain, **self._binding(connection_id)).encode()
        await self._redis.set(parked_pair_key(connection_id), ciphertext, ex=KEEP)
        return ciphertext

    async def get(self, connection_id: str) -> ParkedPair | None:
        ciphertext = await self._redis.get(parked_pair_key(connection_id))
        if ciphertext is None:
            return None
        try:
            data = json.loads(self._cipher.decrypt(ciphertext.decode(), **self._binding(connection_id)))
        except DecryptionError:
            return None  # written under a key this process does not load: leave it for one that does
        tokens = TokenSet(
            access_token=SecretStr(data["access_token"]),
            refresh_token=SecretStr(data["refresh_token"]) if data["refresh_token"] else None,
            expires_in=data["expires_in"], scope=data["scope"],
        )
        return ParkedPair(data["replaces_version"], tokens,
                          datetime.fromisoformat(data["received_at"]), ciphertext)

    async def present(self, connection_ids: list[str]) -> set[str]:
        """Which of these connections have a pair parked, in one round trip."""
        found = await self._redis.mget([parked_pair_key(cid) for cid in connection_ids])
        return {cid for cid, ciphertext in zip(connection_ids, found) if ciphertext is not None}

    async def drop_many(self, parked: list[tuple[str, bytes]]) -> None:
        """`drop` for several (connection id, ciphertext), in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for connection_id, ciphertext in parked:
                pipe.eval(DELETE_IF_EQUAL, 1, parked_pair_key(connection_id), ciphertext)
            await pipe.execute()

    async def drop(self, connection_id: str, ciphertext: bytes) -> None:
        await self._redis.eval(DELETE_IF_EQUAL, 1, parked_pair_key(connection_id), ciphertext)
