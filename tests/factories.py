"""A small, realistic organizer to test against: categories, providers, a client, a decision."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from payments.books import CheckReport, check_books
from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError
from payments.ledger.periods import HELSINKI, current_period, first_day, parse_period
from payments.marketplace import providers
from payments.marketplace.prices import add_first_versions
from payments.models import (
    Account,
    Charge,
    ChargeLine,
    Client,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    IdempotencyRecord,
    OutboxEvent,
    Provider,
    ProviderPrice,
    Refund,
    ServiceCategory,
    Transfer,
    Wallet,
)
from payments.people.access import create_api_key
from payments.people.mandates import grant_mandate
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind


@dataclass
class World:
    organizer_id: uuid.UUID
    provider_id: uuid.UUID
    provider_principal: uuid.UUID
    other_provider_id: uuid.UUID
    other_provider_principal: uuid.UUID
    client_id: uuid.UUID
    wallet_id: uuid.UUID
    client_principal: uuid.UUID
    case_manager: uuid.UUID
    phone: str
    period: str


async def seed_world(
    db: Database,
    *,
    monthly_cents: int = 30_000,
    fund: bool = True,
    carry_over: str = "none",
    carry_cap_cents: int = 0,
    valid_from: date | None = None,
    phone: str = "040 123 4567",
    valid_to: date | None = None,
    period: str | None = None,
    lines: list[DecisionLineInput] | None = None,
    trusted: bool = True,
) -> World:
    """One county, two providers, one client with a 'cleaning + home help' line.

    With ``trusted`` (the default) the client trusts both providers with a high per-charge cap,
    so they may charge by phone number or wallet id without a payment request.

    Home help 'kotiapu' (hour, cap 45 EUR), cleaning 'siivous' (hour, cap 40 EUR),
    transport 'kuljetus' (trip), carer's leave 'omaishoidon-vapaa' (day).

    ``period`` (default: this month) is the month that is funded and that the decision starts
    in by default; ``lines`` replaces the single 'Kotiapu ja siivous' line.
    """
    period = period or current_period()
    org = await catalogue.create_organizer(db, slug=f"kainuu-{uuid.uuid4().hex[:6]}", name="Kainuu")
    for code, fi, unit, cap in (
        ("kotiapu", "Kotiapu", "hour", 4500),
        ("siivous", "Siivous", "hour", 4000),
        ("kuljetus", "Kuljetus", "trip", None),
        ("omaishoidon-vapaa", "Omaishoidon vapaa", "day", None),
    ):
        await catalogue.add_category(
            db, organizer_id=org, code=code, names={"fi": fi}, unit=unit, price_cap_cents=cap
        )
    prov, prov_principal = await providers.create_provider(
        db,
        organizer_id=org,
        name="Siivouspalvelu Kuura Oy",
        business_id="1234567-1",
        prices={"siivous": 3500, "kotiapu": 3800},
    )
    other, other_principal = await providers.create_provider(
        db,
        organizer_id=org,
        name="Taksi Hiltunen",
        business_id="7654321-0",
        prices={"kuljetus": 2500},
    )
    client = await catalogue.create_client(
        db, organizer_id=org, first_name="Aino", last_name="Virtanen", phone=phone
    )
    cm = await catalogue.create_principal(
        db, organizer_id=org, role="case_manager", display_name="Liisa Ohjaaja"
    )
    await catalogue.create_decision(
        db,
        organizer_id=org,
        client_id=client.client_id,
        valid_from=valid_from or first_day(period),
        valid_to=valid_to,
        lines=lines
        or [DecisionLineInput("Kotiapu ja siivous", monthly_cents, ("kotiapu", "siivous"))],
        carry_over=carry_over,
        carry_over_cap_cents=carry_cap_cents,
    )
    if fund:
        await fund_period(db, period)
    if trusted:
        for provider in (prov, other):
            await trust_provider(db, client.wallet_id, provider, actor_id=cm)
    return World(
        organizer_id=org,
        provider_id=prov,
        provider_principal=prov_principal,
        other_provider_id=other,
        other_provider_principal=other_principal,
        client_id=client.client_id,
        wallet_id=client.wallet_id,
        client_principal=client.principal_id,
        case_manager=cm,
        phone=phone,
        period=period,
    )


async def api_key_for(db: Database, principal: uuid.UUID) -> str:
    return await create_api_key(db, principal, name="test")


# ---------------------------------------------------------------------------------------------
# Helpers for the payments tests: read the database directly, so a test can prove what was and
# was not written without trusting the code under test.

COUNTED_TABLES: dict[str, Any] = {
    "transfers": Transfer,
    "charges": Charge,
    "charge_lines": ChargeLine,
    "refunds": Refund,
    "outbox": OutboxEvent,
    "idempotency_keys": IdempotencyRecord,
}


async def row_counts(db: Database) -> dict[str, int]:
    """How many rows each table that a money movement writes holds."""
    counts: dict[str, int] = {}
    async with UnitOfWork(db, readonly=True) as uow:
        for name, model in COUNTED_TABLES.items():
            counts[name] = int(
                (await uow.session.execute(select(func.count()).select_from(model))).scalar_one()
            )
    return counts


async def count(db: Database, model: Any, *where: Any) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        stmt = select(func.count()).select_from(model)
        if where:
            stmt = stmt.where(*where)
        return int((await uow.session.execute(stmt)).scalar_one())


@dataclass(frozen=True)
class EnvelopeState:
    id: int
    balance_cents: int
    funded_period: str | None
    expired_period: str | None


async def envelopes(db: Database, wallet_id: uuid.UUID | None = None) -> list[EnvelopeState]:
    """The envelopes (of one wallet, or all), in account order, read straight from the table."""
    stmt = select(
        Account.id, Account.balance_cents, Account.funded_period, Account.expired_period
    ).where(Account.kind == AccountKind.ENVELOPE)
    if wallet_id is not None:
        stmt = stmt.where(Account.wallet_id == wallet_id)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(stmt.order_by(Account.id))).all()
    return [EnvelopeState(int(a), int(b or 0), c, d) for a, b, c, d in rows]


async def envelope(db: Database, wallet_id: uuid.UUID) -> EnvelopeState:
    """The one envelope of a single-line wallet."""
    (only,) = await envelopes(db, wallet_id)
    return only


@dataclass(frozen=True)
class TransferRow:
    id: int
    debit_account_id: int
    credit_account_id: int
    amount_cents: int
    kind: str
    period: str
    charge_id: uuid.UUID | None
    dedupe_key: str | None


async def transfers(db: Database, *, kind: str | None = None) -> list[TransferRow]:
    stmt = select(
        Transfer.id,
        Transfer.debit_account_id,
        Transfer.credit_account_id,
        Transfer.amount_cents,
        Transfer.kind,
        Transfer.period,
        Transfer.charge_id,
        Transfer.dedupe_key,
    ).order_by(Transfer.id)
    if kind is not None:
        stmt = stmt.where(Transfer.kind == kind)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(stmt)).all()
    return [TransferRow(*row) for row in rows]


async def account_balance(db: Database, account_id: int) -> int:
    """An account's balance derived from its transfers (credits minus debits)."""
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        credit = (
            await s.execute(
                select(func.coalesce(func.sum(Transfer.amount_cents), 0)).where(
                    Transfer.credit_account_id == account_id
                )
            )
        ).scalar_one()
        debit = (
            await s.execute(
                select(func.coalesce(func.sum(Transfer.amount_cents), 0)).where(
                    Transfer.debit_account_id == account_id
                )
            )
        ).scalar_one()
    return int(credit) - int(debit)


