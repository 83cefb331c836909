"""Monthly funding: expire last month's remainder, then top each envelope up for the new month.

The job is set-based: each step is an ``INSERT ... SELECT`` of transfer rows plus one ``UPDATE``
of the envelopes, over a batch of envelope ids. Each step of each batch is its own transaction,
and each records how far it got on the envelope (``expired_period``, ``funded_period``), so:

* running the job twice moves nothing the second time;
* a job killed at any point is completed by a rerun (a batch that expired but did not fund is
  funded, never expired again);
* the unique ``dedupe_key`` (``expire:<envelope>:<period>``, ``fund:<envelope>:<period>``)
  refuses a second movement even if the bookkeeping above were wrong.

The stored balance is changed by exactly the amount of the transfer just written (read back by
its dedupe key), so ledger and balance agree by construction. On PostgreSQL the batch's
envelopes are locked first, so a charge at midnight waits for the batch instead of racing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from payments.db import Database
from payments.models import (
    ENVELOPE,
    EXPIRED,
    ORGANIZER_BUDGET,
    Account,
    Decision,
    DecisionLine,
    OutboxEvent,
    Transfer,
)
from payments.outbox import ENVELOPE_FUNDED, REMAINDER_EXPIRED
from payments.periods import first_day, last_day, parse_period, prorated_cents, utcnow
from payments.uow import UnitOfWork

BATCH_SIZE = 5000


@dataclass
class FundingSummary:
    period: str
    envelopes_seen: int = 0
    expired_count: int = 0
    expired_cents: int = 0
    funded_count: int = 0
    funded_cents: int = 0
    batches: int = 0
    organizers: set[uuid.UUID] = field(default_factory=set)


def _dedupe(prefix: str, account_id: Any, period: Any) -> ColumnElement[str]:
    key: ColumnElement[str] = literal(prefix) + cast(account_id, String) + literal(":") + period
    return key


def _eligible(period: str) -> ColumnElement[bool]:
    """The decision of this envelope's line is valid on some day of ``period``."""
    return and_(
        Decision.valid_from <= last_day(period),
        or_(Decision.valid_to.is_(None), Decision.valid_to >= first_day(period)),
    )


def _full_month(period: str) -> ColumnElement[bool]:
    return and_(
        Decision.valid_from <= first_day(period),
        or_(Decision.valid_to.is_(None), Decision.valid_to >= last_day(period)),
    )


async def fund_period(
    db: Database,
    period: str,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int], None] | None = None,
    stop_after: str | None = None,
) -> FundingSummary:
    """Expire remainders and fund every active decision line's envelope for ``period``.

    ``progress(done, total)`` is called after each batch. ``stop_after`` ("expiry") exists for
    crash tests: it returns after the expiry step of the first batch, as a kill would.
    """
    parse_period(period)
    summary = FundingSummary(period=period)
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(func.count(), func.min(Account.id), func.max(Account.id)).where(
                    Account.kind == ENVELOPE
                )
            )
        ).one()
    total, lo, hi = int(row[0]), row[1], row[2]
    summary.envelopes_seen = total
    if total == 0:
        if progress:
            progress(0, 0)
        return summary
    done = 0
    start = int(lo)
    while start <= int(hi):
        async with UnitOfWork(db, readonly=True) as uow:
            ids = (
                (
                    await uow.session.execute(
                        select(Account.id)
                        .where(Account.kind == ENVELOPE, Account.id >= start)
                        .order_by(Account.id)
                        .limit(batch_size)
                    )
                )
                .scalars()
                .all()
            )
        if not ids:
            break
        first, last = int(ids[0]), int(ids[-1])
        await _expire_batch(db, period, first, last, summary)
        if stop_after == "expiry":
            return summary
        await _fund_batch(db, period, first, last, summary)
        summary.batches += 1
        done += len(ids)
        if progress:
            progress(done, total)
        start = last + 1
    return summary


