"""Start-up steps a Temporal cluster needs before bookings run: the search attributes ops filter on.

The dev server gets them on its command line; any other cluster gets them here, idempotently,
through the operator service (the time-skipping test server accepts only this route too).
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client

from devstack import SEARCH_ATTRIBUTES


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register any missing Keyword attribute; returns the names it added."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = [n for n in SEARCH_ATTRIBUTES if n not in existing.custom_attributes]
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={n: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for n in missing},
            )
        )
    return missing
