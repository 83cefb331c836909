"""The test databases: is PostgreSQL there, how to empty one, the CI rule for skips, and the
statements a test sends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from payments.db import Database
from payments.uow import UnitOfWork

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


@contextmanager
def statements_on(db: Database, naming: str) -> Iterator[list[str]]:
    """The SQL of every statement sent to ``db`` whose text contains ``naming`` (a table, a
    join), while open."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if naming in statement:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def explain(
    db: Database, stmt: Any, params: dict[str, Any], plan_cache_mode: str = "auto"
) -> str:
    """PostgreSQL's plan for ``stmt`` (built once, run with ``params`` by name) as asyncpg
    would run it, under ``plan_cache_mode`` (``force_generic_plan``: the plan a statement
    prepared and run many times may settle on)."""
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        compiled = stmt.compile(dialect=s.get_bind().dialect)
        raw = (await (await s.connection()).get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute(f"SET LOCAL plan_cache_mode = {plan_cache_mode}")
        args = [params[name] for name in compiled.positiontup or []]
        return "\n".join(r[0] for r in await raw.fetch(f"EXPLAIN {compiled}", *args))
