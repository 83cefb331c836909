"""Monthly funding: expire last month's remainder, then top each envelope up for the new month.

The job is set-based: each step is an ``INSERT ... SELECT`` of transfer rows plus one ``UPDATE``
of the envelopes, over a batch of envelope ids. Each step of each batch is its own transaction,
and each records how far it got on the envelope (``expired_period``, ``funded_period``), so:

* running the job twice moves nothing the second time;
* a job killed at any point is completed by a rerun (a batch that expired but did not fund is
  funded, never expired again);
* the unique ``dedupe_key`` (``expire:<envelope>:<period>``, ``fund:<envelope>:<period>``)
  refuses a second movement even if the bookkeeping above were wrong.

The stored balance is changed by exactly the amount of the transfer just written, so ledger and
balance agree by construction. On PostgreSQL each step of a batch is one statement (a
data-modifying CTE, see ``_EXPIRE_PG`` and ``_FUND_PG``) that locks the batch's envelopes, so a
charge at midnight waits for the batch instead of racing it. SQLite runs the portable path: a
few statements per step in one transaction (read back by dedupe key), pro-rating in Python.
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
    text,
    update,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from payments.clock import utcnow
from payments.db import Database
from payments.ledger.periods import days_in, first_day, last_day, parse_period, prorated_cents
from payments.models import Account, Decision, DecisionLine, OutboxEvent, Transfer
from payments.outbox import ENVELOPE_FUNDED, REMAINDER_EXPIRED
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, TransferKind

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
                    Account.kind == AccountKind.ENVELOPE
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
                        .where(Account.kind == AccountKind.ENVELOPE, Account.id >= start)
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
        expire, fund = (
            (_expire_batch_pg, _fund_batch_pg) if db.is_postgres else (_expire_batch, _fund_batch)
        )
        await expire(db, period, first, last, summary)
        if stop_after == "expiry":
            return summary
        await fund(db, period, first, last, summary)
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
            .where(Account.kind == AccountKind.ENVELOPE, Account.id.between(first, last))
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
        Account.kind == AccountKind.ENVELOPE,
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
                literal(TransferKind.EXPIRY),
                Account.funded_period,
                _dedupe("expire:", Account.id, Account.funded_period),
                literal(now),
            )
            .join(
                expired_acc,
                and_(
                    expired_acc.organizer_id == Account.organizer_id,
                    expired_acc.kind == AccountKind.EXPIRED,
                ),
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
                    Transfer.kind == TransferKind.EXPIRY,
                    Transfer.created_at == now,
                    Transfer.debit_account_id.between(first, last),
                )
            )
        ).one()
        await _write_events(
            uow, REMAINDER_EXPIRED, TransferKind.EXPIRY, now, first, last, debit_side=True
        )
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
        Account.kind == AccountKind.ENVELOPE,
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
                literal(TransferKind.FUNDING),
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
                    budget_acc.kind == AccountKind.ORGANIZER_BUDGET,
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
                        budget_acc.kind == AccountKind.ORGANIZER_BUDGET,
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
                        "kind": TransferKind.FUNDING,
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
                    Transfer.kind == TransferKind.FUNDING,
                    Transfer.created_at == now,
                    Transfer.credit_account_id.between(first, last),
                )
            )
        ).one()
        await _write_events(
            uow, ENVELOPE_FUNDED, TransferKind.FUNDING, now, first, last, debit_side=False
        )
        await uow.commit()
    summary.funded_count += int(stats[0])
    summary.funded_cents += int(stats[1])


async def _write_events(
    uow: UnitOfWork,
    event_type: str,
    transfer_kind: TransferKind,
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


# --- PostgreSQL: one statement per step of a batch -------------------------------------------
#
# Each step is a single data-modifying CTE: take the batch's due envelopes in id order (as the
# charge path locks them; expiry locks them first because its amount depends on the balance,
# funding lets its UPDATE lock them), insert the transfers, move the stored balances by the same
# amounts and write one outbox event per transfer. One statement per transaction means the step
# is all or nothing, exactly as the portable path's several statements in one transaction are;
# the ``expired_period`` / ``funded_period`` marks and the unique dedupe keys keep it
# idempotent, and PostgreSQL re-checks the marks on the newest row version when a concurrent
# run got to a row first.
#
# Plan notes (measured with EXPLAIN ANALYZE, see docs/performance.md): the update and the outbox
# reach ``accounts`` by primary key and within the batch's id range (joining one CTE to another
# makes the planner, which under-estimates a CTE's rows, loop over both; without the range it
# merge-joined against the table from its first row). The decision line and the decision are
# looked up per envelope by primary key (scalar subquery, LATERAL ... OFFSET 0), never hashed
# whole: a hash join would scan every line in the database once per batch.

_EXPIRE_PG = text(
    """
