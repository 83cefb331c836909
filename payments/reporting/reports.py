"""Organizer reports, computed from the ledger so they reconcile with ``wallet check``.

* ``monthly_report``: per month x budget line service group (the categories a decision line
  covers, e.g. ``kotiapu+siivous``; a one-service line is that service): allotted (what the
  decisions grant for the month, pro-rated like funding), funded, spent, refunded (to the
  envelope), expired, other (any later kinds, signed), the use rate
  (spent - refunded) / funded, and spent net of refunds (spent - refunded), the "used"
  figure that the case manager's table and chart show. Funded/spent/refunded/expired are the
  transfers of the envelopes and their hold accounts by month (a capture from a hold is
  spent, a hold released after its month closed is expired), the figures ``check_books``
  reconciles per period.
* ``client_report``: per month x envelope of one client, the same figures, for a case manager
  reviewing whether a budget fits.
* ``provider_report``: per month x provider: earned (into the payable account), refunded (out
  of it), net, and settled (paid out by settlements booked in that month).

Money is integer cents; the use rate is a percentage with one decimal, as text.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from payments.db import Database
from payments.errors import InvalidInput, NotFound
from payments.ledger.periods import next_period, parse_period, prorated_cents
from payments.models import (
    Account,
    Client,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    Provider,
    ServiceCategory,
    Transfer,
)
from payments.reporting.csv_export import csv_document
from payments.reporting.statements import client_flows
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, TransferKind


@dataclass
class MonthRow:
    period: str
    services: str
    allotted_cents: int = 0
    funded_cents: int = 0
    spent_cents: int = 0
    refunded_cents: int = 0
    expired_cents: int = 0
    other_cents: int = 0
    use_rate_pct: str | None = None
    # Spent net of refunds (spent - refunded): the "used" figure of the table and the chart.
    spent_net_cents: int = 0


@dataclass
class ProviderRow:
    period: str
    provider_id: uuid.UUID
    provider: str
    earned_cents: int = 0
    refunded_cents: int = 0
    net_cents: int = 0
    settled_cents: int = 0


def _check_range(from_period: str | None, to_period: str | None) -> None:
    for p in (from_period, to_period):
        if p is not None:
            try:
                parse_period(p)
            except ValueError as exc:
                raise InvalidInput(str(exc)) from exc
    if from_period and to_period and from_period > to_period:
        raise InvalidInput("from is after to")


def _in_range(period: str, from_period: str | None, to_period: str | None) -> bool:
    return (from_period is None or period >= from_period) and (
        to_period is None or period <= to_period
    )


def use_rate(spent: int, refunded: int, funded: int) -> str | None:
    if funded <= 0:
        return None
    pct = Decimal(100 * (spent - refunded)) / Decimal(funded)
    return str(pct.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


async def monthly_report(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    from_period: str | None = None,
    to_period: str | None = None,
) -> list[MonthRow]:
    """Per month x service group: allotted, funded, spent, refunded, expired, use rate."""
    _check_range(from_period, to_period)
    async with UnitOfWork(db, readonly=True) as uow:
        return await month_rows(
            uow.session, organizer_id=organizer_id, from_period=from_period, to_period=to_period
        )


def _periods_between(from_period: str | None, to_period: str | None) -> set[str]:
    out: set[str] = set()
    if from_period and to_period:
        p = from_period
        while p <= to_period and len(out) < 240:
            out.add(p)
            p = next_period(p)
    return out


async def month_rows(
    s: AsyncSession,
    *,
    organizer_id: uuid.UUID,
    from_period: str | None = None,
    to_period: str | None = None,
) -> list[MonthRow]:
    """:func:`monthly_report` inside a caller's transaction (``wallet check`` reads it in its
    own consistent snapshot)."""
    # Each decision line's service group, and its envelope.
    groups: dict[uuid.UUID, set[str]] = defaultdict(set)
    for line_id, code in (
        await s.execute(
            select(DecisionLineCategory.line_id, ServiceCategory.code)
            .join(ServiceCategory, ServiceCategory.id == DecisionLineCategory.category_id)
            .where(ServiceCategory.organizer_id == organizer_id)
        )
    ).all():
        groups[line_id].add(code)
    label = {k: "+".join(sorted(v)) for k, v in groups.items()}
    envelope_line = {
        int(acc): line
        for acc, line in (
            await s.execute(
                select(Account.id, Account.decision_line_id).where(
                    Account.organizer_id == organizer_id, Account.kind == AccountKind.ENVELOPE
                )
            )
        ).all()
    }
    # An envelope with its hold account: a capture from a hold is spent, a hold that
    # outlived its month is expired (payments.reporting.statements).
    flows = await client_flows(s, lambda c: [c.organizer_id == organizer_id])
    lines = (
        await s.execute(
            select(
                DecisionLine.id,
                DecisionLine.monthly_amount_cents,
                Decision.valid_from,
                Decision.valid_to,
            )
            .join(Decision, Decision.id == DecisionLine.decision_id)
            .where(Decision.organizer_id == organizer_id)
        )
    ).all()

    rows: dict[tuple[str, str], MonthRow] = {}

    def row(period: str, services: str) -> MonthRow:
        key = (period, services)
        if key not in rows:
            rows[key] = MonthRow(period, services)
        return rows[key]

    for acc_id, per_period in flows.items():
        env_line = envelope_line.get(acc_id)
        for period, f in per_period.items():
            if not _in_range(period, from_period, to_period):
                continue
            r = row(period, label.get(env_line, "?") if env_line else "?")
            r.funded_cents += f.funded
            r.spent_cents += f.spent
            r.refunded_cents += f.refunded
            r.expired_cents += f.expired
            r.other_cents += f.other
    periods = {p for p, _ in rows} | _periods_between(from_period, to_period)
    for line_id, monthly, valid_from, valid_to in lines:
        for period in periods:
            cents = prorated_cents(int(monthly), period, valid_from, valid_to)
            if cents:
                row(period, label.get(line_id, "?")).allotted_cents += cents
    out = sorted(rows.values(), key=lambda r: (r.period, r.services))
    for r in out:
        r.use_rate_pct = use_rate(r.spent_cents, r.refunded_cents, r.funded_cents)
        r.spent_net_cents = r.spent_cents - r.refunded_cents
    return out


@dataclass
class ClientRow:
    period: str
    envelope_id: int
    label: str
    services: str
    allotted_cents: int = 0
    funded_cents: int = 0
    spent_cents: int = 0
    refunded_cents: int = 0
    expired_cents: int = 0
    other_cents: int = 0
    use_rate_pct: str | None = None


async def client_report(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    client_id: uuid.UUID,
    from_period: str | None = None,
    to_period: str | None = None,
) -> list[ClientRow]:
    """Per month x envelope of one client: allotted, funded, spent, refunded, expired and
    the use rate, for a case manager reviewing whether the budget fits. Another county's
    client is ``not-found``."""
    _check_range(from_period, to_period)
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        owner = (
            await s.execute(select(Client.organizer_id).where(Client.id == client_id))
        ).scalar_one_or_none()
        if owner is None or owner != organizer_id:
            raise NotFound("No such client")
        return await client_rows(
            s, client_id=client_id, from_period=from_period, to_period=to_period
        )


async def client_rows(
    s: AsyncSession,
    *,
    client_id: uuid.UUID,
    from_period: str | None = None,
    to_period: str | None = None,
) -> list[ClientRow]:
    envs = (
        await s.execute(
            select(
                Account.id,
                Account.wallet_id,
                DecisionLine.id,
                DecisionLine.label,
                DecisionLine.monthly_amount_cents,
                Decision.valid_from,
                Decision.valid_to,
            )
            .join(DecisionLine, DecisionLine.id == Account.decision_line_id)
            .join(Decision, Decision.id == DecisionLine.decision_id)
            .where(Decision.client_id == client_id, Account.kind == AccountKind.ENVELOPE)
        )
    ).all()
    if not envs:
        return []
    groups: dict[uuid.UUID, set[str]] = defaultdict(set)
    for line_id, code in (
        await s.execute(
            select(DecisionLineCategory.line_id, ServiceCategory.code)
            .join(ServiceCategory, ServiceCategory.id == DecisionLineCategory.category_id)
            .where(DecisionLineCategory.line_id.in_([e[2] for e in envs]))
        )
    ).all():
        groups[line_id].add(code)
    wallet_ids = {e[1] for e in envs}
    flows = await client_flows(s, lambda c: [c.wallet_id.in_(wallet_ids)])
    out: list[ClientRow] = []
    for acc_id, _w, line_id, label, monthly, valid_from, valid_to in envs:
        per_period = flows.get(int(acc_id), {})
        periods = set(per_period) | _periods_between(from_period, to_period)
        for period in periods:
            if not _in_range(period, from_period, to_period):
                continue
            f = per_period.get(period)
            r = ClientRow(
                period,
                int(acc_id),
                str(label),
                "+".join(sorted(groups.get(line_id, set()))),
                allotted_cents=prorated_cents(int(monthly), period, valid_from, valid_to),
            )
            if f is not None:
                r.funded_cents, r.spent_cents = f.funded, f.spent
                r.refunded_cents, r.expired_cents, r.other_cents = f.refunded, f.expired, f.other
            if f is None and not r.allotted_cents:
                continue
            r.use_rate_pct = use_rate(r.spent_cents, r.refunded_cents, r.funded_cents)
            out.append(r)
    return sorted(out, key=lambda r: (r.period, r.envelope_id))


async def provider_report(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    from_period: str | None = None,
    to_period: str | None = None,
) -> list[ProviderRow]:
    """Per month x provider: earned, refunded, net and settled, from the payable accounts."""
    _check_range(from_period, to_period)
    payable = aliased(Account)
    is_credit = Transfer.credit_account_id == payable.id
    # A payout the bank returned (settlement_returned) is neither earned nor settled: it takes
    # back its settlement, and the next settlement pays it again.
    payout = Transfer.kind.in_((TransferKind.SETTLEMENT, TransferKind.SETTLEMENT_RETURNED))
    stmt = (
        select(
            Transfer.period,
            payable.provider_id,
            Provider.name,
            func.sum(case((~payout & is_credit, Transfer.amount_cents), else_=0)),
            func.sum(case((~payout & ~is_credit, Transfer.amount_cents), else_=0)),
            func.sum(
                case(
                    (Transfer.kind == TransferKind.SETTLEMENT, Transfer.amount_cents),
                    (Transfer.kind == TransferKind.SETTLEMENT_RETURNED, -Transfer.amount_cents),
                    else_=0,
                )
            ),
        )
        .join(
            Transfer,
            (Transfer.credit_account_id == payable.id) | (Transfer.debit_account_id == payable.id),
        )
        .join(Provider, Provider.id == payable.provider_id)
        .where(payable.kind == AccountKind.PROVIDER_PAYABLE, payable.organizer_id == organizer_id)
        .group_by(Transfer.period, payable.provider_id, Provider.name)
    )
    async with UnitOfWork(db, readonly=True) as uow:
        result = (await uow.session.execute(stmt)).all()
    out = [
        ProviderRow(
            period=str(period),
            provider_id=pid,
            provider=name,
            earned_cents=int(earned),
            refunded_cents=int(refunded),
            net_cents=int(earned) - int(refunded),
            settled_cents=int(settled),
        )
        for period, pid, name, earned, refunded, settled in result
        if _in_range(str(period), from_period, to_period)
    ]
    return sorted(out, key=lambda r: (r.period, r.provider, str(r.provider_id)))


def to_csv(rows: Sequence[Any], row_type: type[Any]) -> bytes:
    """Report rows as CSV with a header of the field names (amounts in cents). The use rate is
    written as a number (it is negative when refunds exceed spending); names are text,
    neutralised by ``csv_export``."""
    names = [f.name for f in fields(row_type)]
    return csv_document(
        names,
        (
            [
                Decimal(v) if name == "use_rate_pct" and v is not None else v
                for name, v in zip(names, astuple(r), strict=True)
            ]
            for r in rows
        ),
    )
