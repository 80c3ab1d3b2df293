"""Every setting the service reads, in one object.

Names match the configuration contract (README, Configuration): clients outside this repo set them, so they
never change. Values come from the environment and from a `.env` file in the working directory.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import cached_property

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and what to do."""


@dataclass(frozen=True)
class SystemHost:
    """One user of Converge's system Zoom account, able to host `capacity` meetings at once."""

    email: str
    capacity: int = 1


def parse_encryption_keys(raw: str) -> dict[str, bytes]:
    """Parse `kid:base64key,kid2:base64key`; the first key encrypts, every key decrypts."""
    keys: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        kid, sep, b64 = part.partition(":")
        if not sep or not kid or not b64:
            raise ConfigError(
                "TOKEN_ENCRYPTION_KEYS: each entry must be 'kid:base64key' "
                "(generate one with: python -m cli generate-key)"
            )
        try:
            key = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"TOKEN_ENCRYPTION_KEYS: key '{kid}' is not valid base64") from None
        if len(key) != 32:
            raise ConfigError(
                f"TOKEN_ENCRYPTION_KEYS: key '{kid}' is {len(key)} bytes; AES-256 needs 32"
            )
        if kid in keys:
            raise ConfigError(f"TOKEN_ENCRYPTION_KEYS: key id '{kid}' is listed twice")
        keys[kid] = key
    if not keys:
        raise ConfigError("TOKEN_ENCRYPTION_KEYS is empty; set 'kid:base64key' (32-byte key)")
    return keys


