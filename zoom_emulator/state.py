"""The emulator's whole world, in memory: accounts, users, OAuth apps and grants, meetings, recordings.

Everything Zoom would keep in its databases lives in one `World` object so that a reset is a
single assignment and tests never see state from a previous test. The HTTP modules (oauth.py,
rest.py, files.py, control.py) read and change it; none of them keeps state of its own.

Time: `World.now()` is the wall clock plus `config.clock_offset`, so a test can jump forward an
hour and watch tokens, codes, download tokens and the daily cap behave as they would at Zoom.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import time
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any

# --- The default seed. The service's `make run` depends on these exact names. -------------------

DEFAULT_CLIENT_ID = "emu-client-id"
DEFAULT_CLIENT_SECRET = "emu-client-secret"
DEFAULT_APP_NAME = "Converge IDI (emulator)"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8000/v1/integrations/zoom/callback"
# The default app is what a customer creates today: a user-managed (General) app, which Zoom gives
# granular user-level scopes only (docs/zoom.md#scopes). `default_app: "classic"` plays an older
# account-level app with the classic admin scopes older apps were given.
GRANULAR_SCOPES = (
    "user:read:user", "user:read:settings", "meeting:write:meeting", "meeting:read:meeting",
    "meeting:update:meeting", "meeting:delete:meeting", "meeting:read:list_meetings",
    "cloud_recording:read:list_recording_files", "meeting:read:list_past_participants",
    "meeting:write:registrant",
)
CLASSIC_SCOPES = ("meeting:write:admin", "user:read:admin", "recording:read:admin")
DEFAULT_SCOPES = GRANULAR_SCOPES

S2S_ACCOUNT_ID = "emu-system-account"
S2S_CLIENT_ID = "emu-s2s-client-id"
S2S_CLIENT_SECRET = "emu-s2s-client-secret"
S2S_SCOPES = (
    "meeting:write:admin",
    "meeting:read:admin",
    "user:read:admin",
    "recording:read:admin",
)

DEFAULT_WEBHOOK_URL = "http://127.0.0.1:8000/v1/zoom/webhooks"
DEFAULT_WEBHOOK_SECRET = "emu-webhook-secret"

# account id, name, plan, [(email, first, last, type, timezone)]
SEED_ACCOUNTS = [
    (S2S_ACCOUNT_ID, "Converge System", "business", [
        ("host1@system.converge.test", "Converge", "Host 1", 2, "UTC"),
        ("host2@system.converge.test", "Converge", "Host 2", 2, "UTC"),
    ]),
    ("emu-acme", "Acme Research", "pro", [
        ("alex@acme.test", "Alex", "Rivera", 2, "America/New_York"),
        ("basil@acme.test", "Basil", "Basic", 1, "Europe/London"),
        ("nora@acme.test", "Nora", "Nolicense", 4, "America/Los_Angeles"),
    ]),
    ("emu-globex", "Globex", "business", [
        ("gina@globex.test", "Gina", "Globex", 2, "Europe/Berlin"),
    ]),
]

# Meetings a host may run at once, by plan (Zoom support KB0068522: Pro 1, Business and up 2).
PLAN_CONCURRENCY = {"basic": 1, "pro": 1, "business": 2, "enterprise": 2, "education": 2}

USER_BASIC, USER_LICENSED, USER_NO_MEETINGS = 1, 2, 4

# A user's recording settings as GET /users/{userId}/settings shows them (its `recording` section;
# docs/zoom.md#recording-settings). Switched per user with PATCH /_emulator/users/{user}/settings.
# Zoom's own default for the audio transcript is not documented; here everything is on, so a
# seeded user records and transcribes.
DEFAULT_RECORDING_SETTINGS = {
    "local_recording": True,
    "cloud_recording": True,
    "record_speaker_view": True,
    "record_gallery_view": False,
    "record_audio_file": True,
    "save_chat_text": True,
    "show_timestamp": False,
    "recording_audio_transcript": True,
    "auto_recording": "none",
}

# Meeting ids, uuids and file keys are drawn from a seed chosen at each start, so a restarted
# emulator (a second `make run`) never re-issues the first run's ids: the service would take the
# new meetings' webhooks for duplicates of the old ones (docs/zoom.md#emulator-restart). Set the
# `rng_seed` option to replay a run; the seed in use is in GET /_emulator/config.


@dataclass
class Config:
    """Switches and knobs. Every field can be changed at run time (PATCH /_emulator/config).

    Fields marked UNVERIFIED play one of the answers docs/zoom.md marks UNVERIFIED; the other
    answer is one PATCH away so the service can be tested against both.
    """

    token_ttl: int = 3600  # access-token lifetime, seconds (Zoom: 1 hour)
    refresh_token_ttl: int = 90 * 86400  # UNVERIFIED: 15 years per devsupport, ~90 days per plugin
    code_ttl: int = 300  # authorization codes live 5 minutes
    download_token_ttl: int = 86400  # webhook download_token, UNVERIFIED (commonly 24 h)
    clock_offset: float = 0.0  # seconds added to the wall clock
    time_factor: float = 1.0  # scales webhook retry delays (5/20/60 min); 0.001 makes them ms
    webhook_timeout: float = 3.0  # a delivery not answered 2xx within this is retried
    webhook_retry_delays: list = field(default_factory=lambda: [300, 1200, 3600])
    daily_limit: int = 100  # meeting creates+updates per host user per UTC day
    daily_limit_style: str = "429"  # UNVERIFIED: "429" (rate-limit page) or "300" (older OpenAPI)
    uuid_style: str = "mixed"  # "mixed" (every 2nd/3rd uuid is '/'-hazardous), "plain",
    #                            "leading_slash", "double_slash"
    basic_cloud_recording: str = "ignore"  # UNVERIFIED: "ignore" (set to none) or "reject" (400)
    s2s_me: str = "reject"  # UNVERIFIED: "reject" (404 1001) or "owner" (the account's first user)
    s2s_single_token: bool = False  # history: a new S2S token killed the previous one
    refresh_error: str = "invalid_grant"  # dead refresh token: "invalid_grant" or "invalid_request"
    refresh_kills_old_access: bool = False  # UNVERIFIED: does a refresh end the old access token
    oauth_error_codes: bool = False  # UNVERIFIED: add numeric "code" (4733, 4741...) to token errors
    token_params_in_query: bool = True  # token endpoint also reads params from the query string
    revoke_token_in_query: bool = False  # UNVERIFIED: /oauth/revoke also accepts ?token=
    revoke_sends_deauthorized: bool = False  # UNVERIFIED: revoke also fires app_deauthorized
    transcript_download_token: bool = False  # recording.transcript_completed carries download_token
    webhook_timestamp_unit: str = "s"  # UNVERIFIED: x-zm-request-timestamp in "s" or "ms"
    webhook_resign_retries: bool = True  # UNVERIFIED: retries get a new timestamp and signature
    download_access_token_ttl: int = 86400  # default ttl when ?ttl= is not given
    # meeting.participant_joined / _left are sent (false: Zoom "missed" them; the past-meeting
    # participants list still has everyone)
    participant_webhooks: bool = True
    revalidate_every: int = 72 * 3600  # Zoom re-validates the webhook endpoint every 72 hours
    failed_revalidation_stops_events: bool = True  # UNVERIFIED: Zoom stops sending until fixed
    # The account records a separate audio file per participant (off by default at Zoom, as here;
    # a complete_recording call may ask for it with {"participant_audio": true}).
    participant_audio: bool = False
    rng_seed: int = 0  # 0: a fresh seed each start/reset (ids never repeat); else replay this one
    default_app: str = "granular"  # "granular" (user-managed, new app) or "classic" (older app)
    # UNVERIFIED: the name of the audio-transcript switch in GET /users/{userId}/settings: Zoom's
    # OpenAPI says "recording_audio_transcript", an older note "audio_transcript".
    transcript_setting_field: str = "recording_audio_transcript"
    # Meeting registration (zoom_emulator/registrants.py, docs/zoom.md#meeting-registrants).
    # UNVERIFIED: the same email registered again answers the existing registration ("existing")
    # or refuses ("error"); never a second registrant.
    registrant_duplicate: str = "existing"
    # UNVERIFIED: a Basic host asking for registration (approval_type 0/1) is quietly kept at 2
    # ("ignore") or refused with 400 code 200 ("reject").
    basic_registration: str = "ignore"

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes`, refusing unknown names and values of the wrong type."""
        known = {f.name: f for f in fields(self)}
        for name, value in changes.items():
            if name not in known:
                raise ValueError(f"unknown config switch {name!r}; known: {sorted(known)}")
            current = getattr(self, name)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{name} must be true or false")
            elif isinstance(current, (int, float)):
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{name} must be a number")
                value = type(current)(value) if isinstance(current, float) else value
            elif isinstance(current, str):
                if not isinstance(value, str):
                    raise ValueError(f"{name} must be a string")
            elif isinstance(current, list):
                if not isinstance(value, list):
                    raise ValueError(f"{name} must be a list")
            choices = _CHOICES.get(name)
            if choices and value not in choices:
                raise ValueError(f"{name} must be one of {choices}")
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_CHOICES = {
    "daily_limit_style": ("429", "300"),
    "uuid_style": ("mixed", "plain", "leading_slash", "double_slash"),
    "basic_cloud_recording": ("ignore", "reject"),
    "s2s_me": ("reject", "owner"),
    "refresh_error": ("invalid_grant", "invalid_request"),
    "webhook_timestamp_unit": ("s", "ms"),
    "default_app": ("granular", "classic"),
    "transcript_setting_field": ("recording_audio_transcript", "audio_transcript"),
}


