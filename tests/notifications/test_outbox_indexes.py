"""The dispatcher's reads of the outbox stay small however long its delivered history
(migration 0024), on PostgreSQL, whichever plan it picks: statistics or none, custom or
generic. Before, without fresh statistics, both reads walked the primary key from the first
row and filtered out every delivered one."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from notifications import dispatcher
from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from payments.db import Database
from payments.uow import UnitOfWork
from tests.factories import seed_world
from tests.support.databases import explain

_HISTORY = """
INSERT INTO outbox (organizer_id, wallet_id, type, payload, created_at, delivered_at)
SELECT :org, gen_random_uuid(), 'charge.captured', '{}', now(), now()
FROM generate_series(1, 5000)
"""


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
async def test_the_rounds_reads_use_the_undelivered_rows_index(pg_db: Database, mode: str):
    w = await seed_world(pg_db)
    async with UnitOfWork(pg_db) as uow:
        await uow.session.execute(text(_HISTORY), {"org": w.organizer_id})
        await uow.commit()

    claim = Dispatcher(pg_db, Hub())._claim_locked
    plan = await explain(pg_db, claim, {"param_1": 200}, mode)
    assert "ix_outbox_undelivered" in plan and "Filter: (delivered_at IS NULL)" not in plan, plan

    async with UnitOfWork(pg_db, readonly=True) as uow:
        (wallets, ids), earlier = dispatcher._EARLIER_UNDELIVERED.of(uow.session)
    params = {
        **wallets.bind_each([uuid.uuid4(), uuid.uuid4()]),
        **ids.bind_each([6000, 6001]),
        "p_max_id": 6001,
    }
    plan = await explain(pg_db, earlier, params, mode)
    assert "ix_outbox_undelivered_wallet" in plan, plan
