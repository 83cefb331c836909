"""Moving money: :func:`move` is the one call that writes a movement.

A transfer moves ``amount`` from its debit account to its credit account. An account's balance
is its credits minus its debits. Only envelopes and holds keep that balance stored, and a debit
of one is a single conditional UPDATE, so two concurrent charges can never both spend the last
euro (money rule 3). :func:`move` adjusts every stored balance a movement touches and writes its
transfer rows, so no caller pairs a balance update with a transfer by hand. The one exception
is monthly funding (:mod:`payments.budgets.funding`), which moves whole batches set-wise: an
``INSERT … SELECT`` of transfers and one ``UPDATE`` of the balances by exactly those transfers.

Every statement here is built once, at import, on the tables (not the ORM classes) and run with
bound parameters: the charge path calls these on every request, and building, cache-keying and
ORM-wrapping a fresh statement per call cost more CPU than executing it (py-spy,
docs/performance.md). ``session.execute`` still flushes pending ORM objects first.
"""

from __future__ import annotations

import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncSession

from payments.errors import InsufficientFunds
from payments.models import Account, Transfer
from payments.rows import BatchRows, PerEngine
from payments.vocabulary import AccountKind, TransferKind

_accounts = cast(Table, Account.__table__)
_transfers = cast(Table, Transfer.__table__)
_acc = _accounts.c

_INSERT_TRANSFER = insert(_transfers)

_DEBIT_STORED = (
    update(_accounts)
    .where(_acc.id == bindparam("p_id"), _acc.balance_cents >= bindparam("p_amount"))
    .values(balance_cents=_acc.balance_cents - bindparam("p_amount"))
    .returning(_acc.balance_cents, _acc.funded_period)
)

_CREDIT_STORED = (
    update(_accounts)
    .where(_acc.id == bindparam("p_id"))
    .values(balance_cents=_acc.balance_cents + bindparam("p_amount"))
    .returning(_acc.balance_cents)
)

_CREDIT_OPEN_ENVELOPE = (
    update(_accounts)
    .where(
        _acc.id == bindparam("p_id"),
        _acc.funded_period == bindparam("p_period"),
        or_(_acc.expired_period.is_(None), _acc.expired_period < bindparam("p_period")),
    )
    .values(balance_cents=_acc.balance_cents + bindparam("p_amount"))
    .returning(_acc.balance_cents)
)

_ORGANIZER_ACCOUNT = select(_acc.id).where(
    and_(_acc.organizer_id == bindparam("p_org"), _acc.kind == bindparam("p_kind"))
)

