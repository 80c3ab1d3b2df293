"""The Integrations page shows and sets how many meetings the connected Zoom user hosts at once
(a CSRF-checked form in front of PATCH /v1/orgs/{org}/integrations/zoom)."""

from __future__ import annotations

import re

from tests.bookings.helpers import connect_org, fresh_zoom_user
from tests.pages.helpers import csrf_of, http_sign_in, new_org_key

PAGE = "/settings/integrations"


def _capacity(html: str) -> str:
    match = re.search(r'<dd id="zoom-capacity">([^<]*)</dd>', html)
    assert match, "no capacity on the page"
    return match.group(1)


async def test_the_org_sees_and_sets_its_zoom_users_concurrent_meetings(api, emulator, page_client):
    org_id, key = await new_org_key(api.services, "Capacity Org")
    headers = {"Authorization": f"Bearer {key}"}
    await connect_org(api, emulator, org_id, headers, await fresh_zoom_user(emulator))
    await http_sign_in(page_client, key)
    page = await page_client.get(PAGE)
    assert _capacity(page.text) == "1 at a time (default for this Zoom user)"
    assert 'id="zoom-capacity-form"' in page.text
    token = csrf_of(page.text)

    for sent in ({}, {"csrf_token": "wrong"}):
        r = await page_client.post(PAGE + "/zoom/capacity", data={"concurrent_meetings": "2", **sent})
        assert r.status_code == 403 and "nothing was changed" in r.text
    r = await page_client.post(PAGE + "/zoom/capacity", data={"concurrent_meetings": "7", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == PAGE  # back to the form, not raw JSON
    shown = (await page_client.get(PAGE)).text
    assert "Meetings your Zoom user can host at once" in shown and "less than or equal to 2" in shown
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert status["concurrent_meetings"] == 1

    r = await page_client.post(PAGE + "/zoom/capacity", data={"concurrent_meetings": "2", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == PAGE
    page = await page_client.get(PAGE)
    assert "now hosts up to 2 interviews at once" in page.text
    assert _capacity(page.text) == "2 at a time (set by you)"
    assert '<option value="2" selected>' in page.text
    status = (await api.http.get(f"/v1/orgs/{org_id}/integrations/zoom", headers=headers)).json()
    assert (status["concurrent_meetings"], status["concurrent_meetings_source"]) == (2, "org")
