"""Token cipher: round trips, tamper detection, cell binding and key rotation."""

from __future__ import annotations

import base64
import os

import pytest

from settings import load_settings
from token_cipher import DecryptionError, TokenCipher, generate_key

BINDING = {"table": "zoom_connections", "row_id": "org-a-row", "field": "refresh_token_enc"}
SECRET = "eyJhbGciOi.refresh-token-value.sig"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def keys() -> dict[str, bytes]:
    return {"k1": _key()}


@pytest.fixture
def cipher(keys: dict[str, bytes]) -> TokenCipher:
    return TokenCipher(keys)


def _blob(ciphertext: str) -> bytes:
    body = ciphertext.split(".")[2]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


def _with_blob(ciphertext: str, blob: bytes) -> str:
    version, kid, _ = ciphertext.split(".")
    return f"{version}.{kid}.{base64.urlsafe_b64encode(blob).rstrip(b'=').decode()}"


def _assert_no_secret(exc: DecryptionError, keys: dict[str, bytes]) -> None:
    text = str(exc)
    assert SECRET not in text
    for key in keys.values():
        assert base64.b64encode(key).decode() not in text
        assert key.hex() not in text


def test_round_trip(cipher: TokenCipher) -> None:
    ct = cipher.encrypt(SECRET, **BINDING)
    assert ct.startswith("v1.k1.")
    assert SECRET not in ct
    assert ct.isprintable() and " " not in ct
    assert cipher.decrypt(ct, **BINDING) == SECRET


def test_round_trip_unicode_and_empty(cipher: TokenCipher) -> None:
    for text in ("", "ünïcødé ✓", "x" * 5000):
        assert cipher.decrypt(cipher.encrypt(text, **BINDING), **BINDING) == text


def test_same_plaintext_encrypts_differently(cipher: TokenCipher) -> None:
    a = cipher.encrypt(SECRET, **BINDING)
    b = cipher.encrypt(SECRET, **BINDING)
    assert a != b
    assert _blob(a)[:12] != _blob(b)[:12]  # fresh nonce each time
    assert cipher.decrypt(a, **BINDING) == cipher.decrypt(b, **BINDING) == SECRET


@pytest.mark.parametrize(
    "region",
    ["nonce", "body", "tag"],
)
def test_flipped_bit_in_each_region_is_rejected(
    cipher: TokenCipher, keys: dict[str, bytes], region: str
) -> None:
    ct = cipher.encrypt(SECRET, **BINDING)
    blob = bytearray(_blob(ct))
    indexes = {
        "nonce": range(0, 12),
        "body": range(12, len(blob) - 16),
        "tag": range(len(blob) - 16, len(blob)),
    }[region]
    assert len(indexes) > 0
    for i in indexes:
        for bit in (0x01, 0x80):
            tampered = bytearray(blob)
            tampered[i] ^= bit
            with pytest.raises(DecryptionError) as info:
                cipher.decrypt(_with_blob(ct, bytes(tampered)), **BINDING)
            assert "k1" in str(info.value)
            _assert_no_secret(info.value, keys)


def test_every_changed_character_is_rejected(cipher: TokenCipher, keys: dict[str, bytes]) -> None:
    """Header, separators and every base64 character: no single edit may decrypt."""
    ct = cipher.encrypt(SECRET, **BINDING)
    for i, original in enumerate(ct):
        for replacement in {ALPHABET[(ALPHABET.find(original) + 1) % 64], ".", "=", "A", "z"}:
            if replacement == original:
                continue
            tampered = ct[:i] + replacement + ct[i + 1 :]
            with pytest.raises(DecryptionError) as info:
                cipher.decrypt(tampered, **BINDING)
            _assert_no_secret(info.value, keys)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "v1",
        "v1.k1",
        "v1.k1.",
        "v1..AAAA",
        "v2.k1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "v1.k1.AAAA",  # shorter than nonce + tag
        "v1.k1.not base64!",
        "v1.k1.a.b",
        "plain-token-stored-by-mistake",
    ],
)
def test_malformed_strings_are_rejected(cipher: TokenCipher, bad: str) -> None:
    with pytest.raises(DecryptionError):
        cipher.decrypt(bad, **BINDING)


def test_truncated_and_extended_ciphertexts_are_rejected(cipher: TokenCipher) -> None:
    ct = cipher.encrypt(SECRET, **BINDING)
    blob = _blob(ct)
    for tampered in (blob[:-1], blob + b"\x00", blob[1:]):
        with pytest.raises(DecryptionError):
            cipher.decrypt(_with_blob(ct, tampered), **BINDING)