async def _lock_batch(uow: UnitOfWork, first: int, last: int) -> None:
    if uow.db.is_postgres:
        await uow.session.execute(
            select(Account.id)
            .where(Account.kind == ENVELOPE, Account.id.between(first, last))
            .order_by(Account.id)
            .with_for_update()
        )


async def _expire_batch(
    db: Database, period: str, first: int, last: int, summary: FundingSummary
) -> None:
    """Close the previous funded month of each envelope in the batch.

    The remainder above the allowed carry-over moves to the organizer's expired account. Carry
    over is allowed only under a ``capped`` policy for a decision still valid in ``period``.
    """
    now = utcnow()
    expired_acc = aliased(Account)
    carry = (
        select(
            case(
                (
                    and_(Decision.carry_over == "capped", _eligible(period)),
                    Decision.carry_over_cap_cents,
                ),
                else_=0,
            )
        )
        .join(DecisionLine, DecisionLine.decision_id == Decision.id)
        .where(DecisionLine.id == Account.decision_line_id)
        .correlate(Account)
        .scalar_subquery()
    )
    needs_expiry = and_(
        Account.kind == ENVELOPE,
        Account.id.between(first, last),
        Account.funded_period.is_not(None),
        Account.funded_period < period,
        or_(Account.expired_period.is_(None), Account.expired_period < Account.funded_period),
    )
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _lock_batch(uow, first, last)
        moved = (
            select(
                Account.organizer_id,
                Account.id,
                expired_acc.id,
                Account.balance_cents - carry,
                literal("expiry"),
                Account.funded_period,
                _dedupe("expire:", Account.id, Account.funded_period),
                literal(now),
            )
            .join(
                expired_acc,
                and_(expired_acc.organizer_id == Account.organizer_id, expired_acc.kind == EXPIRED),
            )
            .where(needs_expiry, Account.balance_cents > carry)
        )
        await s.execute(
            insert(Transfer).from_select(
                [
                    "organizer_id",
                    "debit_account_id",
                    "credit_account_id",
                    "amount_cents",
                    "kind",
                    "period",
                    "dedupe_key",
                    "created_at",
                ],
                moved,
            )
        )
        expiry_amount = (
            select(Transfer.amount_cents)
            .where(Transfer.dedupe_key == _dedupe("expire:", Account.id, Account.funded_period))
            .scalar_subquery()
        )
        await s.execute(
            update(Account)
            .where(needs_expiry)
            .values(
                balance_cents=Account.balance_cents - func.coalesce(expiry_amount, 0),
                expired_period=Account.funded_period,
            )
            .execution_options(synchronize_session=False)
        )
        stats = (
            await s.execute(
                select(func.count(), func.coalesce(func.sum(Transfer.amount_cents), 0)).where(
                    Transfer.kind == "expiry",
                    Transfer.created_at == now,
                    Transfer.debit_account_id.between(first, last),
                )
            )
        ).one()
        await _write_events(uow, REMAINDER_EXPIRED, "expiry", now, first, last, debit_side=True)
        await uow.commit()
    summary.expired_count += int(stats[0])
    summary.expired_cents += int(stats[1])


