"""The retention rule for the webhook inbox: closed and ignored rows older than
INBOX_RETENTION_DAYS are deleted, and so are routed participant events (their names and emails are
personal data, and what they said lives on in the booking's `attendees` rows, which are the
interview record). Pending and unrouted rows, and other routed events, are still work or evidence."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, delete, or_
from sqlmodel import col, select
from temporalio import activity

from activities.liveness import beats

from models import WebhookEvent, utcnow

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

RETAINED_UNTIL_DONE = ("closed", "ignored")
PARTICIPANT_EVENTS = ("meeting.participant_joined", "meeting.participant_left")


class InboxRetentionActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="delete_old_inbox_events")
    @beats
    async def delete_old_inbox_events(self, limit: int) -> int:
        cutoff = utcnow() - timedelta(days=self._services.settings.inbox_retention_days)
        async with self._services.db.session() as s:
            ids = select(WebhookEvent.id).where(
                or_(col(WebhookEvent.route_status).in_(RETAINED_UNTIL_DONE),
                    and_(WebhookEvent.route_status == "routed",
                         col(WebhookEvent.event_type).in_(PARTICIPANT_EVENTS))),
                WebhookEvent.received_at < cutoff).limit(limit)
            result = await s.exec(delete(WebhookEvent).where(col(WebhookEvent.id).in_(ids.scalar_subquery())))
            await s.commit()
        return result.rowcount or 0
