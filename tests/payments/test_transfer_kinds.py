"""The database knows the transfer kinds (issue 14, item 3; migration 0011).

``payments.vocabulary.TransferKind`` names every kind of movement; ``ck_transfers_kind_known``
makes the database refuse any other, on both engines, past every use case. The migration is
tried on a ledger with charges, a refund and a settlement (which refer to transfers): the rows
satisfy the constraint and stay as they are, a row of another kind stops the upgrade, and
the downgrade drops the constraint again.
"""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic import command
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from payments.clock import utcnow
from payments.db import Database, create_database
from payments.marketplace.settlements import settle_providers
from payments.models import Settlement, SettlementLine, Transfer
from payments.vocabulary import AccountKind, TransferKind
from tests.factories import World, assert_books_ok, organizer_account_id, seed_world
from tests.marketplace.helpers import utc
from tests.support.databases import PG_BASE, need, pg_ready
from tests.support.money import charged, exactly, refund
from wallet_api.migrate import MIGRATIONS, alembic_config, schema_state

P = "2031-01"
BEFORE = "0010"  # the revision before ck_transfers_kind_known
CONSTRAINT = "ck_transfers_kind_known"


def transfer(w: World, budget: int, envelope: int, kind: str) -> Any:
    return insert(Transfer).values(
        organizer_id=w.organizer_id,
        debit_account_id=budget,
        credit_account_id=envelope,
        amount_cents=100,
        kind=kind,
        period=P,
        created_at=utcnow(),
    )


async def ledger(db: Database) -> tuple[World, int, int]:
    """A month with charges, a refund and a settlement: (world, budget, an envelope)."""
    w = await seed_world(db, period=P)
    first = await charged(db, w, exactly(3500), now=utc(P, 3))
    await charged(db, w, exactly(2000), now=utc(P, 4))
    await refund(db, w, first, 500, now=utc(P, 5))
    run = await settle_providers(db, date(2031, 1, 10), now=utc(P, 11))
    assert [s.amount_cents for s in run.settled] == [5000]
    budget = await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET)
    async with db.engine.connect() as conn:
        envelope = (
            await conn.execute(
                select(Transfer.credit_account_id)
                .where(Transfer.kind == TransferKind.FUNDING)
                .limit(1)
            )
        ).scalar_one()
    return w, budget, int(envelope)


async def refused(db: Database, statement: Any) -> str:
    with pytest.raises(IntegrityError) as info:
        async with db.engine.begin() as conn:
            await conn.execute(statement)
    return str(info.value.orig)


async def kinds(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(Transfer.kind, func.count()).group_by(Transfer.kind))
        return {str(kind): int(n) for kind, n in rows}


async def test_the_database_refuses_an_unknown_transfer_kind(db):
    w, budget, envelope = await ledger(db)
    before = await kinds(db)
    said = await refused(db, transfer(w, budget, envelope, "bonus"))
    assert CONSTRAINT in said, said
    # An existing row cannot be given one either.
    said = await refused(
        db, update(Transfer).where(Transfer.kind == TransferKind.CHARGE).values(kind="gift")
    )
    assert CONSTRAINT in said, said
    # The kinds differ from a known one only in case or spacing: still refused.
    for almost in ("Charge", "charge ", "hold-release"):
        assert CONSTRAINT in await refused(db, transfer(w, budget, envelope, almost))
    assert await kinds(db) == before
    await assert_books_ok(db)


async def test_every_transfer_kind_of_the_vocabulary_is_accepted(db):
    """The constraint lists exactly the enum: a kind the code may write is never refused."""
    w, budget, envelope = await ledger(db)
    async with db.engine.connect() as conn:
        tx = await conn.begin()
        for kind in TransferKind:
            await conn.execute(transfer(w, budget, envelope, kind))
        await tx.rollback()
    await assert_books_ok(db)


# --- the migration, up and down, on a ledger with rows ------------------------------------------


@pytest.fixture
async def scratch_url(engine_name: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the engine, no schema: the test migrates it itself."""
    if engine_name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'kinds.sqlite3'}"
        return
    if not await pg_ready():
        need(f"PostgreSQL is not reachable at {PG_BASE}")
    name = f"wallet_kinds_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_BASE + "/postgres")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        conn = await asyncpg.connect(PG_BASE + "/postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def migrate(db: Database, revision: str, *, down: bool = False) -> None:
    def run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def counts(db: Database) -> tuple[dict[str, int], int, int]:
    async with db.engine.connect() as conn:
        settlements = (await conn.execute(select(func.count()).select_from(Settlement))).scalar()
        lines = (await conn.execute(select(func.count()).select_from(SettlementLine))).scalar()
    return await kinds(db), int(settlements or 0), int(lines or 0)


async def test_the_migration_adds_and_drops_the_constraint_on_existing_rows(scratch_url):
    db = create_database(scratch_url)
    try:
        # The rows are written by today's models (at head), then the schema goes back to
        # before the constraint: later migrations add columns the models write.
        await migrate(db, "head")
        w, budget, envelope = await ledger(db)
        rows = await counts(db)
        assert set(rows[0]) >= {"funding", "charge", "refund", "settlement"} and rows[1:] == (1, 3)
        await migrate(db, BEFORE, down=True)
        assert await counts(db) == rows

        await migrate(db, "head")
        current, head = await schema_state(db)
        assert current == head
        assert await counts(db) == rows  # every row kept, settlements still name their transfers
        await assert_books_ok(db)
        assert CONSTRAINT in await refused(db, transfer(w, budget, envelope, "bonus"))

        await migrate(db, BEFORE, down=True)
        assert await counts(db) == rows
        async with db.engine.begin() as conn:  # no constraint any more: accepted
            await conn.execute(transfer(w, budget, envelope, "bonus"))
        # A row of an unknown kind makes the upgrade fail (the database checks existing rows),
        # and the failed upgrade changes nothing.
        with pytest.raises((IntegrityError, RuntimeError)) as info:
            await migrate(db, "head")
        assert CONSTRAINT in str(info.value)
        assert await schema_state(db) == (BEFORE, head)
        async with db.engine.begin() as conn:
            await conn.execute(delete(Transfer).where(Transfer.kind == "bonus"))
        await migrate(db, "head")
        assert await counts(db) == rows
        assert CONSTRAINT in await refused(db, transfer(w, budget, envelope, "bonus"))
        await assert_books_ok(db)
    finally:
        await db.dispose()


def _migration(name: str) -> Any:
    path = MIGRATIONS / "versions" / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_kinds_in_the_migrations_are_the_vocabulary():
    """Migrations 0011, 0014 and 0016 write their lists out: 0011 the first nine kinds, each
    later one the list before it plus its own, and the latest every kind of the enum, in the
    enum's order."""
    first = _migration("2026_12_03_0011_transfer_kinds.py")
    assert first.KINDS == tuple(TransferKind)[:9]
    bank_loop = _migration("2026_12_04_0014_bank_loop.py")
    assert bank_loop.OLD_KINDS == first.KINDS
    assert bank_loop.KINDS == tuple(TransferKind)[:10]
    latest = _migration("2026_12_04_0016_corrections.py")
    assert latest.OLD_KINDS == bank_loop.KINDS
    assert latest.KINDS == tuple(TransferKind)
