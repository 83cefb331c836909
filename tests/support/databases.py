"""The test databases: is PostgreSQL there, how to empty one, and the CI rule for skips."""

from __future__ import annotations

import os

import asyncpg
import pytest

from payments.db import Database

PG_BASE = os.environ.get("WALLET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
IN_CI = bool(os.environ.get("CI"))


def need(reason: str) -> None:
    """Skip with ``reason`` outside CI; fail in CI, where every suite is required."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


async def pg_ready(base: str = PG_BASE) -> bool:
    try:
        conn = await asyncpg.connect(base + "/postgres", timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def worker_suffix() -> str:
    """Unique per pytest-xdist worker and process: the name of this session's database."""
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0") + f"_{os.getpid()}"


async def truncate(db: Database) -> None:
    """Empty every table the migrations made (whatever later issues add), keep the schema.

    DELETE with foreign-key triggers off is ~50x cheaper than TRUNCATE on small tables; ids are
    not reset, and no test may depend on them.
    """
    async with db.engine.begin() as conn:
        names = (
            (
                await conn.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        await conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for name in names:
            await conn.exec_driver_sql(f'DELETE FROM "{name}"')
