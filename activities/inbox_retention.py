"""The retention rule for the webhook inbox: closed and ignored rows older than
INBOX_RETENTION_DAYS are deleted (pending, routed and unrouted ones are still work to do)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col, select
from temporalio import activity

from models import WebhookEvent, utcnow

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services import Services

RETAINED_UNTIL_DONE = ("closed", "ignored")


class InboxRetentionActivities:
    def __init__(self, services: Services) -> None:
        self._services = services

    @activity.defn(name="delete_old_inbox_events")
    async def delete_old_inbox_events(self, limit: int) -> int:
        cutoff = utcnow() - timedelta(days=self._services.settings.inbox_retention_days)
        async with self._services.db.session() as s:
            ids = select(WebhookEvent.id).where(
                col(WebhookEvent.route_status).in_(RETAINED_UNTIL_DONE),
                WebhookEvent.received_at < cutoff).limit(limit)
            result = await s.exec(delete(WebhookEvent).where(col(WebhookEvent.id).in_(ids.scalar_subquery())))
            await s.commit()
        return result.rowcount or 0
