"""Visit holds on the use cases and primitives (both engines): what a hold shows, its event,
one hold account per envelope, release at its instant, and who may see it."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import sqlite

from payments.checkout.visits import (
    capture_hold,
    create_visit_hold,
    expire_holds,
    get_hold,
    void_hold,
)
from payments.clock import utcnow
from payments.db import Database
from payments.errors import HoldNotOpen, NotFound
from payments.ledger.periods import HELSINKI
from payments.models import Account, Hold, HoldLine, OutboxEvent
from payments.models.base import UtcDateTime
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    World,
    add_funded_client,
    assert_books_ok,
    envelope,
    seed_world,
    trust_provider,
)
from tests.support.money import by_phone, cleaning, home_help

MONTHLY = 30_000


async def _hold(db: Database, w: World, hours: int = 2, now=None, ttl=None) -> dict:
    out = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=by_phone(),
        lines=cleaning(hours),
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
        trusted_only=True,
        now=now,
        **({"ttl": ttl} if ttl else {}),
    )
    assert out.what is Happened.CREATED and not out.replayed, out.body
    return out.body


async def _hold_accounts(db: Database) -> list[tuple[int, int]]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = await uow.session.execute(
            select(Account.id, Account.balance_cents).where(Account.kind == AccountKind.HOLD)
        )
        return [(int(a), int(b)) for a, b in rows.all()]


async def test_what_a_hold_shows_and_its_event(db: Database):
    w = await seed_world(db)
    now = utcnow()
    view = await _hold(db, w, now=now)
    assert view["status"] == "held" and view["amount_cents"] == 7000
    assert view["captured_cents"] == 0 and view["charge_id"] is None
    assert (view["provider_id"], view["wallet_id"]) == (str(w.provider_id), str(w.wallet_id))
    assert view["provider_name"] == "Siivouspalvelu Kuura Oy"
    assert view["expires_at"] == (now + timedelta(hours=12)).isoformat()
    assert view["created_at"] == now.isoformat()
    assert len(view["categories"]) == 1
    assert await get_hold(db, provider_id=w.provider_id, hold_id=uuid.UUID(view["id"])) == view
    async with UnitOfWork(db, readonly=True) as uow:
        (event,) = (
            await uow.session.execute(select(OutboxEvent).where(OutboxEvent.type == "hold.placed"))
        ).scalars()
        stored = await uow.session.get(Hold, uuid.UUID(view["id"]))
    assert event.payload == {
        "hold_id": view["id"],
        "provider_name": "Siivouspalvelu Kuura Oy",
        "amount_cents": 7000,
    }
    assert (event.wallet_id, event.provider_id, event.organizer_id) == (
        w.wallet_id,
        w.provider_id,
        w.organizer_id,
    )
    assert stored is not None and stored.purpose == "visit" and stored.period == w.period
    assert stored.trust_period == w.period


def test_stored_times_read_naive_times_as_utc() -> None:
    # holds.aware() is gone: a hold's times are UtcDateTime columns, which do what it did.
    column, dialect = UtcDateTime(), sqlite.dialect()
    naive = utcnow().replace(tzinfo=None)
    assert column.process_result_value(naive, dialect) == naive.replace(tzinfo=UTC)
    aware = utcnow()
    assert column.process_result_value(aware, dialect) is aware
    assert column.process_result_value(None, dialect) is None
    assert column.process_bind_param(naive, dialect) == naive.replace(tzinfo=UTC)
    helsinki = aware.astimezone(HELSINKI)
    bound = column.process_bind_param(helsinki, dialect)
    assert bound == aware and bound is not None and bound.utcoffset() == timedelta(0)
    assert column.process_bind_param(None, dialect) is None


async def test_one_hold_account_per_envelope_holds_all_its_holds(db: Database):
    w = await seed_world(db)
    first = await _hold(db, w, hours=1)
    await _hold(db, w, hours=2)
    accounts = await _hold_accounts(db)
    assert len(accounts) == 1 and accounts[0][1] == 3500 + 7000
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY - 10_500
    out = await void_hold(db, provider_id=w.provider_id, hold_id=uuid.UUID(first["id"]))
    assert out.what is Happened.DONE and not out.replayed
    assert out.body["status"] == "voided" and out.body["captured_cents"] == 0
    assert await _hold_accounts(db) == [(accounts[0][0], 7000)]
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY - 7000
    again = await void_hold(db, provider_id=w.provider_id, hold_id=uuid.UUID(first["id"]))
    assert again.replayed and again.what is Happened.ALREADY_DONE
    assert again.body["status"] == "voided"
    await assert_books_ok(db)


async def test_a_hold_is_only_its_providers(db: Database):
    w = await seed_world(db)
    view = await _hold(db, w)
    hold_id = uuid.UUID(view["id"])
    for call in (
        get_hold(db, provider_id=w.other_provider_id, hold_id=hold_id),
        void_hold(db, provider_id=w.other_provider_id, hold_id=hold_id),
        get_hold(db, provider_id=w.provider_id, hold_id=uuid.uuid4()),
    ):
        with pytest.raises(NotFound, match=r"^No such hold$"):
            await call
    assert (await get_hold(db, provider_id=w.provider_id, hold_id=hold_id))["status"] == "held"


async def test_a_hold_expires_at_its_instant_and_the_job_takes_its_limit(db: Database):
    w = await seed_world(db)
    now = utcnow()
    a = await _hold(db, w, hours=1, now=now, ttl=timedelta(minutes=10))
    b = await _hold(db, w, hours=1, now=now, ttl=timedelta(minutes=20))
    c = await _hold(db, w, hours=1, now=now, ttl=timedelta(minutes=30))
    assert await expire_holds(db, now=now + timedelta(minutes=10) - timedelta(milliseconds=1)) == 0
    assert await expire_holds(db, now=now + timedelta(hours=1), limit=2) == 2
    statuses = [
        (await get_hold(db, provider_id=w.provider_id, hold_id=uuid.UUID(h["id"])))["status"]
        for h in (a, b, c)
    ]
    assert statuses == ["expired", "expired", "held"]
    with pytest.raises(HoldNotOpen):
        await void_hold(db, provider_id=w.provider_id, hold_id=uuid.UUID(a["id"]))
    async with UnitOfWork(db, readonly=True) as uow:
        events = (
            (
                await uow.session.execute(
                    select(OutboxEvent)
                    .where(OutboxEvent.type == "hold.expired")
                    .order_by(OutboxEvent.id)
                )
            )
            .scalars()
            .all()
        )
    assert [e.payload for e in events] == [
        {"hold_id": a["id"], "released_cents": 3500},
        {"hold_id": b["id"], "released_cents": 3500},
    ]
    assert await expire_holds(db, now=now + timedelta(hours=1)) == 1
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    await assert_books_ok(db)


async def test_two_lines_of_one_envelope_are_released_together(db: Database):
    w = await seed_world(db)
    out = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=by_phone(),
        lines=[
            *cleaning(1),
            *home_help(1),
        ],
        idempotency_key="two-lines",
        request_hash="h",
        trusted_only=True,
    )
    assert out.body["amount_cents"] == 7300
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY - 7300
    await void_hold(db, provider_id=w.provider_id, hold_id=uuid.UUID(out.body["id"]))
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    assert [balance for _, balance in await _hold_accounts(db)] == [0]
    await assert_books_ok(db)


async def test_hold_accounts_belong_to_their_wallet_and_closing_is_recorded(db: Database):
    w = await seed_world(db)
    second = await add_funded_client(db, w)
    await trust_provider(db, second, w.provider_id)
    now = utcnow()
    mine = await _hold(db, w, now=now)
    theirs = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=by_phone("+358407654321"),
        lines=cleaning(1),
        idempotency_key="theirs",
        request_hash="h",
        trusted_only=True,
        now=now,
    )
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(Account.wallet_id, Account.balance_cents).where(
                    Account.kind == AccountKind.HOLD
                )
            )
        ).all()
    assert sorted((str(a), b) for a, b in rows) == sorted(
        [(str(w.wallet_id), 7000), (str(second), 3500)]
    )
    # A capture exactly at the hold's end is too late; a moment before, it is taken.
    expires = now + timedelta(hours=12)
    with pytest.raises(HoldNotOpen):
        await capture_hold(
            db,
            provider_id=w.provider_id,
            hold_id=uuid.UUID(theirs.body["id"]),
            lines=cleaning(1),
            idempotency_key="late",
            request_hash="h",
            now=expires,
        )
    captured = await capture_hold(
        db,
        provider_id=w.provider_id,
        hold_id=uuid.UUID(mine["id"]),
        lines=cleaning(1),
        idempotency_key="in-time",
        request_hash="h",
        now=expires - timedelta(seconds=1),
    )
    assert captured.what is Happened.DONE and not captured.replayed
    view = await get_hold(db, provider_id=w.provider_id, hold_id=uuid.UUID(mine["id"]))
    async with UnitOfWork(db, readonly=True) as uow:
        stored = await uow.session.get(Hold, uuid.UUID(mine["id"]))
        assert stored is not None
        categories = {
            str(c)
            for c in (
                await uow.session.execute(
                    select(HoldLine.category_id).where(HoldLine.hold_id == stored.id)
                )
            ).scalars()
        }
    assert view["status"] == "captured" and view["charge_id"] == str(stored.charge_id)
    assert stored.charge_id is not None and stored.closed_at is not None
    assert view["categories"] == sorted(categories)
    voided = await void_hold(db, provider_id=w.provider_id, hold_id=uuid.UUID(theirs.body["id"]))
    assert voided.body["status"] == "voided"
    async with UnitOfWork(db, readonly=True) as uow:
        gone = await uow.session.get(Hold, uuid.UUID(theirs.body["id"]))
    assert gone is not None and gone.captured_cents == 0 and gone.closed_at is not None
    await assert_books_ok(db)


async def test_a_holds_lines_keep_their_quantity_and_unit_price(db: Database):
    """What the provider priced is stored on the hold's line (the visit's receipt shows it)."""
    w = await seed_world(db)
    view = await _hold(db, w, hours=2)
    async with UnitOfWork(db, readonly=True) as uow:
        (line,) = (
            await uow.session.execute(
                select(HoldLine).where(HoldLine.hold_id == uuid.UUID(view["id"]))
            )
        ).scalars()
    assert (line.quantity, line.unit_price_cents, line.amount_cents) == ("2", 3500, 7000)
    assert line.id is not None and line.position == 0
