"""Fixtures for the Zoom protocol tests: a private emulator, reset before every test.

A private instance (not the session-wide `emulator` fixture) so that resetting it, moving its
clock or injecting faults never disturbs service tests sharing the other one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from zoom.client import ZoomApi
from zoom.oauth import TokenSet, ZoomOAuth, ZoomS2S, authorize_url, new_pkce_pair
from zoom_emulator.state import (
    DEFAULT_CLIENT_ID as CLIENT_ID,
    DEFAULT_CLIENT_SECRET as CLIENT_SECRET,
    DEFAULT_REDIRECT_URI as REDIRECT_URI,
    S2S_ACCOUNT_ID,
    S2S_CLIENT_ID,
    S2S_CLIENT_SECRET,
)
from zoom_emulator.testing import running_emulator


@pytest_asyncio.fixture(scope="session")
async def zoom_emu():
    async with running_emulator() as emu:
        yield emu


@pytest_asyncio.fixture
async def emu(zoom_emu):
    await zoom_emu.control.reset()
    yield zoom_emu


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def oauth(emu, http) -> ZoomOAuth:
    return ZoomOAuth(http, emu.oauth_base_url, CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def s2s(emu, http) -> ZoomS2S:
    return ZoomS2S(http, emu.oauth_base_url, S2S_ACCOUNT_ID, S2S_CLIENT_ID, S2S_CLIENT_SECRET)


@pytest.fixture
def connect(emu, oauth: ZoomOAuth) -> Callable[[str], Awaitable[TokenSet]]:
    """The whole user-side flow for one email: authorize URL with PKCE, consent, code exchange."""

    async def run(email: str) -> TokenSet:
        pkce = new_pkce_pair()
        url = authorize_url(emu.oauth_base_url, CLIENT_ID, REDIRECT_URI, "st-1", pkce.challenge)
        location = await emu.control.authorize(url, email)
        code = parse_qs(urlsplit(location).query)["code"][0]
        return await oauth.exchange_code(code, REDIRECT_URI, pkce.verifier)

    return run


@pytest.fixture
def fresh_code(emu) -> Callable[[str], Awaitable[tuple[str, str]]]:
    """An authorization code for an email, with the PKCE verifier that goes with it."""

    async def run(email: str) -> tuple[str, str]:
        pkce = new_pkce_pair()
        url = authorize_url(emu.oauth_base_url, CLIENT_ID, REDIRECT_URI, "st-2", pkce.challenge)
        location = await emu.control.authorize(url, email)
        return parse_qs(urlsplit(location).query)["code"][0], pkce.verifier

    return run


@pytest.fixture
def api_for(emu, http) -> Callable[[str], ZoomApi]:
    """A ZoomApi that always uses one fixed access token."""

    def build(token: str) -> ZoomApi:
        async def get_token() -> str:
            return token

        return ZoomApi(http, emu.api_base_url, get_token)

    return build