def parse_system_hosts(raw: str) -> list[SystemHost]:
    """Parse `email[:capacity]` entries; capacity is concurrent meetings, default 1."""
    hosts = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        email, _, cap = part.partition(":")
        if "@" not in email:
            raise ConfigError(f"ZOOM_SYSTEM_HOSTS: '{part}' is not 'email[:capacity]'")
        try:
            capacity = int(cap) if cap else 1
        except ValueError:
            raise ConfigError(f"ZOOM_SYSTEM_HOSTS: capacity in '{part}' is not a number") from None
        if capacity < 1:
            raise ConfigError(f"ZOOM_SYSTEM_HOSTS: capacity in '{part}' must be at least 1")
        hosts.append(SystemHost(email.strip().lower(), capacity))
    return hosts


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(None, alias="DATABASE_URL")
    redis_url: str | None = Field(None, alias="REDIS_URL")
    temporal_address: str = Field("localhost:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field("default", alias="TEMPORAL_NAMESPACE")
    # At start, how long the API and the worker wait for Postgres, Redis (and the worker for
    # Temporal) before giving up with one line; unset waits as long as it takes (services.py).
    dependency_wait_seconds: float | None = Field(None, alias="DEPENDENCY_WAIT_SECONDS")
    token_encryption_keys: str | None = Field(None, alias="TOKEN_ENCRYPTION_KEYS")

    zoom_oauth_base_url: str = Field("https://zoom.us", alias="ZOOM_OAUTH_BASE_URL")
    zoom_api_base_url: str = Field("https://api.zoom.us/v2", alias="ZOOM_API_BASE_URL")
    zoom_client_id: str | None = Field(None, alias="ZOOM_CLIENT_ID")
    zoom_client_secret: str | None = Field(None, alias="ZOOM_CLIENT_SECRET")
    zoom_redirect_uri: str | None = Field(None, alias="ZOOM_REDIRECT_URI")
    zoom_webhook_secret_token: str | None = Field(None, alias="ZOOM_WEBHOOK_SECRET_TOKEN")
    zoom_webhook_secret_token_previous: str | None = Field(
        None, alias="ZOOM_WEBHOOK_SECRET_TOKEN_PREVIOUS"
    )
    zoom_s2s_account_id: str | None = Field(None, alias="ZOOM_S2S_ACCOUNT_ID")
    zoom_s2s_client_id: str | None = Field(None, alias="ZOOM_S2S_CLIENT_ID")
    zoom_s2s_client_secret: str | None = Field(None, alias="ZOOM_S2S_CLIENT_SECRET")
    zoom_system_hosts_raw: str = Field("", alias="ZOOM_SYSTEM_HOSTS")
    # Where recordings may be downloaded from (a domain and its subdomains, https only); the
    # origins of the two base URLs above are always allowed too (zoom/download_urls.py).
    zoom_download_hosts_raw: str = Field("zoom.us,zoomgov.com", alias="ZOOM_DOWNLOAD_HOSTS")

    port: int = Field(8000, alias="PORT")
    # The address the API listens on: loopback (what `make run` prints) unless set, e.g. 0.0.0.0
    # in a container behind its published port.
    api_host: str = Field("127.0.0.1", alias="API_HOST")
    # Several API processes on one port (SO_REUSEPORT, Linux): opt-in, so a second `make run` by
    # mistake still fails with "address in use" instead of sharing the port (docs/architecture.md#scale-out).
    api_reuse_port: bool = Field(False, alias="API_REUSE_PORT")
    # Requests per minute (api/rate_limits.py): sign-in attempts per client IP, mutating requests
    # per org (API key) and per client IP.
    # Closed and ignored webhook inbox rows are deleted once this old (activities/inbox_retention.py).
    inbox_retention_days: int = Field(30, alias="INBOX_RETENTION_DAYS")
    # A booking stored this long ago whose workflow was never started (the API died in between)
    # is started by api/booking_reconciler.py.
    booking_start_lease_seconds: float = Field(30.0, gt=0, alias="BOOKING_START_LEASE_SECONDS")
    rate_limit_signin_per_ip: int = Field(10, alias="RATE_LIMIT_SIGNIN_PER_IP")
    rate_limit_org_per_minute: int = Field(300, alias="RATE_LIMIT_ORG_PER_MINUTE")
    rate_limit_ip_per_minute: int = Field(600, alias="RATE_LIMIT_IP_PER_MINUTE")
    # When a booking still `scheduling` says it is delayed, and how recently a worker must have
    # polled the `idi` task queue for /healthz to call it alive (README, Operations).
    scheduling_delayed_after_seconds: float = Field(60, gt=0, alias="SCHEDULING_DELAYED_AFTER_SECONDS")
    worker_poller_fresh_seconds: float = Field(120, gt=0, alias="WORKER_POLLER_FRESH_SECONDS")
    public_base_url: str = Field("http://127.0.0.1:8000", alias="PUBLIC_BASE_URL")
    recordings_dir: str = Field(".data/recordings", alias="RECORDINGS_DIR")
    admin_api_key: str | None = Field(None, alias="ADMIN_API_KEY")

    # Not part of the public contract: set by `make run` / tests for the embedded stack.
    dev_mode: bool = Field(False, alias="CONVERGE_DEV_MODE")

    @field_validator("public_base_url", "zoom_oauth_base_url", "zoom_api_base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.token_encryption_keys:
            parse_encryption_keys(self.token_encryption_keys)
        elif not self.dev_mode:
            raise ConfigError(
                "TOKEN_ENCRYPTION_KEYS is not set; set 'kid:base64key' with a 32-byte key "
                "(python -m cli generate-key prints one)"
            )
        for group in (
            ("ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET", "ZOOM_REDIRECT_URI"),
            ("ZOOM_S2S_ACCOUNT_ID", "ZOOM_S2S_CLIENT_ID", "ZOOM_S2S_CLIENT_SECRET"),
        ):
            values = [getattr(self, name.lower()) for name in group]
            if any(values) and not all(values):
                missing = [n for n, v in zip(group, values) if not v]
                raise ConfigError(
                    f"{', '.join(missing)} not set: {', '.join(group)} must be set together"
                )
        if self.database_url and not self.database_url.startswith("postgresql+asyncpg://"):
            raise ConfigError("DATABASE_URL must start with postgresql+asyncpg://")
        parse_system_hosts(self.zoom_system_hosts_raw)
        return self

    @cached_property
    def encryption_keys(self) -> dict[str, bytes]:
        if not self.token_encryption_keys:
            raise ConfigError("TOKEN_ENCRYPTION_KEYS is not set")
        return parse_encryption_keys(self.token_encryption_keys)

    @cached_property
    def system_hosts(self) -> list[SystemHost]:
        return parse_system_hosts(self.zoom_system_hosts_raw)

    @cached_property
    def zoom_download_hosts(self) -> list[str]:
        return [h.strip().lower().lstrip(".") for h in self.zoom_download_hosts_raw.split(",") if h.strip()]

    @property
    def webhook_secrets(self) -> list[str]:
        return [s for s in (self.zoom_webhook_secret_token, self.zoom_webhook_secret_token_previous) if s]

    @property
    def zoom_redirect_uri_or_default(self) -> str:
        return self.zoom_redirect_uri or f"{self.public_base_url}/v1/integrations/zoom/callback"


def load_settings(**overrides) -> Settings:
    """Build settings from the environment; `overrides` use the contract's variable names."""
    try:
        return Settings(**overrides)
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic's ValidationError wraps our ConfigError
        errors = getattr(exc, "errors", lambda: [])()
        if errors:
            first = errors[0]
            ctx_err = (first.get("ctx") or {}).get("error")
            if isinstance(ctx_err, ConfigError):
                raise ctx_err from None
            loc = ".".join(str(p) for p in first.get("loc", ()))
            raise ConfigError(f"{loc or 'settings'}: {first.get('msg')}") from None
        raise
