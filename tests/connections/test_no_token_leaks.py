"""Promise 4 (docs/promises.md#4-no-token-in-plaintext) for connections: no token in plaintext in logs, API responses or the database.

The tokens looked for are every access and refresh token the emulator ever issued (read from its
in-process state, test-only), so a token the service received but never meant to keep counts too.
"""

from __future__ import annotations

import logging

from sqlalchemy import text

from tests.connections.helpers import finish, fresh_zoom_user, make_due, start
from zoom_emulator.httputil import EMULATOR_KEY


def issued_tokens(emulator) -> set[str]:
    world = emulator.app[EMULATOR_KEY].world
    return set(world.access_tokens) | set(world.refresh_tokens)


async def text_columns_of_zoom_connections(services) -> list[str]:
    """Every text-like column's values, whatever columns later migrations add."""
    async with services.db.session() as s:
        columns = (await s.exec(text(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'zoom_connections' "
            "AND data_type IN ('text', 'character varying', 'json', 'jsonb')"))).all()
        names = [c[0] for c in columns]
        rows = (await s.exec(text(
            "SELECT " + ", ".join(f'"{n}"::text' for n in names) + " FROM zoom_connections"))).all()
    return [value for row in rows for value in row if value]


async def test_no_token_in_logs_responses_or_database(api, emulator, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level: httpx, aiohttp, ours
    services = api.services
    org_id, headers = await api.new_org("Leak Check Ltd")
    responses = []

    url = await start(api, org_id, headers)
    location = await emulator.control.authorize(url, await fresh_zoom_user(emulator))
    responses.append(await finish(api, headers, location))
    responses.append(await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers))
    async with services.db.session() as s:
        connection_id = (await s.exec(text("SELECT id FROM zoom_connections WHERE org_id = :o"),
                                      params={"o": org_id})).one()[0]
    await make_due(services, connection_id)
    await services.tokens.org_access_token(connection_id)
    await services.tokens.org_api(connection_id).get_me()
    await services.tokens.system_api().get_user("host1@system.converge.test")
    responses.append(await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers))
    stored_while_active = await text_columns_of_zoom_connections(services)
    responses.append(await api.http.delete(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers))
    stored_after = await text_columns_of_zoom_connections(services)
    in_redis = [await services.redis.get(k) async for k in services.redis.scan_iter("zoom:*")]

    tokens = issued_tokens(emulator)
    assert len(tokens) >= 4  # the connect pair and the refreshed pair at least
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert "refreshed" in logged and "disconnected" in logged  # the logs did capture the flow
    for token in tokens:
        assert token not in logged
        for r in responses:
            assert token not in r.text and token not in str(r.headers)
        for value in stored_while_active + stored_after:
            assert token not in value
        assert not any(v and token.encode() in v for v in in_redis)
