"""The Temporal contract every process shares: task queue, workflow ids, search attributes, schedule.

Production start-up (temporal_setup.py), the dev launcher (devstack.py), the API and the workflows
all import these names from here, so a rename cannot leave one of them behind. Plain constants and
temporalio's key type only: the workflow sandbox imports this module too.
See docs/architecture.md#the-temporal-contract.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TASK_QUEUE = "idi"

# Keyword attributes, stored unencrypted by Temporal: ids and states only, never names or emails.
ORG_ID = SearchAttributeKey.for_keyword("OrgId")
BOOKING_ID = SearchAttributeKey.for_keyword("BookingId")
HOST_KIND = SearchAttributeKey.for_keyword("HostKind")
ZOOM_MEETING_ID = SearchAttributeKey.for_keyword("ZoomMeetingId")
BOOKING_STATUS = SearchAttributeKey.for_keyword("BookingStatus")
SEARCH_ATTRIBUTES = (ORG_ID, BOOKING_ID, ZOOM_MEETING_ID, HOST_KIND, BOOKING_STATUS)
SEARCH_ATTRIBUTE_NAMES = tuple(key.name for key in SEARCH_ATTRIBUTES)

TOKEN_REFRESH_SCHEDULE_ID = "zoom-token-refresh"
INBOX_RETENTION_SCHEDULE_ID = "inbox-retention"


def booking_workflow_id(booking_id: str) -> str:
    return f"idi-booking-{booking_id}"