async def organizer_account_id(db: Database, organizer_id: uuid.UUID, kind: str) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(
                    select(Account.id).where(
                        Account.organizer_id == organizer_id, Account.kind == kind
                    )
                )
            ).scalar_one()
        )


async def provider_payable_id(db: Database, provider_id: uuid.UUID) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(
                    select(Account.id).where(
                        Account.provider_id == provider_id,
                        Account.kind == AccountKind.PROVIDER_PAYABLE,
                    )
                )
            ).scalar_one()
        )


async def charge_row(db: Database, charge_id: uuid.UUID) -> tuple[str, int, int]:
    """(status, total, refunded) of a charge as stored."""
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(Charge.status, Charge.total_cents, Charge.refunded_cents).where(
                    Charge.id == charge_id
                )
            )
        ).one()
    return str(row[0]), int(row[1]), int(row[2])


async def set_provider_status(db: Database, provider_id: uuid.UUID, status: str) -> None:
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Provider).where(Provider.id == provider_id).values(status=status)
        )
        await uow.commit()


async def give_price(db: Database, provider_id: uuid.UUID, code: str, cents: int) -> None:
    """Let a provider charge a category (set-up only)."""
    async with UnitOfWork(db) as uow:
        cat = (
            await uow.session.execute(
                select(ServiceCategory.id).where(ServiceCategory.code == code)
            )
        ).scalar_one()
        uow.session.add(ProviderPrice(provider_id=provider_id, category_id=cat, approved=True))
        await add_first_versions(uow.session, provider_id, {cat: cents}, utcnow())
        await uow.commit()


