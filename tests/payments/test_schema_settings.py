"""Storage settings the migrations make: the accounts table keeps room on each page for
in-place balance updates on PostgreSQL (migration 0008)."""

from __future__ import annotations

from sqlalchemy import text

from payments.db import Database
from wallet_api.migrate import schema_state


async def test_migrated_to_the_newest_revision_with_room_for_balance_updates(db: Database) -> None:
    current, head = await schema_state(db)
    assert current == head and head is not None and head >= "0008"
    if db.is_postgres:
        async with db.engine.connect() as conn:
            options = (
                await conn.execute(
                    text("SELECT reloptions FROM pg_class WHERE relname = 'accounts'")
                )
            ).scalar_one()
        assert options is not None and "fillfactor=70" in options