WITH due AS (
    SELECT a.id, a.organizer_id, a.wallet_id, a.funded_period,
           a.balance_cents - (
               SELECT CASE WHEN d.carry_over = 'capped'
                                AND d.valid_from <= :last_day
                                AND (d.valid_to IS NULL OR d.valid_to >= :first_day)
                           THEN d.carry_over_cap_cents ELSE 0 END
               FROM decision_lines l JOIN decisions d ON d.id = l.decision_id
               WHERE l.id = a.decision_line_id
           ) AS amount,
           (SELECT x.id FROM accounts x
             WHERE x.organizer_id = a.organizer_id AND x.kind = 'expired') AS expired_id
    FROM accounts a
    WHERE a.kind = 'envelope' AND a.id BETWEEN :first_id AND :last_id
      AND a.funded_period IS NOT NULL AND a.funded_period < :period
      AND (a.expired_period IS NULL OR a.expired_period < a.funded_period)
    ORDER BY a.id
    FOR UPDATE OF a
), ins AS (
    INSERT INTO transfers (organizer_id, debit_account_id, credit_account_id, amount_cents,
                           kind, period, dedupe_key, created_at)
    SELECT due.organizer_id, due.id, due.expired_id, due.amount, 'expiry', due.funded_period,
           'expire:' || due.id || ':' || due.funded_period, CAST(:now AS timestamptz)
    FROM due
    WHERE due.amount > 0 AND due.expired_id IS NOT NULL
    RETURNING id, organizer_id, debit_account_id, amount_cents
), upd AS (
    UPDATE accounts a
    SET balance_cents = a.balance_cents - CASE WHEN due.amount > 0 AND due.expired_id IS NOT NULL
                                               THEN due.amount ELSE 0 END,
        expired_period = due.funded_period
    FROM due
    WHERE a.id = due.id AND a.id BETWEEN :first_id AND :last_id
    RETURNING a.id
), ev AS (
    INSERT INTO outbox (organizer_id, wallet_id, type, transfer_id, created_at)
    SELECT ins.organizer_id, env.wallet_id, :event_type, ins.id, CAST(:now AS timestamptz)
    FROM ins JOIN accounts env
      ON env.id = ins.debit_account_id AND env.id BETWEEN :first_id AND :last_id
    RETURNING id
)
SELECT (SELECT count(*) FROM ins), (SELECT coalesce(sum(amount_cents), 0) FROM ins),
       (SELECT count(*) FROM upd), (SELECT count(*) FROM ev)
"""
)

_FUND_PG = text(
    """
