"""Configuration: the contract's variables, and one clear line for each kind of mistake."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from settings import ConfigError, load_settings
from token_cipher import generate_key

ROOT = Path(__file__).resolve().parent.parent
KEY = f"k1:{generate_key()}"


def settings(**env):
    return load_settings(_env_file=None, **env)


def test_defaults_follow_the_contract():
    s = settings(TOKEN_ENCRYPTION_KEYS=KEY)
    assert s.temporal_address == "localhost:7233" and s.temporal_namespace == "default"
    assert s.zoom_oauth_base_url == "https://zoom.us"
    assert s.zoom_api_base_url == "https://api.zoom.us/v2"
    assert s.port == 8000 and s.public_base_url == "http://127.0.0.1:8000"
    assert s.recordings_dir == ".data/recordings"


@pytest.mark.parametrize(
    "env, words",
    [
        ({}, "TOKEN_ENCRYPTION_KEYS is not set"),
        ({"TOKEN_ENCRYPTION_KEYS": "nokid"}, "kid:base64key"),
        ({"TOKEN_ENCRYPTION_KEYS": "k1:!!!"}, "not valid base64"),
        ({"TOKEN_ENCRYPTION_KEYS": "k1:" + base64.b64encode(b"x" * 16).decode()}, "16 bytes"),
        ({"TOKEN_ENCRYPTION_KEYS": f"{KEY},{KEY}"}, "listed twice"),
        ({"TOKEN_ENCRYPTION_KEYS": KEY, "ZOOM_CLIENT_ID": "abc"}, "ZOOM_CLIENT_SECRET, ZOOM_REDIRECT_URI not set"),
        ({"TOKEN_ENCRYPTION_KEYS": KEY, "ZOOM_S2S_ACCOUNT_ID": "a", "ZOOM_S2S_CLIENT_ID": "b"}, "ZOOM_S2S_CLIENT_SECRET not set"),
        ({"TOKEN_ENCRYPTION_KEYS": KEY, "DATABASE_URL": "postgres://x/y"}, "postgresql+asyncpg://"),
        ({"TOKEN_ENCRYPTION_KEYS": KEY, "ZOOM_SYSTEM_HOSTS": "h@x.test:zero"}, "not a number"),
    ],
)
def test_each_mistake_names_the_variable(env, words):
    with pytest.raises(ConfigError) as exc:
        settings(**env)
    assert words in str(exc.value)
    assert "\n" not in str(exc.value)


def test_dev_mode_needs_no_key_and_keys_parse_in_order():
    assert settings(CONVERGE_DEV_MODE="1").token_encryption_keys is None
    second = f"k2:{generate_key()}"
    s = settings(TOKEN_ENCRYPTION_KEYS=f"{second},{KEY}")
    assert list(s.encryption_keys) == ["k2", "k1"]


def test_system_hosts_parse_with_capacity():
    s = settings(TOKEN_ENCRYPTION_KEYS=KEY, ZOOM_SYSTEM_HOSTS="A@x.test:2, b@x.test")
    assert [(h.email, h.capacity) for h in s.system_hosts] == [("a@x.test", 2), ("b@x.test", 1)]


def _start(module_args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ZOOM_", "TOKEN_", "DATABASE_", "REDIS_"))}
    return subprocess.run([sys.executable, *module_args], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_api_refuses_to_start_without_a_key_in_one_line():
    r = _start(["-m", "api"], {"DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:1/x", "REDIS_URL": "redis://127.0.0.1:1"})
    assert r.returncode != 0
    assert r.stderr.strip() == (
        "configuration error: TOKEN_ENCRYPTION_KEYS is not set; set 'kid:base64key' with a 32-byte key "
        "(python -m cli generate-key prints one)"
    )


def test_api_gives_up_on_an_unreachable_database_after_its_wait_in_one_line():
    r = _start(["-m", "api"], {"TOKEN_ENCRYPTION_KEYS": KEY, "DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:1/x",
                               "REDIS_URL": "redis://127.0.0.1:1", "DEPENDENCY_WAIT_SECONDS": "1"})
    assert r.returncode != 0
    assert "waiting for Postgres at 127.0.0.1:1/x" in r.stderr, r.stderr  # it waited first
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("configuration error: DATABASE_URL: cannot reach 127.0.0.1:1/x"), r.stderr
