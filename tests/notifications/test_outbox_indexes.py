"""The dispatcher's reads of the outbox stay small however long its delivered history
(migration 0024), on PostgreSQL, whichever plan it picks: statistics or none, custom or
generic; and a round still keeps each wallet's order when a row is held elsewhere.

The history is made as the dispatcher makes it: rows written undelivered, then marked
delivered. Until a vacuum, every such row still has its entry in the undelivered-rows indexes
(this machine runs PostgreSQL without autovacuum), so a read that walks an index from its start
meets all of them. Before, without fresh statistics, the reads walked the primary key below the
round's last id and filtered out every delivered row: 2-3 ms a round after 12,000 charges
(auto_explain under bench.run)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select, text

from notifications import dispatcher
from notifications import events as ev
from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from payments.db import Database
from payments.models import OutboxEvent
from payments.uow import UnitOfWork
from tests.factories import seed_world
from tests.support.databases import explain

_HISTORY = """
INSERT INTO outbox (organizer_id, wallet_id, type, payload, created_at)
SELECT :org, (CAST(:wallets AS uuid[]))[1 + i % 50], 'charge.captured', '{}', now()
FROM generate_series(1, 5000) AS i
"""


async def _history(db: Database, organizer_id: uuid.UUID) -> list[uuid.UUID]:
    wallets = [uuid.uuid4() for _ in range(50)]
    async with UnitOfWork(db) as uow:
        await uow.session.execute(text(_HISTORY), {"org": organizer_id, "wallets": wallets})
        await uow.session.execute(text("UPDATE outbox SET delivered_at = now()"))
        await uow.commit()
    return wallets


@pytest.mark.parametrize("analyse", [False, True])
@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_the_rounds_reads_use_the_undelivered_rows_index(
    pg_db: Database, mode: str, analyse: bool
):
    w = await seed_world(pg_db)
    wallets = await _history(pg_db, w.organizer_id)
    if analyse:
        async with UnitOfWork(pg_db) as uow:
            await uow.session.execute(text("ANALYZE outbox"))
            await uow.commit()

    claim = Dispatcher(pg_db, Hub())._claim_locked
    plan = await explain(pg_db, claim, {"param_1": 200}, mode)
    # (A locking read keeps the index's predicate as a filter too, to recheck rows it waited
    # for: that filter is not a walk of the delivered rows.)
    assert "ix_outbox_undelivered" in plan and "pk_outbox" not in plan, plan

    async with UnitOfWork(pg_db, readonly=True) as uow:
        ids, first = dispatcher._FIRST_UNCLAIMED.of(uow.session)
        (of_wallets, of_ids), earlier = dispatcher._EARLIER_UNDELIVERED.of(uow.session)
    round_ids = list(range(6000, 6020))
    # Stops at the first undelivered row outside the round: a limit over the index in id
    # order, not an aggregate over all of it.
    plan = await explain(pg_db, first, {**ids.bind_each(round_ids), "param_1": 1}, mode)
    assert plan.startswith("Limit") and "ix_outbox_undelivered" in plan, plan
    assert "pk_outbox" not in plan and "Seq Scan" not in plan, plan

    params = {
        **of_wallets.bind_each(wallets[:20]),
        **of_ids.bind_each(round_ids),
        "p_max_id": max(round_ids),
    }
    plan = await explain(pg_db, earlier, params, mode)
    assert "ix_outbox_undelivered" in plan, plan
    assert "pk_outbox" not in plan and "Seq Scan on outbox" not in plan, plan


_ROW = """
INSERT INTO outbox (organizer_id, wallet_id, type, payload, created_at)
VALUES (:org, :wallet, 'mandate.changed', CAST(:payload AS json), now()) RETURNING id
"""


async def test_a_round_does_not_overtake_a_row_of_its_wallet_held_elsewhere(
    pg_db: Database, hub: Hub
):
    w = await seed_world(pg_db)
    await _history(pg_db, w.organizer_id)
    mine, other = uuid.uuid4(), uuid.uuid4()
    async with UnitOfWork(pg_db) as uow:
        ids = [
            (
                await uow.session.execute(
                    text(_ROW),
                    {"org": w.organizer_id, "wallet": wallet, "payload": f'{{"n": {n}}}'},
                )
            ).scalar_one()
            for n, wallet in enumerate([mine, other, mine])
        ]
        await uow.commit()
    held, others, later = ids

    heard: list[ev.Event] = []

    async def listen() -> None:
        async with hub.subscribe([ev.wallet_channel(mine), ev.wallet_channel(other)]) as sub:
            async for raw in sub.iter_events():
                heard.append(ev.Event.decode(raw))

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.01)
    d = Dispatcher(pg_db, hub)
    # Another transaction holds the wallet's first row (as a dispatcher of another process
    # would), so the claim skips it. Its wallet's later row waits; the other wallet's goes.
    async with UnitOfWork(pg_db) as holder:
        await holder.session.execute(
            select(OutboxEvent.id).where(OutboxEvent.id == held).with_for_update()
        )
        assert await d.run_once() == 1
        assert d._more, "rows were left: the next round comes at once"
    assert await d.run_once() == 2
    assert await d.run_once() == 0
    for _ in range(100):
        if len(heard) >= 3:
            break
        await asyncio.sleep(0.01)
    listener.cancel()
    assert [e.id for e in heard] == [others, held, later]
