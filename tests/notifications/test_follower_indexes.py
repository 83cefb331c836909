"""Migration 0021 (issue 21): the outbox dispatcher finds a wallet's client principal and its
carers' mandates by an index on ``client_id``, not by reading every principal and mandate in
each round (notifications.rules); the models say the same as the migration."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from payments.db import create_database
from payments.models import Base


def test_a_wallets_followers_are_found_by_index(database_url: str) -> None:
    async def read() -> tuple[dict[str, list[list[str]]], list[object]]:
        db = create_database(database_url)
        async with db.engine.connect() as conn:
            indexes = await conn.run_sync(
                lambda c: {
                    table: [list(i["column_names"]) for i in inspect(c).get_indexes(table)]
                    for table in ("principals", "mandates")
                }
            )
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        await db.dispose()
        return indexes, list(diff)

    indexes, diff = asyncio.run(read())
    assert ["client_id"] in indexes["principals"]
    assert ["client_id"] in indexes["mandates"]
    assert [d for d in diff if "principals" in repr(d) or "mandates" in repr(d)] == []