WITH upd AS (
    -- No separate FOR UPDATE here (unlike expiry): the amount does not depend on the balance,
    -- and the UPDATE locks each row itself, re-checking the period marks on the newest version
    -- if a concurrent run got there first (that row is then neither updated nor returned).
    UPDATE accounts a
    SET balance_cents = a.balance_cents + CASE WHEN due.amount > 0 AND due.budget_id IS NOT NULL
                                               THEN due.amount ELSE 0 END,
        funded_period = :period
    FROM (
        SELECT e.id, line.amount,
               (SELECT b.id FROM accounts b
                 WHERE b.organizer_id = e.organizer_id AND b.kind = 'organizer_budget')
                   AS budget_id
        FROM accounts e
        CROSS JOIN LATERAL (
            SELECT CASE WHEN d.valid_from <= :first_day
                             AND (d.valid_to IS NULL OR d.valid_to >= :last_day)
                        THEN l.monthly_amount_cents
                        -- pro-rated by days, rounded down like periods.prorated_cents
                        ELSE l.monthly_amount_cents
                             * ((LEAST(coalesce(d.valid_to, :last_day), :last_day)
                                 - GREATEST(d.valid_from, :first_day)) + 1)
                             / :days END AS amount
            FROM decision_lines l JOIN decisions d ON d.id = l.decision_id
            WHERE l.id = e.decision_line_id
              AND d.valid_from <= :last_day AND (d.valid_to IS NULL OR d.valid_to >= :first_day)
            OFFSET 0
        ) line
        WHERE e.kind = 'envelope' AND e.id BETWEEN :first_id AND :last_id
          AND (e.funded_period IS NULL
               OR (e.funded_period < :period AND e.expired_period = e.funded_period))
        ORDER BY e.id
    ) due
    WHERE a.id = due.id AND a.id BETWEEN :first_id AND :last_id AND a.kind = 'envelope'
      AND (a.funded_period IS NULL
           OR (a.funded_period < :period AND a.expired_period = a.funded_period))
    RETURNING a.id, a.organizer_id, due.amount, due.budget_id
), ins AS (
    INSERT INTO transfers (organizer_id, debit_account_id, credit_account_id, amount_cents,
                           kind, period, dedupe_key, created_at)
    SELECT upd.organizer_id, upd.budget_id, upd.id, upd.amount, 'funding', :period,
           'fund:' || upd.id || ':' || :period, CAST(:now AS timestamptz)
    FROM upd
    WHERE upd.amount > 0 AND upd.budget_id IS NOT NULL
    RETURNING id, organizer_id, credit_account_id, amount_cents
), ev AS (
    INSERT INTO outbox (organizer_id, wallet_id, type, transfer_id, created_at)
    SELECT ins.organizer_id, env.wallet_id, :event_type, ins.id, CAST(:now AS timestamptz)
    FROM ins JOIN accounts env
      ON env.id = ins.credit_account_id AND env.id BETWEEN :first_id AND :last_id
    RETURNING id
)
SELECT (SELECT count(*) FROM ins), (SELECT coalesce(sum(amount_cents), 0) FROM ins),
       (SELECT count(*) FROM upd), (SELECT count(*) FROM ev)
"""
)


def _pg_params(period: str, first: int, last: int, event_type: str) -> dict[str, Any]:
    return {
        "period": period,
        "first_day": first_day(period),
        "last_day": last_day(period),
        "days": days_in(period),
        "first_id": first,
        "last_id": last,
        "event_type": event_type,
        "now": utcnow(),
    }


async def _expire_batch_pg(
    db: Database, period: str, first: int, last: int, summary: FundingSummary
) -> None:
    """``_expire_batch`` as one statement (PostgreSQL): same rows, same amounts, same events."""
    async with UnitOfWork(db) as uow:
        row = (
            await uow.session.execute(
                _EXPIRE_PG, _pg_params(period, first, last, REMAINDER_EXPIRED)
            )
        ).one()
        await uow.commit()
    summary.expired_count += int(row[0])
    summary.expired_cents += int(row[1])


async def _fund_batch_pg(
    db: Database, period: str, first: int, last: int, summary: FundingSummary
) -> None:
    """``_fund_batch`` as one statement (PostgreSQL), pro-rating in SQL."""
    async with UnitOfWork(db) as uow:
        row = (
            await uow.session.execute(_FUND_PG, _pg_params(period, first, last, ENVELOPE_FUNDED))
        ).one()
        await uow.commit()
    summary.funded_count += int(row[0])
    summary.funded_cents += int(row[1])


def _as_date(value: date | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    return value