@dataclass
class WebhookConfig:
    """Where events go and how. Zoom keeps this on the Marketplace app; here one endpoint gets all."""

    url: str | None = DEFAULT_WEBHOOK_URL
    secret: str = DEFAULT_WEBHOOK_SECRET
    events: list | None = None  # subscribed event names; None = all
    per_file_recording_events: bool = False  # one recording.completed per file (seen in the wild)
    duplicate_events: list = field(default_factory=list)  # event names sent twice
    validation: dict | None = None  # result of the last endpoint.url_validation
    validated_at: float | None = None  # emulator clock of the last validation (or of the start)
    revalidation_failed: bool = False  # the last 72-hour re-validation did not pass

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Account:
    id: str
    name: str
    plan: str  # basic | pro | business | enterprise | education


@dataclass
class User:
    id: str
    account_id: str
    email: str
    first_name: str
    last_name: str
    type: int
    timezone: str
    pmi: int
    created_at: float
    recording: dict = field(default_factory=lambda: dict(DEFAULT_RECORDING_SETTINGS))

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    name: str
    kind: str  # "user" (authorization code + refresh) or "s2s" (account credentials)
    scopes: tuple
    redirect_uris: list = field(default_factory=list)
    account_id: str | None = None  # s2s only
    managed: str = "user"  # "user" (General app: user-level scopes only) or "admin"


