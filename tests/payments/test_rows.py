"""A list as one bound parameter (payments.rows): the same rows as ``IN (…)`` would find, on both
engines, and one SQL text whatever the list's length (compiled once, and prepared once by
PostgreSQL's driver), where an expanding list was rendered anew for each length."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import BigInteger, Integer, String, Table, event, insert, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect

from payments import idempotency
from payments.checkout import trust
from payments.clock import utcnow
from payments.db import Database
from payments.errors import IdempotencyKeyReused, IdempotencyKeyUnanswered
from payments.models import OutboxEvent, RateCounter
from payments.people import ratelimits
from payments.rows import BatchRows, PerEngine, insert_all, insert_many
from payments.uow import UnitOfWork
from tests.factories import seed_world
from tests.support.databases import explain, statements_on

_RC = RateCounter.__table__
assert isinstance(_RC, Table)
_OUTBOX = OutboxEvent.__table__
assert isinstance(_OUTBOX, Table)


def _by_key(dialect: Dialect) -> tuple[BatchRows, Any]:
    keys = BatchRows(dialect, "keys", key=String())
    return keys, select(_RC.c.key).where(keys.has(_RC.c.key)).order_by(_RC.c.key)


def _by_key_and_window(dialect: Dialect) -> tuple[BatchRows, Any]:
    pairs = BatchRows(dialect, "pairs", key=String(), window_start=BigInteger())
    stmt = select(_RC.c.key, _RC.c.hits).where(pairs.has(_RC.c.key, _RC.c.window_start))
    return pairs, stmt.order_by(_RC.c.key)


BY_KEY = PerEngine(_by_key)
BY_KEY_AND_WINDOW = PerEngine(_by_key_and_window)


async def _counters(db: Database) -> None:
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            insert(_RC),
            [
                {"key": "a", "window_start": 1, "hits": 10},
                {"key": "b", "window_start": 1, "hits": 20},
                {"key": "b", "window_start": 2, "hits": 21},
                {"key": "c", "window_start": 1, "hits": 30},
                # Text the JSON parameter must carry as it is: quotes, a backslash, non-ASCII.
                {"key": 'Äiti "Ö" \\ ☂', "window_start": 1, "hits": 40},
            ],
        )
        await uow.commit()


async def test_a_list_finds_exactly_its_members(db: Database):
    await _counters(db)
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        keys, stmt = BY_KEY.of(s)
        found = (await s.execute(stmt, keys.bind_each(["c", "a", "x"]))).scalars().all()
        assert found == ["a", "c"]
        odd = 'Äiti "Ö" \\ ☂'
        assert (await s.execute(stmt, keys.bind_each([odd, "Aiti"]))).scalars().all() == [odd]
        assert (await s.execute(stmt, keys.bind_each([]))).scalars().all() == []

        pairs, stmt = BY_KEY_AND_WINDOW.of(s)
        rows = (await s.execute(stmt, pairs.bind([("b", 2), ("c", 2), ("a", 1)]))).all()
        assert [tuple(r) for r in rows] == [("a", 10), ("b", 21)]


async def test_one_sql_text_whatever_the_lists_length(db: Database):
    with statements_on(db, "trusted_providers") as seen:
        # The group commit's first lock (and read) of the trusted rows, on both engines.
        for n in (1, 2, 5):
            async with UnitOfWork(db) as uow:
                pairs = {(uuid.uuid4(), uuid.uuid4()) for _ in range(n)}
                assert await trust.lock_many(uow.session, pairs) == {}
    assert len(seen) == 3
    assert len(set(seen)) == 1, seen


async def test_postgresqls_planner_counts_the_batchs_rows(pg_db: Database):
    """On PostgreSQL the rows are arrays, whose length the planner reads from the bound values:
    a batch of three is planned as three rows. The JSON text they replaced was planned as 100
    rows whatever the batch, and against a table of a few thousand rows the planner then chose
    to scan all of it (docs/performance.md)."""
    await _counters(pg_db)
    async with UnitOfWork(pg_db, readonly=True) as uow:
        pairs, stmt = BY_KEY_AND_WINDOW.of(uow.session)
    plan = await explain(pg_db, stmt, pairs.bind([("a", 1), ("b", 2), ("c", 1)]))
    scans = [line for line in plan.splitlines() if "Function Scan" in line]
    assert scans and all(" rows=3 " in line for line in scans), plan


def test_the_columns_must_match_the_rows():
    pairs = BatchRows(sqlite.dialect(), "pairs", key=String(), hits=Integer())
    with pytest.raises(ValueError, match="1 columns against rows of 2"):
        pairs.has(_RC.c.key)


async def test_a_batchs_claims_and_counter_holds_are_one_statement_each(db: Database):
    """The group commit's idempotency claims and its lookup counters' hold insert rows and read
    back which were new: one statement per batch whatever its size. As an executemany with
    ``RETURNING`` in the parameters' order they went one row, one round trip, at a time (the
    tables have no sentinel column for SQLAlchemy to sort the returned rows by)."""
    now = utcnow()
    with (
        statements_on(db, "idempotency_keys") as claims,
        statements_on(db, "rate_counters") as holds,
    ):
        async with UnitOfWork(db) as uow:
            s = uow.session
            first = await idempotency.claim_many(
                s, [("charge:p", f"k{i}", "h") for i in (3, 1, 2)], now=now
            )
            windows = await ratelimits.hold_windows(s, ["z", "y", "x"], window_s=60, now=now)
            await uow.commit()
    assert first == {("charge:p", "k1"): None, ("charge:p", "k2"): None, ("charge:p", "k3"): None}
    assert sorted(windows) == ["x", "y", "z"] and {h for h, _ in windows.values()} == {0}
    assert len(claims) == 1 and len(holds) == 1, (claims, holds)

    # Again, with one key new: the two held ones are someone's earlier requests (a replay
    # read each, as before); the counters are held again, not counted.
    async with UnitOfWork(db) as uow:
        s = uow.session
        again = await idempotency.claim_many(
            s,
            [("charge:p", "k1", "h"), ("charge:p", "k4", "h"), ("charge:p", "k2", "other")],
            now=now,
        )
        assert await ratelimits.hold_windows(s, ["x"], window_s=60, now=now) == {
            "x": (0, windows["x"][1])
        }
        await uow.commit()
    assert again[("charge:p", "k4")] is None
    assert isinstance(again[("charge:p", "k1")], IdempotencyKeyUnanswered)  # not yet answered
    assert isinstance(again[("charge:p", "k2")], IdempotencyKeyReused)


def _event(
    organizer_id: uuid.UUID, now: Any, payload: dict[str, Any], wallet_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """An outbox row as the group commit writes it."""
    return {
        "type": "charge.captured",
        "organizer_id": organizer_id,
        "wallet_id": wallet_id,
        "provider_id": None,
        "payload": payload,
        "created_at": now,
    }


async def test_insert_many_writes_every_value_as_it_is_with_one_statement(db: Database):
    """The group commit's inserts (payments.rows.insert_many): one statement for all rows, not
    an executemany (which PostgreSQL runs row by row), and each value read back as written on
    both engines: timestamps with their zone, JSON with quotes and non-ASCII, NULLs."""
    w = await seed_world(db)
    now = utcnow()
    rows = [
        _event(
            w.organizer_id, now, {"provider_name": 'Äiti "Ö" \\ ☂', "n": i, "none": None}, wallet
        )
        for i, wallet in enumerate([uuid.uuid4(), None, uuid.uuid4()])
    ]
    sent: list[bool] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        if "INSERT INTO outbox" in statement:
            sent.append(many)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with UnitOfWork(db) as uow:
            await insert_many(uow.session, OutboxEvent.__table__, rows)  # type: ignore[arg-type]
            await uow.commit()
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    assert sent == [False]
    async with UnitOfWork(db, readonly=True) as uow:
        got = (
            await uow.session.execute(
                select(
                    OutboxEvent.type,
                    OutboxEvent.organizer_id,
                    OutboxEvent.wallet_id,
                    OutboxEvent.provider_id,
                    OutboxEvent.payload,
                    OutboxEvent.created_at,
                )
                .where(OutboxEvent.type == "charge.captured")
                .order_by(OutboxEvent.id)
            )
        ).all()
    assert [dict(r._mapping) for r in got] == rows


def _set_hits(dialect: Dialect) -> tuple[BatchRows, Any]:
    v = BatchRows(dialect, "v", key=String(), window_start=BigInteger(), hits=BigInteger())
    return v, (
        update(_RC)
        .where(_RC.c.key == v.table.c.key, _RC.c.window_start == v.table.c.window_start)
        .values(hits=v.table.c.hits)
    )


SET_HITS = PerEngine(_set_hits)


async def test_a_batchs_writes_are_one_statement_on_postgresql(db: Database):
    """The group commit's writes (payments.rows.insert_all): its inserts, then an update, as
    one statement on PostgreSQL (data-modifying WITH queries of the last insert) and one
    statement each, in order, on SQLite; every row as written either way. A write that fails
    leaves nothing of the others."""
    await _counters(db)
    w = await seed_world(db)
    now = utcnow()
    events = [_event(w.organizer_id, now, {"n": i}) for i in range(3)]
    counters = [{"key": f"new-{i}", "window_start": 5, "hits": i} for i in range(2)]

    async def write(counters: list[dict[str, Any]]) -> None:
        async with UnitOfWork(db) as uow:
            s = uow.session
            v, stmt = SET_HITS.of(s)
            await insert_all(
                s,
                [(_OUTBOX, events), (_RC, counters)],
                then=(stmt, v.bind([("a", 1, 11), ("c", 1, 31)])),
            )
            await uow.commit()

    with statements_on(db, "") as seen:
        await write(counters)
    writes = [sql for sql in seen if "INSERT" in sql or "UPDATE" in sql]
    if db.is_postgres:
        assert len(writes) == 1, writes
        assert all(part in writes[0] for part in ("outbox", "rate_counters", "UPDATE")), writes
    else:
        assert [sql.split(" (")[0].split(" SET")[0] for sql in writes] == [
            "INSERT INTO outbox",
            "INSERT INTO rate_counters",
            "UPDATE rate_counters",
        ], writes

    async def state() -> tuple[list[Any], list[Any]]:
        async with UnitOfWork(db, readonly=True) as uow:
            s = uow.session
            payloads = (
                await s.execute(
                    select(OutboxEvent.payload)
                    .where(OutboxEvent.created_at == now)
                    .order_by(OutboxEvent.id)
                )
            ).scalars()
            hits = (
                await s.execute(
                    select(_RC.c.key, _RC.c.window_start, _RC.c.hits).order_by(_RC.c.key)
                )
            ).all()
        return list(payloads), [tuple(row) for row in hits]

    written = await state()
    assert written == (
        [{"n": 0}, {"n": 1}, {"n": 2}],
        [
            ("a", 1, 11),
            ("b", 1, 20),
            ("b", 2, 21),
            ("c", 1, 31),
            ("new-0", 5, 0),
            ("new-1", 5, 1),
            ('Äiti "Ö" \\ ☂', 1, 40),
        ],
    )
    # A counter that is already there: the whole write fails, the events and the update too.
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await write([{"key": "b", "window_start": 2, "hits": 99}])
    assert await state() == written
