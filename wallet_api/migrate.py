"""Apply the Alembic migrations to the configured database (``wallet db upgrade``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from payments.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _state(connection: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return current, head


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision. Safe to run again."""
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def schema_state(db: Database) -> tuple[str | None, str | None]:
    """(current revision, newest revision)."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(_state)
