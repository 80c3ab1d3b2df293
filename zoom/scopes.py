"""The Zoom scopes each call of `zoom.client` needs, in both of Zoom's scope vocabularies.

Apps created on the Marketplace today get granular scopes only (`meeting:read:meeting`); older apps
keep the classic ones (`meeting:write`). A user-managed (General) app may request user-level scopes
only; `:admin` variants belong to admin-managed apps (docs/zoom.md#scopes). The connect check reads
the token's granted `scope` (space-separated) and names what is missing in the vocabulary the app
uses, so the admin is told the exact scope to tick in the Marketplace.

Every entry lists the scopes Zoom accepts for the call: any one of them is enough. An `:admin`
variant of an accepted scope is accepted too (an admin-managed or older app acting on its own
user).
"""

from __future__ import annotations

from dataclasses import dataclass

GRANULAR = "granular"
CLASSIC = "classic"


@dataclass(frozen=True)
class Need:
    call: str  # the zoom.client method
    purpose: str  # what the service does with it, for the warning message
    granular: str  # the user-level granular scope a new user-managed app requests
    classic: tuple[str, ...]  # user-level classic scopes that cover it (first = the one an older app requests)


# docs/zoom.md#scopes: per endpoint, from Zoom's granular-scopes reference and classic scope list.
NEEDS: tuple[Need, ...] = (
    Need("get_me", "read the host's Zoom profile and licence", "user:read:user",
         ("user:read", "user:write")),
    Need("create_meeting", "create interview meetings", "meeting:write:meeting",
         ("meeting:write",)),
    Need("get_meeting", "check a meeting's state", "meeting:read:meeting",
         ("meeting:write", "meeting:read")),
    Need("update_meeting", "reschedule meetings", "meeting:update:meeting", ("meeting:write",)),
    Need("delete_meeting", "cancel meetings", "meeting:delete:meeting", ("meeting:write",)),
    Need("list_meetings", "find a meeting whose create answer was lost",
         "meeting:read:list_meetings", ("meeting:write", "meeting:read")),
    Need("get_recordings", "fetch cloud recordings and transcripts",
         "cloud_recording:read:list_recording_files", ("recording:read", "recording:write")),
    Need("add_meeting_registrant", "give each interviewee a join link of their own",
         "meeting:write:registrant", ("meeting:write",)),
    Need("past_meeting_participants", "read who attended when participant webhooks were missed",
         "meeting:read:list_past_participants", ("meeting:write", "meeting:read")),
    Need("get_user_settings", "check that cloud recording and audio transcripts are switched on",
         "user:read:settings", ("user:read", "user:write")),
)

# The granular scopes a new user-managed app adds, in the order the README lists them.
GRANULAR_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(n.granular for n in NEEDS))
CLASSIC_SCOPES: tuple[str, ...] = tuple(dict.fromkeys(n.classic[0] for n in NEEDS))


def parse(granted: list[str] | tuple[str, ...] | str) -> set[str]:
    """The token's `scope` field (space-separated) or an already split list, as a set."""
    return set(granted.split() if isinstance(granted, str) else granted)


def _base(scope: str) -> str:
    return scope.removesuffix(":admin").removesuffix(":master")


def vocabulary(granted: set[str]) -> str:
    """Granular if any granted scope is granular (three parts before `:admin`), else classic.

    Zoom does not mix the two on one app, and an empty grant is named in the granular vocabulary
    because that is what a new app has.
    """
    if not granted:
        return GRANULAR
    return GRANULAR if any(_base(s).count(":") >= 2 for s in granted) else CLASSIC


def covers(granted: set[str], need: Need) -> bool:
    have = {_base(s) for s in granted}
    return need.granular in have or any(c in have for c in need.classic)


def missing(granted: list[str] | tuple[str, ...] | str) -> list[Need]:
    """The needs no granted scope covers, in NEEDS order."""
    have = parse(granted)
    return [n for n in NEEDS if not covers(have, n)]


def app_style(granted: set[str]) -> tuple[str, bool]:
    """The grant's vocabulary and whether its app uses `:admin` scopes (admin-managed or older)."""
    return vocabulary(granted), any(s.endswith(":admin") for s in granted)


def name_in(style: tuple[str, bool], need: Need) -> str:
    vocab, admin = style
    name = need.granular if vocab == GRANULAR else need.classic[0]
    return f"{name}:admin" if admin else name


def missing_names(granted: list[str] | tuple[str, ...] | str) -> list[str]:
    """The missing scopes, each named once, as the grant's app spells its scopes."""
    style = app_style(parse(granted))
    return list(dict.fromkeys(name_in(style, n) for n in missing(granted)))
