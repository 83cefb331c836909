"""Notification rules: who hears about an event, per-person type switches, hidden amounts and
the once-a-month low-balance alert."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Integer,
    String,
    Uuid,
    bindparam,
    insert,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from notifications import events as ev
from notifications.models import LowBalanceAlert, NotificationPreference
from payments.clock import utcnow
from payments.db import Database
from payments.errors import InvalidInput
from payments.ledger.periods import HELSINKI
from payments.models import Account, DecisionLine, Mandate, Principal, Wallet
from payments.outbox import (
    BALANCE_LOW,
    CHARGE_CAPTURED,
    ENVELOPE_FUNDED,
    MANDATE_CHANGED,
    PAYMENT_APPROVED,
    PAYMENT_DECLINED,
    PAYMENT_EXPIRED,
    PAYMENT_REQUESTED,
    REFUND_CREATED,
    REMAINDER_EXPIRED,
    STATEMENT_READY,
    emit,
)
from payments.people.mandates import scopes_of
from payments.rows import BatchRows, PerEngine, with_list
from payments.uow import UnitOfWork

# Push notifications that are on unless a person turns them off: money leaving the wallet and
# anything that needs an answer. Funding is routine and monthly, so it stays quiet by default;
# the month's statement is asked for (issue 7: "a push/notice when it is ready"), so it is on.
DEFAULT_ON = frozenset(
    {
        STATEMENT_READY,
        CHARGE_CAPTURED,
        REFUND_CREATED,
        BALANCE_LOW,
        PAYMENT_REQUESTED,
        PAYMENT_APPROVED,
        PAYMENT_DECLINED,
        PAYMENT_EXPIRED,
    }
)
KNOWN_TYPES = DEFAULT_ON | {ENVELOPE_FUNDED, REMAINDER_EXPIRED, MANDATE_CHANGED}
LANGUAGES = ("fi", "sv", "en")
# Without a personal threshold, an envelope is low below a fifth of its monthly allotment.
DEFAULT_LOW_FRACTION = 5


@dataclass(frozen=True)
class Preferences:
    """A person's rules, with the defaults filled in."""

    types: dict[str, bool] = field(default_factory=dict)
    # Which services a person uses, and what they cost, is health-related: a lock screen is
    # seen by others, so amounts are hidden until the person chooses to show them.
    hide_amounts: bool = True
    low_balance_cents: int | None = None
    language: str = "fi"

    def wants(self, event_type: str) -> bool:
        return bool(self.types.get(event_type, event_type in DEFAULT_ON))

    def as_dict(self) -> dict[str, Any]:
        return {
            "types": {t: self.wants(t) for t in sorted(KNOWN_TYPES)},
            "hide_amounts": self.hide_amounts,
            "low_balance_cents": self.low_balance_cents,
            "language": self.language,
        }


def _prefs(row: NotificationPreference | None) -> Preferences:
    if row is None:
        return Preferences()
    return Preferences(
        types=dict(row.types or {}),
        hide_amounts=row.hide_amounts,
        low_balance_cents=row.low_balance_cents,
        language=row.language,
    )


async def preferences_of(
    session: AsyncSession, principal_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Preferences]:
    rows = (
        (await session.execute(*with_list(session, _PREFERENCES, principal_ids))).scalars().all()
        if principal_ids
        else []
    )
    found = {r.principal_id: _prefs(r) for r in rows}
    return {p: found.get(p, Preferences()) for p in principal_ids}


async def get_preferences(db: Database, principal_id: uuid.UUID) -> Preferences:
    """A person's notification rules (defaults if they never changed them)."""
    async with UnitOfWork(db, readonly=True) as uow:
        return (await preferences_of(uow.session, {principal_id}))[principal_id]


