"""Re-encrypt every stored secret with the first TOKEN_ENCRYPTION_KEYS key (`python -m cli rotate-keys`).

Rotation is: put the new key first, keep the old one listed, run this, then drop the old key.
Rows are handled in small batches with a version check, so it is safe while the service runs.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy import update
from sqlmodel import select

from models import Database, WebhookEvent, ZoomConnection
from token_cipher import TokenCipher

BATCH = 200


async def reencrypt_all(db: Database, cipher: TokenCipher, progress: Callable[[str], None] = lambda m: None) -> dict:
    counts = {"zoom_connections": 0, "webhook_events": 0}
    last_id = ""
    while True:
        async with db.session() as s:
            rows = (await s.exec(
                select(ZoomConnection).where(ZoomConnection.id > last_id).order_by(ZoomConnection.id).limit(BATCH)
            )).all()
            if not rows:
                break
            for row in rows:
                values = {}
                for field in ("access_token_enc", "refresh_token_enc"):
                    ct = getattr(row, field)
                    if ct and cipher.needs_rotation(ct):
                        plain = cipher.decrypt(ct, table="zoom_connections", row_id=row.id, field=field)
                        values[field] = cipher.encrypt(plain, table="zoom_connections", row_id=row.id, field=field)
                if values:
                    # The version check means a refresh that raced us wins; its tokens are already new-key.
                    result = await s.exec(
                        update(ZoomConnection)
                        .where(ZoomConnection.id == row.id, ZoomConnection.token_version == row.token_version)
                        .values(**values)
                    )
                    counts["zoom_connections"] += result.rowcount
            await s.commit()
            last_id = rows[-1].id
    progress(f"zoom_connections: {counts['zoom_connections']} re-encrypted")
    last_id = ""
    while True:
        async with db.session() as s:
            rows = (await s.exec(
                select(WebhookEvent).where(WebhookEvent.id > last_id, WebhookEvent.download_token_enc.is_not(None))
                .order_by(WebhookEvent.id).limit(BATCH)
            )).all()
            if not rows:
                break
            for row in rows:
                if cipher.needs_rotation(row.download_token_enc):
                    plain = cipher.decrypt(row.download_token_enc, table="webhook_events", row_id=row.id,
                                           field="download_token_enc")
                    row.download_token_enc = cipher.encrypt(plain, table="webhook_events", row_id=row.id,
                                                            field="download_token_enc")
                    s.add(row)
                    counts["webhook_events"] += 1
            await s.commit()
            last_id = rows[-1].id
    progress(f"webhook_events: {counts['webhook_events']} re-encrypted")
    return counts
