"""Bring a database to the newest schema with Alembic (used by `make run`, the CLI and tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent


def alembic_config() -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "models" / "migrations"))
    return cfg


async def migrate(url: str, revision: str = "head") -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            def upgrade(sync_conn) -> None:
                cfg = alembic_config()
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(upgrade)
    finally:
        await engine.dispose()