@dataclass
class AuthCode:
    code: str
    client_id: str
    user_id: str
    redirect_uri: str
    expires_at: float
    challenge: str | None
    challenge_method: str
    used: bool = False


@dataclass
class Grant:
    """One authorization of a user (or, for S2S, an account) by a client; tokens hang off it."""

    id: str
    client_id: str
    kind: str  # "user" | "s2s"
    user_id: str | None
    account_id: str
    scopes: tuple
    alive: bool = True


@dataclass
class AccessToken:
    token: str
    grant_id: str
    expires_at: float
    alive: bool = True


@dataclass
class RefreshToken:
    token: str
    grant_id: str
    expires_at: float
    alive: bool = True


@dataclass
class RecordingFile:
    key: str  # last segment of download_url; equals the file id when the file has one
    file_type: str
    size: int
    recording_type: str | None
    recording_start: float
    recording_end: float
    file_name: str = ""  # participant audio files only: the participant's name

    @property
    def has_id(self) -> bool:
        # Zoom's schema: CC and TIMELINE entries carry no id, status, file_size or recording_type
        return self.file_type not in ("CC", "TIMELINE")


@dataclass
class Instance:
    """One occurrence of a meeting (Zoom gives each its own uuid)."""

    uuid: str
    meeting_id: int
    started_at: float
    ended_at: float | None = None
    files: list = field(default_factory=list)
    participant_files: list = field(default_factory=list)  # per-participant M4A audio
    recording_done: bool = False
    transcript_done: bool = False
    share_token: str = ""
    play_passcode: str = ""
    # One entry per join (zoom_emulator/participants.py): a rejoin is a new entry.
    participants: list = field(default_factory=list)


