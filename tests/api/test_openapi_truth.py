"""/openapi.json is a valid OpenAPI document and tells the truth about the running API.

openapi-spec-validator checks the document; a bounded schemathesis run (a few generated requests
per operation, deterministic) sends requests to the real API (real Postgres, Redis, Temporal, the
Zoom emulator) and checks every answer: never a 5xx, a documented status, the documented content
type, a body that matches the documented schema.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import OrgBrowser, key_of

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_OPERATION = 5


async def test_the_document_is_valid_openapi_with_unique_operation_ids(api):
    spec = (await api.http.get("/openapi.json")).json()
    validate(spec)
    ops = [(m, p, op) for p, item in spec["paths"].items() for m, op in item.items()]
    ids = [op["operationId"] for _, _, op in ops]
    assert len(ids) == len(set(ids))
    assert [p for m, p, op in ops if m == "post" and "requestBody" not in op] == []


async def test_the_booking_statuses_in_the_document_are_the_workflows(api):
    from typing import get_args

    from workflows.booking_types import BookingStatus, BookingStatusValue

    spec = (await api.http.get("/openapi.json")).json()
    documented = spec["components"]["schemas"]["BookingOut"]["properties"]["status"]["enum"]
    every = {v for k, v in vars(BookingStatus).items() if k.isupper() and isinstance(v, str)}
    assert set(documented) == set(get_args(BookingStatusValue)) == every
    assert {"in_progress", "no_show"} <= every


def _exercise(schema, url: str, org_id: str, auth: dict[str, dict]) -> list[str]:
    """Run every operation's examples; the failures, one line each (all operations run)."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        security = operation.definition.raw.get("security") or [{}]
        scheme = next(iter(security[0]), None)

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=operation.as_strategy())
        def check(case):
            if case.path_parameters and "org" in case.path_parameters:
                case.path_parameters["org"] = org_id  # the caller's own org, so routes get past 404
            case.call_and_validate(base_url=url, headers=auth.get(scheme, {}), checks=CHECKS,
                                   allow_redirects=False, timeout=30)

        try:
            check()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # schemathesis' FailureGroup; collected to list every operation
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    return failures


async def _until_healthy(api) -> None:
    for _ in range(100):
        if (await api.http.get("/healthz")).status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError((await api.http.get("/healthz")).text)


@pytest.mark.timeout(300)
async def test_every_operation_answers_as_documented(api, temporal_env):
    from worker import build_worker

    org_id, headers = await api.new_org("Schemathesis Research")
    browser = await OrgBrowser(api.url).sign_in(key_of(headers))
    cookie = browser.http.cookies["cvg_session"]
    await browser.close()
    auth = {"orgApiKey": headers, "sessionCookie": {"Cookie": f"cvg_session={cookie}"},
            "adminApiKey": {"Authorization": f"Bearer {api.services.settings.admin_api_key}"}}
    schema = schemathesis.openapi.from_dict((await api.http.get("/openapi.json")).json())
    # A worker polls, so /healthz is whole (its 503 is documented, but is a server error).
    async with build_worker(temporal_env.client, api.services, task_queue=api.services.task_queue,
                            graceful_shutdown_timeout=timedelta(seconds=1)):
        await _until_healthy(api)
        # The requests are synchronous: they run on a thread while this loop serves the API.
        failures = await asyncio.to_thread(_exercise, schema, api.url, org_id, auth)
    assert not failures, "\n\n".join(failures)