_PROVIDER_PAYABLE = select(_acc.id).where(
    _acc.provider_id == bindparam("p_provider"), _acc.kind == AccountKind.PROVIDER_PAYABLE
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """An envelope: a stored balance, never negative.

    As the source of a movement it is debited only if it covers the amount (else
    :class:`~payments.errors.InsufficientFunds`, and nothing changes), and the movement's month
    is the month its money belongs to, read in the debiting statement itself: read earlier, a
    charge that waited behind a midnight funding batch would book the new month's money to the
    old month. As a target it is credited only while the movement's month is still open
    (funded for that month and not expired); once funding has closed it, the money goes to the
    organizer instead (:data:`WHEN_CLOSED`), checked in the updating statement, so a funding run
    that closes the month at the same time is either waited for or comes after.
    """

    id: int


@dataclass(frozen=True, slots=True)
class HoldAccount:
    """An envelope's hold account: a stored balance, never negative, credited and debited as
    asked. A debit it does not cover raises :class:`NotCovered` (impossible while
    ``wallet check`` holds: a hold account equals the sum of its open holds)."""

    id: int


# A plain int is a derived account (organizer budget, provider payable, expired, settlement):
# no stored balance, so no row to update (a busy provider is not a hot row).
Ref = int | Envelope | HoldAccount

# Money given back to an envelope whose month has closed goes to the organizer instead:
# {kind: (kind written instead, the organizer's account that receives it)}.
WHEN_CLOSED: dict[TransferKind, tuple[TransferKind, AccountKind]] = {
    TransferKind.REFUND: (TransferKind.REFUND_CLOSED, AccountKind.ORGANIZER_BUDGET),
    TransferKind.HOLD_RELEASE: (TransferKind.HOLD_EXPIRED, AccountKind.EXPIRED),
}


@dataclass(frozen=True, slots=True)
class Leg:
    """Where (part of) a movement goes: one transfer row from the source to ``target``."""

    target: Ref
    amount_cents: int
    kind: TransferKind
    charge_id: uuid.UUID | None = None
    dedupe_key: str | None = None


@dataclass(frozen=True, slots=True)
class Moved:
    """What :func:`move` did: the movement's month, the source's stored balance after it (None
    for a derived source), and whether a leg to an envelope found its month closed and went to
    the organizer (:data:`WHEN_CLOSED`)."""

    period: str
    balance: int | None
    to_closed_month: bool


class NotCovered(RuntimeError):
    """A hold account did not cover a debit (see :class:`HoldAccount`)."""


def _id(ref: Ref) -> int:
    return ref if isinstance(ref, int) else ref.id


async def move(
    s: AsyncSession,
    source: Ref,
    *legs: Leg,
    organizer_id: uuid.UUID,
    period: str | None,
    now: datetime,
) -> Moved:
    """Move money out of ``source`` along ``legs``: adjust every stored balance touched and
    write one transfer per leg, in this transaction.

    ``period`` is the budget month the money belongs to; None only for an :class:`Envelope`
    source, whose debit reads it. A stored source is debited once, by the legs' sum.

    Lock order (PostgreSQL stays free of deadlocks): envelopes first, then hold accounts, the
    rule of every money path (see :mod:`payments.checkout.holds`). Statements: one per stored
    balance touched plus one INSERT of all the legs' transfers.
    """
    total = sum(leg.amount_cents for leg in legs)
    if not legs or any(leg.amount_cents <= 0 for leg in legs):
        raise ValueError("a movement moves positive amounts")
    balance: int | None = None
    if isinstance(source, Envelope):
        # The source envelope is the only envelope of a movement out of an envelope.
        row = (await s.execute(_DEBIT_STORED, {"p_id": source.id, "p_amount": total})).first()
        if row is None or row[0] is None or row[1] is None:
            raise InsufficientFunds("There is not enough money left in this budget")
        balance = int(row[0])
        if period is None:
            period = str(row[1])
    if period is None:
        raise ValueError("only a movement out of an envelope reads its month")
    rows: list[dict[str, Any]] = []
    closed = False
    for leg in legs:
        target, kind = _id(leg.target), leg.kind
        if isinstance(leg.target, Envelope):
            opened = (
                await s.execute(
                    _CREDIT_OPEN_ENVELOPE,
                    {"p_id": target, "p_amount": leg.amount_cents, "p_period": period},
                )
            ).first()
            if opened is None or opened[0] is None:
                closed = True
                kind, closed_account = WHEN_CLOSED[leg.kind]
                target = await organizer_account(s, organizer_id, closed_account)
        rows.append(
            {
                "organizer_id": organizer_id,
                "debit_account_id": _id(source),
                "credit_account_id": target,
                "amount_cents": leg.amount_cents,
                "kind": kind,
                "period": period,
                "charge_id": leg.charge_id,
                "dedupe_key": leg.dedupe_key,
                "created_at": now,
            }
        )
    if isinstance(source, HoldAccount):
        row = (await s.execute(_DEBIT_STORED, {"p_id": source.id, "p_amount": total})).first()
        if row is None or row[0] is None:
            raise NotCovered(f"hold account {source.id} does not cover {total} cents")
        balance = int(row[0])
    for leg in legs:
        if isinstance(leg.target, HoldAccount):
            credited = (
                await s.execute(
                    _CREDIT_STORED, {"p_id": leg.target.id, "p_amount": leg.amount_cents}
                )
            ).scalar_one()
            assert credited is not None, "a hold account keeps a stored balance"
    await s.execute(_INSERT_TRANSFER, rows[0] if len(rows) == 1 else rows)
    return Moved(period, balance, closed)


# Which account is an organizer's budget or a provider's payable account never changes once
# created (accounts are never deleted, ids never reused), so each process remembers it: one
# round trip less per charge. Keyed by database URL as well, for processes with several.
_OWN_ACCOUNTS: dict[tuple[str, uuid.UUID, str], int] = {}
_OWN_ACCOUNTS_MAX = 100_000


_URL_OF: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _db_key(session: AsyncSession) -> str:
    bind = session.bind
    if bind is None:
        return ""
    # Rendered once per engine: rendering the URL for every charge cost 0.5 % of the server's
    # CPU in bench.run (py-spy).
    engine = bind.sync_engine
    key = _URL_OF.get(engine)
    if key is None:
        key = _URL_OF[engine] = engine.url.render_as_string(hide_password=True)
    return key


def _remember(key: tuple[str, uuid.UUID, str], account_id: int) -> int:
    if len(_OWN_ACCOUNTS) >= _OWN_ACCOUNTS_MAX:
        _OWN_ACCOUNTS.clear()
    _OWN_ACCOUNTS[key] = account_id
    return account_id


async def organizer_account(
    session: AsyncSession, organizer_id: uuid.UUID, kind: AccountKind
) -> int:
    """The id of one of the organizer's own accounts (budget, expired, settlement)."""
    assert kind in (AccountKind.ORGANIZER_BUDGET, AccountKind.EXPIRED, AccountKind.SETTLEMENT)
    key = (_db_key(session), organizer_id, kind)
    if key in _OWN_ACCOUNTS:
        return _OWN_ACCOUNTS[key]
    result = await session.execute(_ORGANIZER_ACCOUNT, {"p_org": organizer_id, "p_kind": kind})
    return _remember(key, int(result.scalar_one()))


async def provider_payable_account(session: AsyncSession, provider_id: uuid.UUID) -> int:
    key = (_db_key(session), provider_id, AccountKind.PROVIDER_PAYABLE)
    if key in _OWN_ACCOUNTS:
        return _OWN_ACCOUNTS[key]
    result = await session.execute(_PROVIDER_PAYABLE, {"p_provider": provider_id})
    return _remember(key, int(result.scalar_one()))


def moved(rows: list[dict[str, Any]]) -> tuple[Table, list[dict[str, Any]]]:
    """Transfer rows whose balances the caller has already moved (the group commit's charges,
    debited by :func:`debit_envelopes`), as one of the writes of
    :func:`payments.rows.insert_all`."""
    return _transfers, rows


async def debit_envelopes(s: AsyncSession, amounts: dict[int, int]) -> dict[int, tuple[int, str]]:
    """The envelope debit of :func:`move` for many envelopes in one statement, each envelope
    once: {envelope: (balance after, the month its money belongs to)} for those that covered
    their amount; an envelope missing from the answer was not touched. The caller writes the
    transfers (a charge's, in :mod:`payments.checkout.pipeline`)."""
    if not amounts:
        return {}
    rows, stmt = _DEBIT_MANY.of(s)
    out: dict[int, tuple[int, str]] = {}
    for acc_id, balance, period in (
        await s.execute(stmt, rows.bind(sorted(amounts.items())))
    ).all():
        if balance is None or period is None:  # not an envelope: a caller's error
            raise ValueError(f"account {acc_id} is not a funded envelope")
        out[int(acc_id)] = (int(balance), str(period))
    return out


async def undo_debits(s: AsyncSession, amounts: dict[int, int]) -> None:
    """Give back debits made by :func:`debit_envelopes` in this transaction, for charges of a
    batch refused after them: as a rollback would, with no transfer."""
    if amounts:
        await s.execute(
            _UNDO_DEBIT,
            [{"p_id": acc, "p_amount": amount} for acc, amount in sorted(amounts.items())],
        )


# Built on first use per engine (payments.rows: the batch's rows as one parameter).
def _debit_many_statement(dialect: Dialect) -> tuple[BatchRows, Any]:
    v = BatchRows(dialect, "v", id=BigInteger(), amount=BigInteger())
    return v, (
        update(_accounts)
        .where(_acc.id == v.table.c.id, _acc.balance_cents >= v.table.c.amount)
        .values(balance_cents=_acc.balance_cents - v.table.c.amount)
        .returning(_acc.id, _acc.balance_cents, _acc.funded_period)
    )


_DEBIT_MANY = PerEngine(_debit_many_statement)
_UNDO_DEBIT = (
    update(_accounts)
    .where(_acc.id == bindparam("p_id"))
    .values(balance_cents=_acc.balance_cents + bindparam("p_amount"))
)