async def set_preferences(
    db: Database,
    principal_id: uuid.UUID,
    *,
    types: dict[str, bool] | None = None,
    hide_amounts: bool | None = None,
    low_balance_cents: int | None = None,
    clear_low_balance: bool = False,
    language: str | None = None,
) -> Preferences:
    """Change some of a person's rules; what is not given stays as it was."""
    if types is not None:
        unknown = set(types) - KNOWN_TYPES
        if unknown:
            raise InvalidInput(f"Unknown notification types: {', '.join(sorted(unknown))}")
    if low_balance_cents is not None and not 0 <= low_balance_cents <= 10_000_000:
        raise InvalidInput("low_balance_cents must be between 0 and 10000000")
    if language is not None and language not in LANGUAGES:
        raise InvalidInput("language must be fi, sv or en")
    async with UnitOfWork(db) as uow:
        s = uow.session
        row = await s.get(NotificationPreference, principal_id)
        if row is None:
            row = NotificationPreference(
                principal_id=principal_id,
                types={},
                hide_amounts=True,
                low_balance_cents=None,
                language="fi",
                updated_at=utcnow(),
            )
            s.add(row)
        if types is not None:
            row.types = {**(row.types or {}), **types}
        if hide_amounts is not None:
            row.hide_amounts = hide_amounts
        if clear_low_balance:
            row.low_balance_cents = None
        elif low_balance_cents is not None:
            row.low_balance_cents = low_balance_cents
        if language is not None:
            row.language = language
        row.updated_at = utcnow()
        await uow.commit()
        return _prefs(row)


@dataclass(frozen=True)
class Follower:
    """Someone who hears about a wallet: its client, or a carer with a live ``view`` mandate."""

    principal_id: uuid.UUID
    role: str
    can_approve: bool


def _today() -> date:
    return utcnow().astimezone(HELSINKI).date()


async def wallet_followers(session: AsyncSession, wallet_id: uuid.UUID) -> list[Follower]:
    """The client's principals and the carers whose mandate over the wallet includes ``view``."""
    return (await followers_of(session, {wallet_id})).get(wallet_id, [])


async def followers_of(
    session: AsyncSession, wallet_ids: set[uuid.UUID]
) -> dict[uuid.UUID, list[Follower]]:
    """:func:`wallet_followers` for many wallets in one query: each wallet's clients first,
    then its carers."""
    out: dict[uuid.UUID, list[Follower]] = {w: [] for w in wallet_ids}
    if not wallet_ids:
        return out
    stmt, params = with_list(session, _FOLLOWERS, wallet_ids)
    rows = (await session.execute(stmt, {**params, "today": _today()})).all()
    for w, role, principal_id, scopes in sorted(rows, key=lambda r: r[1]):
        follower = _follower(role, principal_id, scopes)
        if follower is not None:
            out[w].append(follower)
    return out


def _follower(role: int, principal_id: uuid.UUID, scopes: str | None) -> Follower | None:
    """A row of :data:`_FOLLOWERS` as a follower (role 0 the client, 1 a carer), or None for a
    carer whose mandate does not include ``view``."""
    if role == 0:
        return Follower(principal_id, "client", True)
    granted = scopes_of(scopes)
    if "view" not in granted:
        return None
    return Follower(principal_id, "carer", "approve" in granted)


async def carer_wallets(session: AsyncSession, carer_id: uuid.UUID) -> set[uuid.UUID]:
    """The wallets a carer may follow now (a live mandate with ``view``)."""
    rows = await session.execute(
        select(Wallet.id, Mandate.scopes)
        .join(Mandate, Mandate.client_id == Wallet.client_id)
        .where(Mandate.carer_id == carer_id, Mandate.in_force(_today()))
    )
    return {w for w, scopes in rows.all() if "view" in scopes_of(scopes)}


