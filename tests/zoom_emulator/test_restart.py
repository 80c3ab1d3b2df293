"""A restarted emulator (a second `make run`) never re-issues the first run's meeting ids or uuids,
so the service does not take new meetings' webhooks for duplicates (docs/zoom.md#emulator-restart)."""

from __future__ import annotations

import httpx

from zoom_emulator.testing import running_emulator


async def _one_meeting(**options) -> tuple[int, str]:
    async with running_emulator(**options) as emu:
        token = await emu.control.user_token("alex@acme.test")
        async with httpx.AsyncClient(base_url=emu.base_url) as http:
            r = await http.post("/v2/users/me/meetings", json={"topic": "t"},
                                headers={"Authorization": f"Bearer {token['access_token']}"})
            assert r.status_code == 201
            return r.json()["id"], r.json()["uuid"]


async def test_a_restarted_emulator_draws_new_meeting_ids_and_uuids():
    first, second = await _one_meeting(), await _one_meeting()
    assert first[0] != second[0] and first[1] != second[1]


async def test_a_run_can_be_replayed_with_its_seed():
    assert await _one_meeting(rng_seed=12345) == await _one_meeting(rng_seed=12345)
