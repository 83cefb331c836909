"""Use cases that set up who and what: organizers, the service catalogue, clients, providers,
budget decisions and principals. Each creates the ledger accounts its subject needs, in the same
transaction, so no later money movement has to create an account on a hot path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.errors import ClientClosed, Conflict, InvalidInput, NotFound, UnknownCategory, Why
from payments.models import (
    Account,
    AuditEvent,
    Client,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    Organizer,
    Principal,
    ServiceCategory,
    Wallet,
)
from payments.people.phones import to_e164
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, Role

UNITS = ("hour", "visit", "trip", "day", "km", "meal", "month")
LANGUAGES = ("fi", "sv", "en")
MAX_CENTS = 100_000_000  # 1,000,000 EUR: far above any monthly budget or unit price


async def create_organizer(
    db: Database, *, slug: str, name: str, help_phone: str | None = None
) -> uuid.UUID:
    """Create a county and its own accounts: budget, expired and settlement."""
    async with UnitOfWork(db) as uow:
        org = await add_organizer(uow.session, slug=slug, name=name, help_phone=help_phone)
        await uow.commit()
        return org.id


async def add_organizer(
    session: AsyncSession, *, slug: str, name: str, help_phone: str | None = None
) -> Organizer:
    """Add a county and its own accounts to the caller's transaction (flushed, not committed)."""
    org = Organizer(slug=slug, name=name, help_phone=help_phone, created_at=utcnow())
    session.add(org)
    await session.flush()
    for kind in (AccountKind.ORGANIZER_BUDGET, AccountKind.EXPIRED, AccountKind.SETTLEMENT):
        session.add(Account(organizer_id=org.id, kind=kind))
    await session.flush()
    return org


async def add_category(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    code: str,
    names: dict[str, str],
    unit: str,
    price_cap_cents: int | None = None,
) -> uuid.UUID:
    """Add a service to the organizer's catalogue."""
    if unit not in UNITS:
        raise InvalidInput(f"unit must be one of {', '.join(UNITS)}")
    if price_cap_cents is not None and not 0 < price_cap_cents <= MAX_CENTS:
        raise InvalidInput("price cap must be a positive number of cents")
    async with UnitOfWork(db) as uow:
        cat = ServiceCategory(
            organizer_id=organizer_id,
            code=code,
            name_fi=names["fi"],
            name_sv=names.get("sv", names["fi"]),
            name_en=names.get("en", names["fi"]),
            unit=unit,
            price_cap_cents=price_cap_cents,
        )
        uow.session.add(cat)
        await uow.commit()
        return cat.id


@dataclass(frozen=True)
class NewClient:
    client_id: uuid.UUID
    wallet_id: uuid.UUID
    principal_id: uuid.UUID


# Control characters (PostgreSQL cannot store NUL; an escape sequence would reach every screen
# and CSV that shows the name) and bidirectional overrides/isolates (they can make a name read
# as another on screen).
_NOT_IN_NAMES = {chr(c) for c in range(0x20)} | {"\x7f"} | set("\u202a\u202b\u202c\u202d\u202e")
_NOT_IN_NAMES |= set("\u2066\u2067\u2068\u2069")


def clean_name(raw: str, *, max_len: int = 100) -> str:
    """A person's name, stripped; refused if empty, too long or with characters that do not
    belong in a name. Every way in (API, CLI, demo, imports) goes through here."""
    name = raw.strip()
    if not name:
        raise InvalidInput("first and last name are required", why=Why("name-required"))
    if len(name) > max_len:
        raise InvalidInput(
            f"a name has at most {max_len} characters", why=Why("name-too-long", {"max": max_len})
        )
    if any(ch in _NOT_IN_NAMES for ch in name):
        raise InvalidInput(
            "a name may not contain control or text-direction characters",
            why=Why("name-bad-characters"),
        )
    return name