def test_non_string_is_rejected(cipher: TokenCipher) -> None:
    with pytest.raises(DecryptionError):
        cipher.decrypt(b"v1.k1.AAAA", **BINDING)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "override",
    [
        {"row_id": "org-b-row"},
        {"field": "access_token_enc"},
        {"table": "other_table"},
    ],
    ids=["wrong-row", "wrong-field", "wrong-table"],
)
def test_binding_mismatch_is_rejected(
    cipher: TokenCipher, keys: dict[str, bytes], override: dict[str, str]
) -> None:
    ct = cipher.encrypt(SECRET, **BINDING)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(ct, **{**BINDING, **override})
    message = str(info.value)
    assert "k1" in message
    assert next(iter(override.values())) in message  # says which binding was tried
    _assert_no_secret(info.value, keys)


def test_binding_parts_cannot_be_shifted(cipher: TokenCipher) -> None:
    ct = cipher.encrypt(SECRET, table="a|b", row_id="c", field="f")
    with pytest.raises(DecryptionError):
        cipher.decrypt(ct, table="a", row_id="b|c", field="f")


def test_unknown_key_id(cipher: TokenCipher, keys: dict[str, bytes]) -> None:
    other = TokenCipher({"k9": _key()})
    ct = other.encrypt(SECRET, **BINDING)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(ct, **BINDING)
    assert "'k9'" in str(info.value)
    _assert_no_secret(info.value, keys)


def test_same_key_id_with_different_key_fails(cipher: TokenCipher) -> None:
    impostor = TokenCipher({"k1": _key()})
    with pytest.raises(DecryptionError):
        cipher.decrypt(impostor.encrypt(SECRET, **BINDING), **BINDING)


def test_swapping_key_id_in_header_fails() -> None:
    shared = _key()
    # Even with identical key bytes under two ids, the key id is bound into the associated data.
    cipher = TokenCipher({"k1": shared, "k2": shared})
    ct = cipher.encrypt(SECRET, **BINDING)
    with pytest.raises(DecryptionError):
        cipher.decrypt(ct.replace("v1.k1.", "v1.k2.", 1), **BINDING)


def test_rotation() -> None:
    old_key, new_key = _key(), _key()
    before = TokenCipher({"old": old_key})
    old_ct = before.encrypt(SECRET, **BINDING)
    assert not before.needs_rotation(old_ct)

    after = TokenCipher({"new": new_key, "old": old_key})
    assert after.primary_key_id == "new"
    assert after.decrypt(old_ct, **BINDING) == SECRET  # old key still decrypts
    assert after.key_id_of(old_ct) == "old"
    assert after.needs_rotation(old_ct)

    new_ct = after.encrypt(after.decrypt(old_ct, **BINDING), **BINDING)
    assert after.key_id_of(new_ct) == "new"
    assert not after.needs_rotation(new_ct)
    assert after.decrypt(new_ct, **BINDING) == SECRET

    # Once the old key is retired, old values fail loudly, new ones still work.
    retired = TokenCipher({"new": new_key})
    assert retired.decrypt(new_ct, **BINDING) == SECRET
    with pytest.raises(DecryptionError, match="'old'"):
        retired.decrypt(old_ct, **BINDING)


def test_key_id_of_malformed_raises(cipher: TokenCipher) -> None:
    with pytest.raises(DecryptionError):
        cipher.key_id_of("garbage")
    with pytest.raises(DecryptionError):
        cipher.needs_rotation("garbage")


@pytest.mark.parametrize("size", [0, 16, 24, 31, 33, 64])
def test_key_must_be_32_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenCipher({"k1": os.urandom(size)})


def test_key_ids_and_key_set_are_validated() -> None:
    with pytest.raises(ValueError):
        TokenCipher({})
    for kid in ("", "has.dot", "has space", "x" * 65, "pipe|kid"):
        with pytest.raises(ValueError, match="key id"):
            TokenCipher({kid: _key()})
    with pytest.raises(ValueError):
        TokenCipher({"k1": "not-bytes"})  # type: ignore[dict-item]


def test_repr_shows_no_key_material(keys: dict[str, bytes]) -> None:
    text = repr(TokenCipher(keys))
    assert "k1" in text
    assert keys["k1"].hex() not in text and base64.b64encode(keys["k1"]).decode() not in text


def test_generate_key() -> None:
    a, b = generate_key(), generate_key()
    assert a != b
    assert len(base64.b64decode(a, validate=True)) == 32


def test_from_settings_first_key_encrypts() -> None:
    k_new, k_old = generate_key(), generate_key()
    settings = load_settings(TOKEN_ENCRYPTION_KEYS=f"new:{k_new},old:{k_old}")
    cipher = TokenCipher.from_settings(settings)
    assert cipher.primary_key_id == "new"
    ct = cipher.encrypt(SECRET, **BINDING)
    assert cipher.key_id_of(ct) == "new"
    legacy = TokenCipher({"old": base64.b64decode(k_old)}).encrypt(SECRET, **BINDING)
    assert cipher.decrypt(legacy, **BINDING) == SECRET
