"""Apply the Alembic migrations to the configured database (``wallet db upgrade``).

Several processes may start at the same moment on a fresh database (``wallet serve`` on two
hosts, a ``wallet worker`` beside them, a deploy's ``wallet db upgrade``). On PostgreSQL the
upgrade runs under a transaction-level advisory lock with a fixed key: the first process
migrates, the others wait for its commit and then find the schema at head, with nothing left
to do. SQLite needs no lock: it serialises writers, and the upgrade is one write transaction.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from payments.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x57414C4D  # "WALM"; the scheduler's funding lock is "WALL"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def _upgrade(connection: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


@functools.cache
def head_revision() -> str | None:
    """The newest revision of the code (read from the scripts once: /ready asks often)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _state(connection: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    return current, head_revision()


async def upgrade(db: Database) -> None:
    """Bring the schema to the newest revision. Safe to run again."""
    async with db.engine.begin() as conn:
        if db.is_postgres:
            # Held until this transaction ends: one process migrates at a time.
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        await conn.run_sync(_upgrade)


async def schema_state(db: Database) -> tuple[str | None, str | None]:
    """(current revision, newest revision)."""
    async with db.engine.connect() as conn:
        return await conn.run_sync(_state)