def clean_text(raw: str, *, what: str, max_len: int) -> str:
    """A one-line text such as an organizer's or a service's name, stripped; refused (naming
    ``what``) if empty, too long or with control or text-direction characters."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        raise InvalidInput(f"{what} is required", why=Why("text-required", {"column": what}))
    if len(text) > max_len:
        raise InvalidInput(
            f"{what} has at most {max_len} characters",
            why=Why("text-too-long", {"column": what, "max": max_len}),
        )
    if any(ch in _NOT_IN_NAMES for ch in text):
        raise InvalidInput(
            f"{what} may not contain control or text-direction characters",
            why=Why("text-bad-characters", {"column": what}),
        )
    return text


async def create_client(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    first_name: str,
    last_name: str,
    phone: str,
    language: str = "fi",
    actor_id: uuid.UUID | None = None,
) -> NewClient:
    """Create a client with an empty wallet and the principal they will act as."""
    phone_e164 = to_e164(phone)
    if language not in LANGUAGES:
        raise InvalidInput("language must be fi, sv or en")
    first_name, last_name = clean_name(first_name), clean_name(last_name)
    async with UnitOfWork(db) as uow:
        s = uow.session
        now = utcnow()
        client = Client(
            organizer_id=organizer_id,
            first_name=first_name,
            last_name=last_name,
            phone_e164=phone_e164,
            language=language,
            created_at=now,
        )
        s.add(client)
        try:
            await s.flush()
        except IntegrityError as exc:
            raise Conflict("A client with this phone number exists", slug="phone-taken") from exc
        wallet = Wallet(organizer_id=organizer_id, client_id=client.id)
        principal = Principal(
            organizer_id=organizer_id,
            role=Role.CLIENT,
            display_name=f"{first_name} {last_name}",
            client_id=client.id,
            created_at=now,
        )
        s.add_all([wallet, principal])
        s.add(
            AuditEvent(
                organizer_id=organizer_id,
                actor_id=actor_id,
                action="client.created",
                subject_client_id=client.id,
                created_at=now,
            )
        )
        await uow.commit()
        return NewClient(client.id, wallet.id, principal.id)


async def categories_by_code(
    uow: UnitOfWork, organizer_id: uuid.UUID, codes: object
) -> dict[str, uuid.UUID]:
    rows = await uow.session.execute(
        select(ServiceCategory.code, ServiceCategory.id).where(
            ServiceCategory.organizer_id == organizer_id
        )
    )
    known = {code: cid for code, cid in rows.all()}
    for code in codes:  # type: ignore[attr-defined]
        if code not in known:
            raise UnknownCategory(f"Unknown service category: {code}")
    return known


@dataclass(frozen=True)
class DecisionLineInput:
    """A decision line. A service-voucher line has ``voucher_value_cents`` (what the wallet pays
    at most per unit); with ``hours_per_week`` its monthly amount may be left out (None) and is
    then computed by :func:`monthly_from_weekly_hours`."""

    label: str
    monthly_amount_cents: int | None
    categories: tuple[str, ...]
    voucher_value_cents: int | None = None
    hours_per_week: str | None = None


# Weeks in an average month. The pilots turned "hours a week" into a monthly budget with a
# spreadsheet calculator: seed 004 (Eksote's final report) names it, "laskuri kotihoidon
# palvelujen arviointiin ja tuntihinnan määrittämiseen" (attachment 7, "Laskuri kotihoito HB
# pohja 2018"), and seed 000 writes needs as weekly hours ("henkilokohtainen avustaja
# 30h/vko"). The calculator's own factor is not in the seeds; 52 / 12 is the exact yearly
# average (the rounded 4.3 would pay 0.8 % less every month).
WEEKS_PER_YEAR = 52
MONTHS_PER_YEAR = 12
MAX_HOURS_PER_WEEK = Decimal(168)


def parse_hours(text: str) -> Decimal:
    """Hours a week as an exact decimal string: more than 0, at most 168, three decimals."""
    try:
        hours = Decimal(text.strip()) if isinstance(text, str) else Decimal("NaN")
    except InvalidOperation as exc:
        raise InvalidInput(
            "hours_per_week must be a decimal number such as 7.5", why=Why("hours-not-number")
        ) from exc
    if not hours.is_finite() or not 0 < hours <= MAX_HOURS_PER_WEEK:
        raise InvalidInput(
            "hours_per_week must be more than 0 and at most 168",
            why=Why("hours-out-of-range", {"max": int(MAX_HOURS_PER_WEEK)}),
        )
    if hours.as_tuple().exponent < -3:  # type: ignore[operator]
        raise InvalidInput(
            "hours_per_week has at most three decimals", why=Why("hours-too-precise")
        )
    return hours


def monthly_from_weekly_hours(hours_per_week: str, value_per_hour_cents: int) -> tuple[int, str]:
    """(monthly amount in cents, the formula as text) for "hours a week x value per hour":
    hours x value x 52 / 12, rounded half up to a whole cent, computed exactly (no floats)."""
    hours = parse_hours(hours_per_week)
    if (
        not isinstance(value_per_hour_cents, int)
        or isinstance(value_per_hour_cents, bool)
        or not 0 < value_per_hour_cents <= MAX_CENTS
    ):
        raise InvalidInput(
            "value_per_hour_cents must be a positive whole number of cents",
            why=Why("voucher-out-of-range"),
        )
    milli_hours = int(hours * 1000)  # exact: at most three decimals
    num = milli_hours * value_per_hour_cents * WEEKS_PER_YEAR
    den = 1000 * MONTHS_PER_YEAR
    monthly = (2 * num + den) // (2 * den)  # half up
    if not 0 < monthly <= MAX_CENTS:
        raise InvalidInput(
            "the monthly amount would be out of range",
            why=Why("computed-out-of-range", {"computed_cents": monthly}),
        )
    formula = (
        f"{hours.normalize():f} h/week × {value_per_hour_cents} c/h × "
        f"{WEEKS_PER_YEAR} / {MONTHS_PER_YEAR} = {monthly} c/month"
    )
    return monthly, formula


def decision_line_amount(line: DecisionLineInput) -> int:
    """The line's monthly amount, checked against its voucher and weekly hours."""
    if line.voucher_value_cents is not None and not 0 < line.voucher_value_cents <= MAX_CENTS:
        raise InvalidInput(
            "voucher_value_cents must be a positive number of cents",
            why=Why("voucher-out-of-range"),
        )
    if line.hours_per_week is not None:
        if line.voucher_value_cents is None:
            raise InvalidInput(
                "hours_per_week needs voucher_value_cents (the value per hour)",
                why=Why("hours-need-voucher"),
            )
        computed, _ = monthly_from_weekly_hours(line.hours_per_week, line.voucher_value_cents)
        if line.monthly_amount_cents is not None and line.monthly_amount_cents != computed:
            raise InvalidInput(
                f"monthly_amount_cents {line.monthly_amount_cents} does not match "
                f"hours_per_week × voucher_value_cents ({computed})",
                computed_cents=computed,
                why=Why(
                    "amount-mismatch",
                    {"amount_cents": line.monthly_amount_cents, "computed_cents": computed},
                ),
            )
        return computed
    if line.monthly_amount_cents is None:
        raise InvalidInput(
            "a line needs monthly_amount_cents (or hours_per_week and a voucher)",
            why=Why("amount-missing"),
        )
    return line.monthly_amount_cents