async def _fund_batch(
    db: Database, period: str, first: int, last: int, summary: FundingSummary
) -> None:
    """Top up each envelope of the batch whose line is valid in ``period``.

    Full months are funded in one ``INSERT ... SELECT``; the few lines that start or end inside
    the month are pro-rated by days in Python and written in one executemany.
    """
    now = utcnow()
    budget_acc = aliased(Account)
    line_valid = (
        exists()
        .where(DecisionLine.id == Account.decision_line_id)
        .where(Decision.id == DecisionLine.decision_id)
        .where(_eligible(period))
        .correlate(Account)
    )
    needs_funding = and_(
        Account.kind == ENVELOPE,
        Account.id.between(first, last),
        or_(Account.funded_period.is_(None), Account.funded_period < period),
        # the previous month must be closed first
        or_(Account.funded_period.is_(None), Account.expired_period == Account.funded_period),
        line_valid,
    )
    columns = [
        "organizer_id",
        "debit_account_id",
        "credit_account_id",
        "amount_cents",
        "kind",
        "period",
        "dedupe_key",
        "created_at",
    ]
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _lock_batch(uow, first, last)
        base = (
            select(
                Account.organizer_id,
                budget_acc.id,
                Account.id,
                DecisionLine.monthly_amount_cents,
                literal("funding"),
                literal(period),
                _dedupe("fund:", Account.id, literal(period)),
                literal(now),
            )
            .join(DecisionLine, DecisionLine.id == Account.decision_line_id)
            .join(Decision, Decision.id == DecisionLine.decision_id)
            .join(
                budget_acc,
                and_(
                    budget_acc.organizer_id == Account.organizer_id,
                    budget_acc.kind == ORGANIZER_BUDGET,
                ),
            )
            .where(needs_funding)
        )
        await s.execute(insert(Transfer).from_select(columns, base.where(_full_month(period))))
        partial = (
            await s.execute(
                select(
                    Account.organizer_id,
                    budget_acc.id,
                    Account.id,
                    DecisionLine.monthly_amount_cents,
                    Decision.valid_from,
                    Decision.valid_to,
                )
                .join(DecisionLine, DecisionLine.id == Account.decision_line_id)
                .join(Decision, Decision.id == DecisionLine.decision_id)
                .join(
                    budget_acc,
                    and_(
                        budget_acc.organizer_id == Account.organizer_id,
                        budget_acc.kind == ORGANIZER_BUDGET,
                    ),
                )
                .where(needs_funding, ~_full_month(period))
            )
        ).all()
        rows = []
        for org_id, budget_id, acc_id, monthly, vfrom, vto in partial:
            amount = prorated_cents(
                int(monthly), period, _as_date(vfrom), None if vto is None else _as_date(vto)
            )
            if amount > 0:
                rows.append(
                    {
                        "organizer_id": org_id,
                        "debit_account_id": budget_id,
                        "credit_account_id": acc_id,
                        "amount_cents": amount,
                        "kind": "funding",
                        "period": period,
                        "dedupe_key": f"fund:{acc_id}:{period}",
                        "created_at": now,
                    }
                )
        if rows:
            await s.execute(insert(Transfer), rows)
        funding_amount = (
            select(Transfer.amount_cents)
            .where(Transfer.dedupe_key == _dedupe("fund:", Account.id, literal(period)))
            .scalar_subquery()
        )
        await s.execute(
            update(Account)
            .where(needs_funding)
            .values(
                balance_cents=Account.balance_cents + func.coalesce(funding_amount, 0),
                funded_period=period,
            )
            .execution_options(synchronize_session=False)
        )
        stats = (
            await s.execute(
                select(func.count(), func.coalesce(func.sum(Transfer.amount_cents), 0)).where(
                    Transfer.kind == "funding",
                    Transfer.created_at == now,
                    Transfer.credit_account_id.between(first, last),
                )
            )
        ).one()
        await _write_events(uow, ENVELOPE_FUNDED, "funding", now, first, last, debit_side=False)
        await uow.commit()
    summary.funded_count += int(stats[0])
    summary.funded_cents += int(stats[1])


async def _write_events(
    uow: UnitOfWork,
    event_type: str,
    transfer_kind: str,
    now: datetime,
    first: int,
    last: int,
    *,
    debit_side: bool,
) -> None:
    """One outbox event per transfer this step wrote, set-based.

    The event refers to its transfer; the dispatcher reads amount and balance when it delivers.
    """
    env = aliased(Account)
    side = Transfer.debit_account_id if debit_side else Transfer.credit_account_id
    await uow.session.execute(
        insert(OutboxEvent).from_select(
            ["organizer_id", "wallet_id", "type", "transfer_id", "created_at"],
            select(
                Transfer.organizer_id, env.wallet_id, literal(event_type), Transfer.id, literal(now)
            )
            .join(env, env.id == side)
            .where(
                Transfer.kind == transfer_kind,
                Transfer.created_at == now,
                side.between(first, last),
            ),
        )
    )


def _as_date(value: date | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value