async def set_price_approved(
    db: Database, provider_id: uuid.UUID, category_code: str, approved: bool
) -> None:
    async with UnitOfWork(db) as uow:
        cat_id = (
            await uow.session.execute(
                select(ServiceCategory.id)
                .join(Provider, Provider.organizer_id == ServiceCategory.organizer_id)
                .where(Provider.id == provider_id, ServiceCategory.code == category_code)
            )
        ).scalar_one()
        await uow.session.execute(
            update(ProviderPrice)
            .where(ProviderPrice.provider_id == provider_id, ProviderPrice.category_id == cat_id)
            .values(approved=approved)
        )
        await uow.commit()


async def add_client_with_decision(
    db: Database,
    w: World,
    *,
    phone: str,
    lines: list[DecisionLineInput],
    valid_from: date,
    valid_to: date | None = None,
    carry_over: str = "none",
    carry_cap_cents: int = 0,
    trusted: bool = True,
) -> catalogue.NewClient:
    """Another client of ``w``'s organizer with one decision (not funded), who trusts ``w``'s
    providers as ``seed_world``'s client does (unless not ``trusted``)."""
    client = await catalogue.create_client(
        db, organizer_id=w.organizer_id, first_name="Eino", last_name="Heikkinen", phone=phone
    )
    await catalogue.create_decision(
        db,
        organizer_id=w.organizer_id,
        client_id=client.client_id,
        valid_from=valid_from,
        valid_to=valid_to,
        lines=lines,
        carry_over=carry_over,
        carry_over_cap_cents=carry_cap_cents,
    )
    if trusted:
        for provider in (w.provider_id, w.other_provider_id):
            await trust_provider(db, client.wallet_id, provider)
    return client


async def add_funded_client(
    db: Database, w: World, *, monthly_cents: int = 30_000, trusted: bool = False
) -> uuid.UUID:
    """A second client of ``w``'s organizer (Eino, 040 765 4321) with a cleaning line of
    ``monthly_cents``, funded for ``w``'s month; their wallet. Trusts no provider unless
    ``trusted``."""
    client = await add_client_with_decision(
        db,
        w,
        phone="040 765 4321",
        lines=[DecisionLineInput("Siivous", monthly_cents, ("siivous",))],
        valid_from=first_day(w.period),
        trusted=trusted,
    )
    await fund_period(db, w.period)
    return client.wallet_id


def at(period: str, day: int = 15, hour: int = 12) -> datetime:
    """An instant inside ``period``: noon Helsinki time on ``day``."""
    y, m = parse_period(period)
    return datetime(y, m, day, hour, tzinfo=HELSINKI)


@dataclass(frozen=True)
class BulkDecision:
    monthly_cents: int
    valid_from: date
    valid_to: date | None = None