async def create_decision(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    client_id: uuid.UUID,
    valid_from: date,
    valid_to: date | None,
    lines: list[DecisionLineInput],
    carry_over: str = "none",
    carry_over_cap_cents: int = 0,
    actor_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record a budget decision and open one empty envelope per line.

    The envelopes are funded by the monthly funding job (pro-rated in a first or last month).
    """
    if not lines:
        raise InvalidInput("a decision needs at least one line")
    if valid_to is not None and valid_to < valid_from:
        raise InvalidInput("valid_to is before valid_from")
    if carry_over not in ("none", "capped"):
        raise InvalidInput("carry_over must be 'none' or 'capped'")
    if not 0 <= carry_over_cap_cents <= MAX_CENTS:
        raise InvalidInput("carry-over cap out of range")
    amounts = [decision_line_amount(line) for line in lines]
    for line, amount in zip(lines, amounts, strict=True):
        if not 0 < amount <= MAX_CENTS:
            raise InvalidInput("a monthly amount must be a positive number of cents")
        if not line.categories:
            raise InvalidInput("each line names at least one service category")
    async with UnitOfWork(db) as uow:
        s = uow.session
        now = utcnow()
        # Locked: a decision and the account's closing (payments.budgets.closing) take turns.
        client = await s.get(Client, client_id, with_for_update=True)
        if client is None or client.organizer_id != organizer_id:
            raise NotFound("No such client")
        if client.closed_at is not None:
            raise ClientClosed()
        wallet_id = (
            await s.execute(select(Wallet.id).where(Wallet.client_id == client_id))
        ).scalar_one()
        cats = await categories_by_code(
            uow, organizer_id, {c for ln in lines for c in ln.categories}
        )
        decision = Decision(
            organizer_id=organizer_id,
            client_id=client_id,
            valid_from=valid_from,
            valid_to=valid_to,
            carry_over=carry_over,
            carry_over_cap_cents=carry_over_cap_cents if carry_over == "capped" else 0,
            decided_by=actor_id,
            created_at=now,
        )
        s.add(decision)
        await s.flush()
        for line, amount in zip(lines, amounts, strict=True):
            dl = DecisionLine(
                decision_id=decision.id,
                label=line.label,
                monthly_amount_cents=amount,
                voucher_value_cents=line.voucher_value_cents,
                hours_per_week=(
                    f"{parse_hours(line.hours_per_week).normalize():f}"
                    if line.hours_per_week is not None
                    else None
                ),
            )
            s.add(dl)
            await s.flush()
            for code in dict.fromkeys(line.categories):
                s.add(DecisionLineCategory(line_id=dl.id, category_id=cats[code]))
            s.add(
                Account(
                    organizer_id=organizer_id,
                    kind=AccountKind.ENVELOPE,
                    wallet_id=wallet_id,
                    decision_line_id=dl.id,
                    balance_cents=0,
                )
            )
        s.add(
            AuditEvent(
                organizer_id=organizer_id,
                actor_id=actor_id,
                action="decision.created",
                subject_client_id=client_id,
                detail=str(decision.id),
                created_at=now,
            )
        )
        await uow.commit()
        return decision.id


async def create_principal(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    role: str,
    display_name: str,
    client_id: uuid.UUID | None = None,
    provider_id: uuid.UUID | None = None,
    admin: bool = False,
) -> uuid.UUID:
    """Create a case manager (an admin with ``admin``), carer or provider staff member."""
    if admin and role != Role.CASE_MANAGER:
        raise InvalidInput("Only a case manager has the admin right")
    async with UnitOfWork(db) as uow:
        p = Principal(
            organizer_id=organizer_id,
            role=role,
            display_name=display_name,
            client_id=client_id,
            provider_id=provider_id,
            admin=admin,
            created_at=utcnow(),
        )
        uow.session.add(p)
        await uow.commit()
        return p.id
