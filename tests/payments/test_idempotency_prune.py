"""Old idempotency keys are forgotten by the retention prune (30 days by default); recent ones
still replay, and the money they moved stays in the ledger."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from payments.books import check_books
from payments.clock import utcnow
from payments.db import Database
from payments.models import Charge, IdempotencyRecord
from payments.people.retention import Kind, prune
from payments.results import Happened
from payments.uow import UnitOfWork
from tests.factories import count, seed_world
from tests.support.money import by_wallet, charge, cleaning


async def _charge(db: Database, w, key: str, when) -> dict:
    out = await charge(db, w, cleaning(1), customer=by_wallet(w), key=key, now=when)
    return {"status": out.what, "replayed": out.replayed, "id": out.body["id"]}


async def test_prune_forgets_only_keys_past_the_retention(db: Database) -> None:
    w = await seed_world(db)
    now = utcnow()
    old = await _charge(db, w, "old-key", now)
    recent = await _charge(db, w, "recent-key", now)
    # Age the keys as the calendar would: one past the 30 days, one just within.
    async with UnitOfWork(db) as uow:
        for key, age in (("old-key", 31), ("recent-key", 29)):
            await uow.session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.key == key)
                .values(created_at=now - timedelta(days=age))
            )
        await uow.commit()
    assert (await prune(db)).counts[Kind.IDEMPOTENCY_KEYS] == 1
    assert await count(db, IdempotencyRecord) == 1
    assert await count(db, Charge) == 2  # the money stays
    # The recent key still replays the first answer; nothing is charged twice.
    again = await _charge(db, w, "recent-key", now)
    assert again["replayed"] and again["id"] == recent["id"]
    assert await count(db, Charge) == 2
    # Pruning again finds nothing; the books still add up.
    assert (await prune(db)).counts[Kind.IDEMPOTENCY_KEYS] == 0
    assert (await check_books(db)).ok
    assert old["status"] is Happened.CREATED
