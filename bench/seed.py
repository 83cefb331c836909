"""Seed a fresh wallet database through the payments use cases, as a county would set it up.

One organizer, one category (``siivous``, hour), ``providers`` approved providers at 35.00 EUR
an hour with an API key each, and ``clients`` clients with distinct Finnish mobile numbers and a
decision each whose monthly line (100,000 EUR) no benchmark can spend, funded for this month.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import text

from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.db import create_database
from payments.ledger.periods import current_period, first_day
from payments.marketplace.providers import create_provider
from payments.people.access import create_api_key
from wallet_api.migrate import upgrade

CATEGORY = "siivous"
UNIT_PRICE_CENTS = 3500
MONTHLY_CENTS = 10_000_000
PHONE_BASE = 1_000_000  # +35840 1000000, +35840 1000001, ...

T = TypeVar("T")


@dataclass
class Seeded:
    phones: list[str]
    provider_keys: list[str]
    period: str
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)


def phone(i: int) -> str:
    return f"+35840{PHONE_BASE + i:07d}"


async def _bounded(items: Iterable[T], fn: Callable[[T], Awaitable[Any]], width: int) -> list[Any]:
    """Run ``fn`` over ``items`` with at most ``width`` calls in flight, keeping order."""
    sem = asyncio.Semaphore(width)

    async def one(item: T) -> Any:
        async with sem:
            return await fn(item)

    return list(await asyncio.gather(*(one(i) for i in items)))


async def _trust_everyone(db: Any, org: uuid.UUID) -> None:
    """Every client trusts every provider, so a charge by phone number captures at once (the
    path measured); without trust it would become a payment request awaiting approval."""
    from sqlalchemy import insert, select

    from payments.clock import utcnow
    from payments.models import Provider, TrustedProvider, Wallet
    from payments.uow import UnitOfWork

    async with UnitOfWork(db) as uow:
        wallets = (
            (await uow.session.execute(select(Wallet.id).where(Wallet.organizer_id == org)))
            .scalars()
            .all()
        )
        providers = (
            (await uow.session.execute(select(Provider.id).where(Provider.organizer_id == org)))
            .scalars()
            .all()
        )
        now = utcnow()
        rows = [
            {
                "id": uuid.uuid4(),
                "organizer_id": org,
                "wallet_id": w,
                "provider_id": p,
                "per_charge_cap_cents": MONTHLY_CENTS,
                "monthly_cap_cents": None,
                "month_spent_cents": 0,
                "created_at": now,
            }
            for w in wallets
            for p in providers
        ]
        for i in range(0, len(rows), 5000):
            await uow.session.execute(insert(TrustedProvider), rows[i : i + 5000])
        await uow.commit()


_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"


async def seed(url: str, *, clients: int, providers: int, log: Any = print) -> Seeded:
    """Migrate the (empty) database at ``url`` and seed it; return what the load needs."""
    started = time.monotonic()
    steps: dict[str, float] = {}
    db = create_database(url)
    width = 1 if db.is_sqlite else 8  # SQLite writes queue on one lock anyway
    try:
        t = time.monotonic()
        await upgrade(db)
        steps["migrate_s"] = round(time.monotonic() - t, 2)

        t = time.monotonic()
        org = await catalogue.create_organizer(
            db, slug=f"bench-{uuid.uuid4().hex[:8]}", name="Benchmark county"
        )
        await catalogue.add_category(
            db, organizer_id=org, code=CATEGORY, names={"fi": "Siivous"}, unit="hour"
        )

        async def make_provider(i: int) -> str:
            _pid, principal = await create_provider(
                db,
                organizer_id=org,
                name=f"Siivous {i} Oy",
                business_id=f"{1000000 + i:07d}-1",
                prices={CATEGORY: UNIT_PRICE_CENTS},
            )
            return await create_api_key(db, principal, name="bench")

        keys = await _bounded(range(providers), make_provider, width)
        steps["providers_s"] = round(time.monotonic() - t, 2)

        period = current_period()
        t = time.monotonic()

        async def make_client(i: int) -> str:
            new = await catalogue.create_client(
                db, organizer_id=org, first_name="Asiakas", last_name=f"N{i}", phone=phone(i)
            )
            await catalogue.create_decision(
                db,
                organizer_id=org,
                client_id=new.client_id,
                valid_from=first_day(period),
                valid_to=None,
                lines=[DecisionLineInput("Siivous", MONTHLY_CENTS, (CATEGORY,))],
            )
            return phone(i)

        phones = await _bounded(range(clients), make_client, width)
        steps["clients_s"] = round(time.monotonic() - t, 2)

        t = time.monotonic()
        summary = await fund_period(db, period)
        steps["funding_s"] = round(time.monotonic() - t, 2)
        if summary.funded_count != clients:
            raise RuntimeError(f"funded {summary.funded_count} envelopes, expected {clients}")

        t = time.monotonic()
        await _trust_everyone(db, org)
        steps["trust_s"] = round(time.monotonic() - t, 2)

        # PostgreSQL's planner statistics of the tables seeded, as a county's server has them
        # once autovacuum has seen them (pgbench -i vacuums its tables too). Without them the
        # phases ran on estimates of empty tables until autovacuum woke, and the charge path's
        # reads scanned every envelope and every client principal instead of their keys. The
        # tables still empty (charges, transfers, outbox, …) are left unanalysed: analysed as
        # empty, the planner would keep scanning them whole while the phases fill them (a
        # county's are large and analysed), where unanalysed it reads their size as they grow.
        # SQLite keeps no statistics unless asked, and the app never asks.
        if db.is_postgres:
            t = time.monotonic()
            async with db.engine.connect() as conn:
                for table in (await conn.execute(text(_TABLES))).scalars().all():
                    if (await conn.execute(text(f'SELECT 1 FROM "{table}" LIMIT 1'))).first():
                        await conn.execute(text(f'ANALYZE "{table}"'))
                await conn.commit()
            steps["analyze_s"] = round(time.monotonic() - t, 2)
    finally:
        await db.dispose()
    seconds = round(time.monotonic() - started, 2)
    log(f"seeded {clients} clients and {providers} providers in {seconds:.1f} s {steps}")
    return Seeded(phones=phones, provider_keys=keys, period=period, seconds=seconds, steps=steps)
