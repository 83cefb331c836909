"""Read models for the staff screens: case managers' client list and a client's file, the
monthly funding runs as the ledger records them, and a provider's open visits.

Read-only: every query runs in a read-only unit of work and is scoped to one organizer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import and_, func, or_, select

from payments.clock import utcnow
from payments.db import Database
from payments.errors import InvalidInput, NotFound
from payments.ledger.periods import first_day, last_day
from payments.models import (
    Account,
    Client,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    Hold,
    HoldLine,
    Invite,
    Passkey,
    Principal,
    QrCard,
    ServiceCategory,
    Transfer,
    Wallet,
)
from payments.reporting.cursors import decode_cursor, encode_cursor
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, HoldStatus, TransferKind

MAX_CLIENTS_PAGE = 100
MAX_QUERY = 100


@dataclass(frozen=True)
class ClientRow:
    client_id: uuid.UUID
    wallet_id: uuid.UUID
    first_name: str
    last_name: str
    phone: str
    language: str
    created_at: datetime
    has_passkey: bool
    # When the account was closed (payments.budgets.closing); None: open.
    closed_at: datetime | None = None


@dataclass(frozen=True)
class ClientPage:
    items: list[ClientRow]
    next_cursor: str | None


def _like(text: str) -> str:
    """A LIKE pattern that matches ``text`` literally anywhere (``%`` and ``_`` escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_clients(
    db: Database,
    organizer_id: uuid.UUID,
    *,
    query: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> ClientPage:
    """The organizer's clients by last name, first name; ``query`` matches a part of the name
    (any case) or of the phone number's digits. Keyset pages: ``cursor`` from the last page."""
    limit = max(1, min(limit, MAX_CLIENTS_PAGE))
    text = (query or "").strip()
    if len(text) > MAX_QUERY:
        raise InvalidInput("The search is too long")
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        has_passkey = (
            select(func.count(Passkey.id))
            .join(Principal, Principal.id == Passkey.principal_id)
            .where(Principal.client_id == Client.id, Passkey.revoked_at.is_(None))
            .correlate(Client)
            .scalar_subquery()
        )
        stmt = (
            select(Client, Wallet.id, has_passkey)
            .join(Wallet, Wallet.client_id == Client.id)
            .where(Client.organizer_id == organizer_id)
            .order_by(Client.last_name, Client.first_name, Client.id)
            .limit(limit + 1)
        )
        if text:
            name = func.lower(Client.first_name + " " + Client.last_name)
            reverse = func.lower(Client.last_name + " " + Client.first_name)
            wanted = [
                name.like(_like(text.lower()), escape="\\"),
                reverse.like(_like(text.lower()), escape="\\"),
            ]
            digits = "".join(ch for ch in text if ch.isdigit())
            if len(digits) >= 3:
                # "040 123" and "+35840123" both find +35840123...: a national leading 0 is
                # the country code in E.164.
                national = digits[1:] if digits.startswith("0") else digits
                wanted.append(Client.phone_e164.like(_like(national)))
            stmt = stmt.where(or_(*wanted))
        if cursor:
            last, first, cid = decode_cursor(cursor, str, str, uuid.UUID)
            stmt = stmt.where(
                or_(
                    Client.last_name > last,
                    and_(Client.last_name == last, Client.first_name > first),
                    and_(Client.last_name == last, Client.first_name == first, Client.id > cid),
                )
            )
        rows = (await s.execute(stmt)).all()
    page = rows[:limit]
    items = [
        ClientRow(
            client_id=c.id,
            wallet_id=wallet_id,
            first_name=c.first_name,
            last_name=c.last_name,
            phone=c.phone_e164,
            language=c.language,
            created_at=c.created_at,
            has_passkey=bool(passkeys),
            closed_at=c.closed_at,
        )
        for c, wallet_id, passkeys in page
    ]
    next_cursor = None
    if len(rows) > limit and items:
        last_row = items[-1]
        next_cursor = encode_cursor(last_row.last_name, last_row.first_name, last_row.client_id)
    return ClientPage(items=items, next_cursor=next_cursor)


@dataclass(frozen=True)
class DecisionLineRow:
    label: str
    monthly_amount_cents: int
    categories: list[str]


@dataclass(frozen=True)
class DecisionRow:
    decision_id: uuid.UUID
    valid_from: date
    valid_to: date | None
    carry_over: str
    carry_over_cap_cents: int
    created_at: datetime
    lines: list[DecisionLineRow] = field(default_factory=list)


@dataclass(frozen=True)
class CardRow:
    card_id: uuid.UUID
    card_number: str
    status: str
    has_pin: bool
    failed_attempts: int
    created_at: datetime


@dataclass(frozen=True)
class InviteRow:
    created_at: datetime
    expires_at: datetime
    status: str  # open, used, revoked, expired


@dataclass(frozen=True)
class ClientFile:
    client: ClientRow
    decisions: list[DecisionRow]
    cards: list[CardRow]
    invites: list[InviteRow]


def _invite_status(inv: Invite, now: datetime) -> str:
    if inv.used_at is not None:
        return "used"
    if inv.revoked_at is not None:
        return "revoked"
    return "expired" if inv.expires_at <= now else "open"


async def client_file(db: Database, organizer_id: uuid.UUID, client_id: uuid.UUID) -> ClientFile:
    """One client of the organizer: their decisions (newest first, with lines and services),
    QR cards and invites. Another organizer's client is ``NotFound``."""
    now = utcnow()
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        found = (
            await s.execute(
                select(Client, Wallet.id)
                .join(Wallet, Wallet.client_id == Client.id)
                .where(Client.id == client_id, Client.organizer_id == organizer_id)
            )
        ).first()
        if found is None:
            raise NotFound("No such client")
        client, wallet_id = found
        principal_ids = list(
            (await s.execute(select(Principal.id).where(Principal.client_id == client_id)))
            .scalars()
            .all()
        )
        passkeys = 0
        invites: list[InviteRow] = []
        if principal_ids:
            passkeys = int(
                (
                    await s.execute(
                        select(func.count(Passkey.id)).where(
                            Passkey.principal_id.in_(principal_ids), Passkey.revoked_at.is_(None)
                        )
                    )
                ).scalar_one()
            )
            invites = [
                InviteRow(
                    created_at=i.created_at, expires_at=i.expires_at, status=_invite_status(i, now)
                )
                for i in (
                    await s.execute(
                        select(Invite)
                        .where(Invite.principal_id.in_(principal_ids))
                        .order_by(Invite.created_at.desc())
                        .limit(20)
                    )
                )
                .scalars()
                .all()
            ]
        decisions = list(
            (
                await s.execute(
                    select(Decision)
                    .where(Decision.client_id == client_id, Decision.organizer_id == organizer_id)
                    .order_by(Decision.valid_from.desc(), Decision.created_at.desc())
                )
            )
            .scalars()
            .all()
        )
        lines: dict[uuid.UUID, list[DecisionLineRow]] = {}
        if decisions:
            line_rows = (
                (
                    await s.execute(
                        select(DecisionLine)
                        .where(DecisionLine.decision_id.in_([d.id for d in decisions]))
                        .order_by(DecisionLine.label, DecisionLine.id)
                    )
                )
                .scalars()
                .all()
            )
            cats: dict[uuid.UUID, list[str]] = {}
            if line_rows:
                for line_id, code in (
                    await s.execute(
                        select(DecisionLineCategory.line_id, ServiceCategory.code)
                        .join(
                            ServiceCategory,
                            ServiceCategory.id == DecisionLineCategory.category_id,
                        )
                        .where(DecisionLineCategory.line_id.in_([ln.id for ln in line_rows]))
                        .order_by(ServiceCategory.code)
                    )
                ).all():
                    cats.setdefault(line_id, []).append(code)
            for ln in line_rows:
                lines.setdefault(ln.decision_id, []).append(
                    DecisionLineRow(ln.label, ln.monthly_amount_cents, cats.get(ln.id, []))
                )
        card_rows = (
            (
                await s.execute(
                    select(QrCard)
                    .where(QrCard.wallet_id == wallet_id)
                    .order_by(QrCard.created_at.desc())
                )
            )
            .scalars()
            .all()
        )
    return ClientFile(
        client=ClientRow(
            client_id=client.id,
            wallet_id=wallet_id,
            first_name=client.first_name,
            last_name=client.last_name,
            phone=client.phone_e164,
            language=client.language,
            created_at=client.created_at,
            has_passkey=passkeys > 0,
            closed_at=client.closed_at,
        ),
        decisions=[
            DecisionRow(
                decision_id=d.id,
                valid_from=d.valid_from,
                valid_to=d.valid_to,
                carry_over=d.carry_over,
                carry_over_cap_cents=d.carry_over_cap_cents,
                created_at=d.created_at,
                lines=lines.get(d.id, []),
            )
            for d in decisions
        ],
        cards=[
            CardRow(
                card_id=c.id,
                card_number=c.card_number,
                status=c.status,
                has_pin=c.pin_hash is not None,
                failed_attempts=c.failed_attempts,
                created_at=c.created_at,
            )
            for c in card_rows
        ],
        invites=invites,
    )


@dataclass
class _Tally:
    funded_envelopes: int = 0
    funded_cents: int = 0
    expired_envelopes: int = 0
    expired_cents: int = 0
    eligible: int = 0
    times: list[datetime] = field(default_factory=list)


@dataclass(frozen=True)
class FundingRun:
    period: str
    funded_envelopes: int
    funded_cents: int
    expired_envelopes: int
    expired_cents: int
    started_at: datetime | None
    finished_at: datetime | None
    envelopes_eligible: int


async def funding_runs(
    db: Database, organizer_id: uuid.UUID, *, limit: int = 24
) -> list[FundingRun]:
    """Monthly funding per budget month, newest first, as the ledger shows it: how many
    envelopes were funded with how much, what expired at the month's close, when the first
    and last transfer of the run were written, and how many envelopes had a decision valid in
    that month (``envelopes_eligible``: the run is complete when it funded them all).

    Funding transfers are keyed by envelope and month, so each envelope counts once however
    often the job ran."""
    limit = max(1, min(limit, 120))
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        rows = (
            await s.execute(
                select(
                    Transfer.period,
                    Transfer.kind,
                    func.count(func.distinct(Transfer.credit_account_id)),
                    func.count(func.distinct(Transfer.debit_account_id)),
                    func.coalesce(func.sum(Transfer.amount_cents), 0),
                    func.min(Transfer.created_at),
                    func.max(Transfer.created_at),
                )
                .where(
                    Transfer.organizer_id == organizer_id,
                    Transfer.kind.in_((TransferKind.FUNDING, TransferKind.EXPIRY)),
                )
                .group_by(Transfer.period, Transfer.kind)
            )
        ).all()
        by_period: dict[str, _Tally] = {}
        for period, kind, credited, debited, cents, first_at, last_at in rows:
            tally = by_period.setdefault(period, _Tally())
            if kind == TransferKind.FUNDING:
                tally.funded_envelopes, tally.funded_cents = int(credited), int(cents)
            else:
                tally.expired_envelopes, tally.expired_cents = int(debited), int(cents)
            tally.times.extend(t for t in (first_at, last_at) if t is not None)
        periods = sorted(by_period, reverse=True)[:limit]
        for period in periods:
            # Envelopes whose decision is valid on some day of the month: the ones the run
            # should have funded (a line starting mid-month is funded pro rata).
            by_period[period].eligible = int(
                (
                    await s.execute(
                        select(func.count(Account.id))
                        .join(DecisionLine, DecisionLine.id == Account.decision_line_id)
                        .join(Decision, Decision.id == DecisionLine.decision_id)
                        .where(
                            Account.organizer_id == organizer_id,
                            Account.kind == AccountKind.ENVELOPE,
                            Decision.valid_from <= last_day(period),
                            or_(
                                Decision.valid_to.is_(None),
                                Decision.valid_to >= first_day(period),
                            ),
                        )
                    )
                ).scalar_one()
            )
    return [
        FundingRun(
            period=period,
            funded_envelopes=by_period[period].funded_envelopes,
            funded_cents=by_period[period].funded_cents,
            expired_envelopes=by_period[period].expired_envelopes,
            expired_cents=by_period[period].expired_cents,
            started_at=min(by_period[period].times, default=None),
            finished_at=max(by_period[period].times, default=None),
            envelopes_eligible=by_period[period].eligible,
        )
        for period in periods
    ]


@dataclass(frozen=True)
class OpenVisitLine:
    category: str
    quantity: str | None
    unit_price_cents: int | None
    amount_cents: int


@dataclass(frozen=True)
class OpenVisit:
    hold_id: uuid.UUID
    amount_cents: int
    created_at: datetime
    expires_at: datetime
    lines: list[OpenVisitLine]


async def open_visits(db: Database, provider_id: uuid.UUID, *, limit: int = 100) -> list[OpenVisit]:
    """A provider's visit holds still waiting for check-out (not expired), newest first, with
    what was held per service: the check-out screen on any of the provider's devices."""
    limit = max(1, min(limit, 200))
    now = utcnow()
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        holds = list(
            (
                await s.execute(
                    select(Hold)
                    .where(
                        Hold.provider_id == provider_id,
                        Hold.purpose == "visit",
                        Hold.status == HoldStatus.HELD,
                        Hold.expires_at > now,
                    )
                    .order_by(Hold.created_at.desc(), Hold.id)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        lines: dict[uuid.UUID, list[OpenVisitLine]] = {}
        if holds:
            for line, code in (
                await s.execute(
                    select(HoldLine, ServiceCategory.code)
                    .join(ServiceCategory, ServiceCategory.id == HoldLine.category_id)
                    .where(HoldLine.hold_id.in_([h.id for h in holds]))
                    .order_by(HoldLine.hold_id, HoldLine.position)
                )
            ).all():
                lines.setdefault(line.hold_id, []).append(
                    OpenVisitLine(code, line.quantity, line.unit_price_cents, line.amount_cents)
                )
    return [
        OpenVisit(h.id, h.amount_cents, h.created_at, h.expires_at, lines.get(h.id, []))
        for h in holds
    ]
