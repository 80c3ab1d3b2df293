"""What the token manager and its batch refresh (connections/token_batch.py) share: the outcome
labels of a keep-alive refresh, where tokens are stored (the cipher binds each ciphertext to its
cell), the refresh lock's key and the signal of a row changed under a refresh. Names stay
importable from connections.tokens."""

from __future__ import annotations

TABLE = "zoom_connections"
ACCESS_FIELD = "access_token_enc"
REFRESH_FIELD = "refresh_token_enc"

# Outcome labels of `TokenManager.refresh()`, for the scheduled refresh workflow.
REFRESHED = "refreshed"
NOT_DUE = "not_due"
EXPIRED = "expired"  # the grant is dead: the connection was marked expired just now
TRANSIENT_FAILURE = "transient_failure"  # Zoom or the network failed; try again later
NOT_ACTIVE = "not_active"  # nothing to refresh: not connected, disconnected, expired, revoked
ERROR = "error"  # something unforeseen (logged); the keep-alive counts it and goes on


class RowChanged(Exception):
    """The row's token_version moved while a refresh was in flight."""


def refresh_lock_key(connection_id: str) -> str:
    return f"zoom:refresh-lock:{connection_id}"