@dataclass
class Meeting:
    id: int
    uuid: str  # uuid of the next (or current) instance
    host_id: str
    topic: str
    type: int
    start_time: float
    duration: int
    timezone: str
    agenda: str
    password: str
    encrypted_password: str
    settings: dict
    created_at: float
    status: str = "waiting"  # waiting | started
    deleted: bool = False
    uuid_used: bool = False
    instances: list = field(default_factory=list)
    registrants: list = field(default_factory=list)  # zoom_emulator/registrants.py


@dataclass
class DownloadGrant:
    """A webhook download_token or a download_access_token: read access to one instance's files."""

    token: str
    instance_uuid: str
    expires_at: float
    kind: str  # "download_token" | "download_access_token"


class World:
    def __init__(self, config: Config, webhook: WebhookConfig):
        self.config = config
        self.webhook = webhook
        if not config.rng_seed:
            config.rng_seed = secrets.randbits(62) or 1
        self.rng = random.Random(config.rng_seed)
        self.started_at = time.time() + config.clock_offset
        self.accounts: dict[str, Account] = {}
        self.users: dict[str, User] = {}
        self.clients: dict[str, OAuthClient] = {}
        self.codes: dict[str, AuthCode] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.meetings: dict[int, Meeting] = {}
        self.instances: dict[str, Instance] = {}  # by uuid
        self.files: dict[str, tuple[Instance, RecordingFile]] = {}  # by key
        self.download_grants: dict[str, DownloadGrant] = {}
        self.daily_counts: dict[tuple[str, str], int] = {}  # (user id, UTC date) -> creates+updates
        self.page_tokens: dict[str, int] = {}
        self.uuid_count = 0
        self.signing_key = secrets.token_bytes(32)  # signs pre-signed file URLs

    # --- time -----------------------------------------------------------------------------------

    def now(self) -> float:
        return time.time() + self.config.clock_offset

    # --- seed -----------------------------------------------------------------------------------

    def seed(self, redirect_uris: list[str]) -> None:
        for account_id, name, plan, users in SEED_ACCOUNTS:
            self.add_account(account_id, name, plan)
            for email, first, last, utype, tz in users:
                self.add_user(email, account_id, first, last, utype, tz)
        self.add_client(
            OAuthClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_APP_NAME, "user",
                        DEFAULT_SCOPES, [DEFAULT_REDIRECT_URI, *redirect_uris])
        )
        self.apply_default_app()
        self.add_client(
            OAuthClient(S2S_CLIENT_ID, S2S_CLIENT_SECRET, "Converge system account (emulator)",
                        "s2s", S2S_SCOPES, [], S2S_ACCOUNT_ID)
        )

    def apply_default_app(self) -> None:
        """Make the default client the app type `config.default_app` names."""
        client = self.clients[DEFAULT_CLIENT_ID]
        if self.config.default_app == "classic":
            client.scopes, client.managed = CLASSIC_SCOPES, "admin"
        else:
            client.scopes, client.managed = GRANULAR_SCOPES, "user"

    def add_account(self, account_id: str, name: str, plan: str) -> Account:
        if plan not in PLAN_CONCURRENCY:
            raise ValueError(f"plan must be one of {sorted(PLAN_CONCURRENCY)}")
        account = Account(account_id, name, plan)
        self.accounts[account_id] = account
        return account

    def add_user(self, email: str, account_id: str, first: str, last: str, utype: int,
                 tz: str = "UTC") -> User:
        if account_id not in self.accounts:
            raise ValueError(f"no account {account_id!r}")
        if utype not in (USER_BASIC, USER_LICENSED, USER_NO_MEETINGS):
            raise ValueError("type must be 1 (Basic), 2 (Licensed) or 4 (no meetings licence)")
        if self.find_user(email):
            raise ValueError(f"user {email} already exists")
        digest = hashlib.sha256(email.lower().encode()).digest()
        user = User(
            id=base64.urlsafe_b64encode(digest).decode()[:22],
            account_id=account_id,
            email=email.lower(),
            first_name=first,
            last_name=last,
            type=utype,
            timezone=tz,
            pmi=int.from_bytes(digest[-5:], "big") % 9_000_000_000 + 1_000_000_000,
            created_at=self.now(),
        )
        self.users[user.id] = user
        return user

    def add_client(self, client: OAuthClient) -> OAuthClient:
        self.clients[client.client_id] = client
        return client

    # --- lookups --------------------------------------------------------------------------------

    def find_user(self, ref: str) -> User | None:
        """By id or (case-insensitive) email, like Zoom's {userId} path parameter."""
        if ref in self.users:
            return self.users[ref]
        ref = ref.lower()
        return next((u for u in self.users.values() if u.email == ref), None)

    def concurrency(self, user: User) -> int:
        if user.type == USER_BASIC:
            return 1
        return PLAN_CONCURRENCY[self.accounts[user.account_id].plan]

    def live_meetings(self, user: User) -> list[Meeting]:
        return [m for m in self.meetings.values() if m.host_id == user.id and m.status == "started"]

    # --- tokens ---------------------------------------------------------------------------------

    def new_secret(self, nbytes: int = 48) -> str:
        """Opaque random token text; it means nothing and is never parsed."""
        return secrets.token_urlsafe(nbytes)

    def issue(self, grant: Grant, with_refresh: bool) -> tuple[AccessToken, RefreshToken | None]:
        now = self.now()
        access = AccessToken(self.new_secret(), grant.id, now + self.config.token_ttl)
        self.access_tokens[access.token] = access
        refresh = None
        if with_refresh:
            refresh = RefreshToken(self.new_secret(), grant.id, now + self.config.refresh_token_ttl)
            self.refresh_tokens[refresh.token] = refresh
        return access, refresh

    def kill_grant(self, grant: Grant) -> None:
        grant.alive = False
        for t in self.access_tokens.values():
            if t.grant_id == grant.id:
                t.alive = False
        for t in self.refresh_tokens.values():
            if t.grant_id == grant.id:
                t.alive = False

    def grants_of(self, client_id: str, user_id: str) -> list[Grant]:
        return [g for g in self.grants.values()
                if g.alive and g.client_id == client_id and g.user_id == user_id]

    # --- meetings -------------------------------------------------------------------------------

    def new_meeting_id(self) -> int:
        # 11 digits: larger than 2**32, like real meeting ids (a 32-bit int overflows)
        while True:
            mid = self.rng.randint(80_000_000_000, 99_999_999_999)
            if mid not in self.meetings:
                return mid

    def new_uuid(self) -> str:
        """A 24-char base64 uuid; by `uuid_style`, some start with '/' or contain '//'."""
        self.uuid_count += 1
        style = self.config.uuid_style
        if style == "mixed":
            style = ("double_slash", "plain", "leading_slash")[self.uuid_count % 3]
        while True:
            raw = base64.b64encode(self.rng.randbytes(16)).decode()
            if style == "leading_slash":
                raw = "/" + raw[1:]
            elif style == "double_slash":
                raw = raw[:7] + "//" + raw[9:]
            elif raw.startswith("/") or "//" in raw:
                continue
            if raw not in self.instances and not any(m.uuid == raw for m in self.meetings.values()):
                return raw

    def new_file_key(self) -> str:
        h = self.rng.randbytes(16).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def count_daily(self, user_id: str) -> tuple[int, str]:
        """Creates+updates so far today (UTC, emulator clock) for this host, and the date key."""
        day = datetime.fromtimestamp(self.now(), timezone.utc).date().isoformat()
        return self.daily_counts.get((user_id, day), 0), day

    def next_utc_midnight(self) -> datetime:
        today = datetime.fromtimestamp(self.now(), timezone.utc).date()
        return datetime.combine(today + timedelta(days=1), datetime.min.time(), timezone.utc)


def iso(ts: float | None) -> str | None:
    """Zoom's date-time format: UTC, seconds, trailing Z."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
