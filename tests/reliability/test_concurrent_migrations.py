"""Several processes migrate a fresh PostgreSQL database at the same moment (issue 16): the
advisory lock in wallet_api.migrate lets one migrate while the others wait, and every one
ends at head without an error."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from payments.db import create_database
from tests.servers import WALLET
from tests.support.databases import PG_BASE, need, pg_ready
from wallet_api.migrate import schema_state, upgrade

pytestmark = [pytest.mark.postgres]


@pytest.fixture
async def fresh_url() -> AsyncIterator[str]:
    if not await pg_ready():
        need(f"PostgreSQL is not reachable at {PG_BASE}")
    name = f"wallet_migrate_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_BASE + "/postgres")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield f"{PG_BASE}/{name}"
    conn = await asyncpg.connect(PG_BASE + "/postgres")
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def test_processes_upgrading_at_once_all_end_at_head(fresh_url: str):
    env = {**os.environ, "WALLET_DATABASE_URL": fresh_url}
    procs = [
        await asyncio.create_subprocess_exec(
            WALLET,
            "db",
            "upgrade",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
    for proc, (out, _) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out.decode(errors="replace")
    db = create_database(fresh_url)
    try:
        current, head = await schema_state(db)
        assert current == head
    finally:
        await db.dispose()


async def test_tasks_upgrading_at_once_all_end_at_head(fresh_url: str):
    # Each task its own engine, as separate processes would have.
    dbs = [create_database(fresh_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(db) for db in dbs))
        current, head = await schema_state(dbs[0])
        assert current == head
    finally:
        for db in dbs:
            await db.dispose()
