"""Encryption of OAuth tokens before they reach a database column (AES-256-GCM).

Why it looks like this:
- The ciphertext is a printable string (`v1.<kid>.<base64url(nonce || ciphertext || tag)>`) so it
  fits a TEXT column and shows at a glance which key wrote it, which is what key rotation needs.
- The associated data binds each ciphertext to the table, row id, field and key id it was written
  for. A token copied into another org's row (or from the refresh column into the access column)
  then fails authentication instead of silently working for the wrong tenant.
- Several keys can be loaded at once: the first encrypts, all decrypt, so keys can be rotated
  without a flag day; `needs_rotation` tells a re-encryption job which values still use an old key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16

# Key ids appear inside the ciphertext string and the associated data, so keep them to characters
# that can neither break the `.`-separated format nor need escaping anywhere they are shown.
_KID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_B64URL_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


class DecryptionError(Exception):
    """A stored value could not be decrypted.

    Messages name the key id or the binding that failed, never the plaintext or key material, so
    they are safe to log and to show to an operator.
    """


def generate_key() -> str:
    """A fresh random AES-256 key, standard base64, ready for `TOKEN_ENCRYPTION_KEYS=kid:<key>`."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode_strict(text: str) -> bytes:
    """Decode unpadded base64url, rejecting anything but the one canonical spelling.

    Lenient decoders ignore stray characters and the unused low bits of the last character, so two
    different strings could decode to the same bytes; a changed character must never go unnoticed.
    """
    if not _B64URL_PATTERN.fullmatch(text):
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None
    if _b64url_encode(data) != text:
        raise ValueError("not canonical base64url")
    return data


def _associated_data(kid: str, table: str, row_id: str, field: str) -> bytes:
    # Each part is length-prefixed: with a plain separator, ("a|b", "c") and ("a", "b|c") would bind
    # to the same bytes.
    parts = [FORMAT_VERSION, kid, table, row_id, field]
    encoded = [p.encode("utf-8") for p in parts]
    return b"|".join(b"%d:%s" % (len(p), p) for p in encoded)


def _describe_binding(table: str, row_id: str, field: str) -> str:
    return f"table={table!r} row_id={row_id!r} field={field!r}"


class TokenCipher:
    """Encrypts and decrypts token strings bound to the database cell they live in."""

    def __init__(self, keys: dict[str, bytes]):
        if not keys:
            raise ValueError("TokenCipher needs at least one key")
        aeads: dict[str, AESGCM] = {}
        for kid, key in keys.items():
            if not isinstance(kid, str) or not _KID_PATTERN.fullmatch(kid):
                raise ValueError(
                    f"key id {kid!r} is not allowed: use 1-64 characters from A-Z a-z 0-9 _ -"
                )
            if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
                size = len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__
                raise ValueError(f"key {kid!r} must be {KEY_BYTES} bytes for AES-256, got {size}")
            aeads[kid] = AESGCM(bytes(key))
        self._aeads = aeads
        self._primary_kid = next(iter(aeads))

    @classmethod
    def from_settings(cls, settings: Any) -> "TokenCipher":
        """Build from `settings.encryption_keys` (already parsed and length-checked there)."""
        return cls(settings.encryption_keys)

    @property
    def primary_key_id(self) -> str:
        """The key id new ciphertexts are written with."""
        return self._primary_kid

    def __repr__(self) -> str:
        return f"TokenCipher(key_ids={list(self._aeads)!r})"

    def encrypt(self, plaintext: str, *, table: str, row_id: str, field: str) -> str:
        kid = self._primary_kid
        # A random 96-bit nonce per call: GCM breaks if a (key, nonce) pair is ever reused, and a
        # counter would need state shared by every process that writes tokens.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[kid].encrypt(
            nonce, plaintext.encode("utf-8"), _associated_data(kid, table, row_id, field)
        )
        return f"{FORMAT_VERSION}.{kid}.{_b64url_encode(nonce + sealed)}"

    def decrypt(self, ciphertext: str, *, table: str, row_id: str, field: str) -> str:
        kid, blob = self._split(ciphertext)
        aead = self._aeads.get(kid)
        if aead is None:
            raise DecryptionError(
                f"ciphertext was written with key id {kid!r}, which is not loaded "
                f"(loaded: {', '.join(self._aeads)}); add it to TOKEN_ENCRYPTION_KEYS"
            )
        nonce, sealed = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        try:
            plain = aead.decrypt(nonce, sealed, _associated_data(kid, table, row_id, field))
        except InvalidTag:
            raise DecryptionError(
                f"ciphertext under key id {kid!r} does not authenticate for "
                f"{_describe_binding(table, row_id, field)}: it was altered, or written for "
                "another row, field or table"
            ) from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:  # only reachable if someone encrypted non-UTF-8 by hand
            raise DecryptionError(f"plaintext under key id {kid!r} is not UTF-8") from None

    def key_id_of(self, ciphertext: str) -> str:
        """The key id a ciphertext names (not checked against the loaded keys)."""
        return self._split(ciphertext)[0]

    def needs_rotation(self, ciphertext: str) -> bool:
        """True when the value was written with a key other than the current encryption key."""
        return self.key_id_of(ciphertext) != self._primary_kid

    @staticmethod
    def _split(ciphertext: str) -> tuple[str, bytes]:
        if not isinstance(ciphertext, str):
            raise DecryptionError(f"ciphertext must be a string, got {type(ciphertext).__name__}")
        parts = ciphertext.split(".")
        if len(parts) != 3:
            raise DecryptionError(
                "malformed ciphertext: expected 'v1.<key id>.<data>' with exactly three parts"
            )
        version, kid, body = parts
        if version != FORMAT_VERSION:
            raise DecryptionError(
                f"unsupported ciphertext format {version[:8]!r}; expected {FORMAT_VERSION!r}"
            )
        if not _KID_PATTERN.fullmatch(kid):
            raise DecryptionError("malformed ciphertext: the key id part is not a valid key id")
        try:
            blob = _b64url_decode_strict(body)
        except ValueError:
            raise DecryptionError(
                f"malformed ciphertext under key id {kid!r}: data is not canonical base64url"
            ) from None
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"malformed ciphertext under key id {kid!r}: data is too short")
        return kid, blob