async def bulk_envelopes(
    db: Database,
    organizer_id: uuid.UUID,
    category_code: str,
    decisions: list[BulkDecision],
    *,
    chunk: int = 1000,
) -> None:
    """Many clients, each with one single-line decision and its empty envelope, written with
    executemany (setup for the set-based funding test; no money moves here)."""
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        cat_id = (
            await s.execute(
                select(ServiceCategory.id).where(
                    ServiceCategory.organizer_id == organizer_id,
                    ServiceCategory.code == category_code,
                )
            )
        ).scalar_one()
        for start in range(0, len(decisions), chunk):
            part = decisions[start : start + chunk]
            clients, wallets, decs, lines, line_cats, accounts = [], [], [], [], [], []
            for i, d in enumerate(part):
                cid, wid, did, lid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
                n = start + i
                clients.append(
                    {
                        "id": cid,
                        "organizer_id": organizer_id,
                        "first_name": "Bulk",
                        "last_name": f"Client {n}",
                        "phone_e164": f"+35850{n:07d}",
                        "language": "fi",
                        "created_at": now,
                    }
                )
                wallets.append({"id": wid, "organizer_id": organizer_id, "client_id": cid})
                decs.append(
                    {
                        "id": did,
                        "organizer_id": organizer_id,
                        "client_id": cid,
                        "valid_from": d.valid_from,
                        "valid_to": d.valid_to,
                        "carry_over": "none",
                        "carry_over_cap_cents": 0,
                        "created_at": now,
                    }
                )
                lines.append(
                    {
                        "id": lid,
                        "decision_id": did,
                        "label": "Bulk",
                        "monthly_amount_cents": d.monthly_cents,
                    }
                )
                line_cats.append({"line_id": lid, "category_id": cat_id})
                accounts.append(
                    {
                        "organizer_id": organizer_id,
                        "kind": AccountKind.ENVELOPE,
                        "wallet_id": wid,
                        "decision_line_id": lid,
                        "balance_cents": 0,
                    }
                )
            for model, rows in (
                (Client, clients),
                (Wallet, wallets),
                (Decision, decs),
                (DecisionLine, lines),
                (DecisionLineCategory, line_cats),
                (Account, accounts),
            ):
                await s.execute(insert(model), rows)
        await uow.commit()


async def assert_refused(db: Database, exc_type: type[DomainError], call: Awaitable[Any]) -> Any:
    """Await ``call``, expect ``exc_type``, and prove that nothing was written: no row in any
    money table and every envelope's balance and funding state unchanged."""
    counts, envs = await row_counts(db), await envelopes(db)
    with pytest.raises(exc_type) as info:
        await call
    assert await row_counts(db) == counts
    assert await envelopes(db) == envs
    return info.value


async def assert_books_ok(db: Database) -> CheckReport:
    report = await check_books(db)
    assert report.ok, report.violations
    return report


async def trust_provider(
    db: Database,
    wallet_id: uuid.UUID,
    provider_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None = None,
    per_charge_cap_cents: int = 10_000_000,
) -> None:
    """Let a provider charge this wallet without asking (the client's trusted providers)."""
    from payments.checkout.trust import set_trusted

    await set_trusted(
        db,
        actor_id=actor_id or uuid.uuid4(),
        wallet_id=wallet_id,
        provider_id=provider_id,
        per_charge_cap_cents=per_charge_cap_cents,
    )


async def add_bank_profile(
    db: Database, w: World, *, iban: str = "FI2112345600000785", bic: str = "NDEAFIHH"
) -> None:
    """Give ``w``'s provider the profile a payout needs: business id and bank account."""
    from payments.models import ProviderProfile

    async with UnitOfWork(db) as uow:
        uow.session.add(
            ProviderProfile(
                provider_id=w.provider_id,
                organizer_id=w.organizer_id,
                business_id="1234567-1",
                iban=iban,
                bic=bic,
                contact_name="Kaisa Kuura",
                contact_email="kaisa@example.fi",
                contact_phone="+358401111111",
                languages=["fi"],
                municipalities=["Kajaani"],
                created_at=utcnow(),
            )
        )
        await uow.commit()


async def add_carer(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    client_id: uuid.UUID,
    scopes: tuple[str, ...],
    valid_until: date | None = None,
    display_name: str = "Matti",
) -> uuid.UUID:
    """A carer of ``organizer_id`` with a mandate in force over ``client_id`` (accepted, as
    :func:`payments.people.mandates.grant_mandate` records it), until ``valid_until``."""
    carer = await catalogue.create_principal(
        db, organizer_id=organizer_id, role="carer", display_name=display_name
    )
    await grant_mandate(
        db, carer_id=carer, client_id=client_id, scopes=scopes, valid_until=valid_until
    )
    return carer