async def low_balance_alerts(session: AsyncSession, charges: list[ev.Event], now: datetime) -> int:
    """Write a ``balance.low`` outbox event for each follower whose threshold an envelope has
    fallen below, once per person, envelope and month (the alert row's key makes it once).

    Runs in the dispatcher's transaction, so the alert and the delivery mark commit together.
    A round's charges are looked at together: one read per round, not per charge.
    """
    # The last balance seen per envelope in this round, and the wallet and charge behind it.
    latest: dict[int, tuple[int, ev.Event]] = {}
    for charge in charges:
        if charge.wallet_id is None:
            continue
        for k, v in (charge.data.get("balances") or {}).items():
            latest[int(k)] = (int(v), charge)
    if not latest:
        return 0
    wallets = {c.wallet_id for _, c in latest.values() if c.wallet_id is not None}
    # Each envelope with its allotment, and each of its wallet's followers with their rules:
    # one statement (it ran as four, in every round that delivers a charge).
    (of_accounts, of_wallets), stmt = _LOW_BALANCE_READ.of(session)
    params = {**of_accounts.bind_each(latest), **of_wallets.bind_each(wallets), "today": _today()}
    rows = (await session.execute(stmt, params)).all()
    written = 0
    # In envelope order, and for each envelope its clients before its carers.
    for acc_id, period, monthly, role, principal_id, scopes, row in sorted(
        rows, key=lambda r: (r[0], r[3])
    ):
        balance, charge = latest[int(acc_id)]
        assert charge.wallet_id is not None
        f = _follower(role, principal_id, scopes)
        if f is None:
            continue
        p = _prefs(row)
        if not p.wants(BALANCE_LOW):
            continue
        threshold = (
            p.low_balance_cents
            if p.low_balance_cents is not None
            else int(monthly) // DEFAULT_LOW_FRACTION
        )
        if balance >= threshold:
            continue
        key = (f.principal_id, int(acc_id), str(period))
        if await session.get(LowBalanceAlert, key) is not None:
            continue
        await session.execute(
            insert(LowBalanceAlert).values(
                principal_id=f.principal_id,
                account_id=int(acc_id),
                period=str(period),
                balance_cents=balance,
                threshold_cents=threshold,
                created_at=now,
            )
        )
        await emit(
            session,
            type=BALANCE_LOW,
            organizer_id=charge.organizer_id,
            wallet_id=charge.wallet_id,
            now=now,
            payload={
                "principal_id": str(f.principal_id),
                "account_id": int(acc_id),
                "balance_cents": balance,
                "threshold_cents": threshold,
                "period": str(period),
                "charge_id": charge.data.get("charge_id"),
            },
        )
        written += 1
    return written


# Built once with bound parameters: the outbox dispatcher asks these in every round that
# delivers a charge (up to one round per charge at moderate rates), and building them per round
# cost more CPU than running them.
# Their lists travel as one parameter each (payments.rows): one SQL text whatever the length.
def _followers(dialect: Dialect) -> tuple[BatchRows, Any]:
    # The clients' principals and the carers' mandates in force, one statement: the dispatcher
    # asks in every round that delivers a charge. Rows (wallet_id, role, principal_id, scopes),
    # role 0 for the client and 1 for a carer (:func:`_follower`).
    wallets = BatchRows(dialect, "wallets", id=Uuid())
    clients = (
        select(
            Wallet.id.label("wallet_id"),
            literal_column("0", Integer).label("role"),
            Principal.id.label("principal_id"),
            null().cast(String).label("scopes"),
        )
        .join(Principal, Principal.client_id == Wallet.client_id)
        .where(wallets.has(Wallet.id), Principal.role == "client")
    )
    carers = (
        select(Wallet.id, literal_column("1", Integer), Mandate.carer_id, Mandate.scopes)
        .join(Mandate, Mandate.client_id == Wallet.client_id)
        .where(wallets.has(Wallet.id), Mandate.in_force(bindparam("today", type_=Date)))
    )
    return wallets, union_all(clients, carers)


def _low_balance_read(dialect: Dialect) -> tuple[tuple[BatchRows, BatchRows], Any]:
    # The round's envelopes with their allotments, joined to their wallets' followers
    # (:func:`_followers`) and each follower's rules (none: the defaults).
    accounts = BatchRows(dialect, "accounts", id=BigInteger())
    wallets, followers = _followers(dialect)
    f = followers.subquery("followers")
    return (accounts, wallets), (
        select(
            Account.id,
            Account.funded_period,
            DecisionLine.monthly_amount_cents,
            f.c.role,
            f.c.principal_id,
            f.c.scopes,
            NotificationPreference,
        )
        .select_from(Account)
        .join(DecisionLine, DecisionLine.id == Account.decision_line_id)
        .join(f, f.c.wallet_id == Account.wallet_id)
        .outerjoin(NotificationPreference, NotificationPreference.principal_id == f.c.principal_id)
        .where(accounts.has(Account.id))
    )


def _preferences(dialect: Dialect) -> tuple[BatchRows, Any]:
    principals = BatchRows(dialect, "principals", id=Uuid())
    return principals, select(NotificationPreference).where(
        principals.has(NotificationPreference.principal_id)
    )


_FOLLOWERS = PerEngine(_followers)
_PREFERENCES = PerEngine(_preferences)
_LOW_BALANCE_READ = PerEngine(_low_balance_read)
