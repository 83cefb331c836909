"""Prove the books (money rule 7).

* every transfer balances: one debit and one credit of the same positive amount, between two
  distinct accounts of the same organizer (one row holds both sides, so all balances together
  sum to zero by construction: there is nothing to check there);
* every stored balance (envelopes, holds) equals its credits minus its debits;
* no envelope or hold is negative;
* for every envelope and period: opening + funded - spent + refunded - expired - held =
  closing (``spent`` and ``expired`` include what left the envelope's hold account, ``held`` is
  what open holds still reserve), no closing is negative, a closed month keeps no more than
  its carry-over allowance (the cap of a ``capped`` decision still valid after that month, as
  funding allows; else 0), and every envelope belongs to a decision line;
* every charge's transfers equal its total, and its refunds and corrections equal its refunded
  amount; every charge, refund and correction transfer belongs to a charge;
* every approved correction has its own ``correction`` transfer, of its amount and charge, from
  the charge's provider's payable account to its organizer's budget, and every ``correction``
  transfer belongs to an approved correction (issue 18);
* every settlement's amount equals its lines and its transfer; no transfer is in two
  settlements (``payments.settlements.check_settlements``);
* every hold account holds exactly its open holds, and every captured hold's amount is what
  its charge took (checkout, issue 4);
* the organizer reports (and so the statements, which read the same flows) reconcile: per
  organizer and period, the monthly report's funded, spent, refunded and expired equal the
  ledger's funding, charge, refund and expiry (+ expired hold) transfers (issue 7).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, select, text
from sqlalchemy.orm import aliased

from payments.db import Database
from payments.ledger.periods import last_day
from payments.marketplace.settlements import check_settlements
from payments.models import (
    STORED_BALANCE_KINDS,
    Account,
    Charge,
    Correction,
    Decision,
    DecisionLine,
    Hold,
    HoldLine,
    Organizer,
    Transfer,
)
from payments.reporting.reports import month_rows
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, CorrectionStatus, HoldStatus, TransferKind

MAX_REPORTED = 50
# Each query asks for one row more than a report lists, so that a query with more than
# MAX_REPORTED findings still makes the report say there are more.
FETCH = MAX_REPORTED + 1
# What a charge gives back: a provider's refund (to the envelope, or to the organizer once the
# month has closed) and a case manager's correction (to the organizer).
REFUND_KINDS = (TransferKind.REFUND, TransferKind.REFUND_CLOSED, TransferKind.CORRECTION)
CHARGE_KINDS = (TransferKind.CHARGE, *REFUND_KINDS)


@dataclass
class PeriodTotals:
    """One period of an envelope (or of all of them), counted as the organizer's reports count
    it: ``spent`` is every charge of the period's money, from the envelope or from its hold
    account (a request or a visit), ``expired`` includes holds released into a closed month,
    and ``held`` is only what open holds still reserve.
    opening + funded - spent + refunded - expired - held = closing (the envelope's balance)."""

    funded: int = 0
    spent: int = 0
    refunded: int = 0
    expired: int = 0
    held: int = 0
    closing: int = 0


@dataclass
class CheckReport:
    transfers: int = 0
    accounts: int = 0
    envelopes: int = 0
    violations: list[str] = field(default_factory=list)
    periods: dict[str, PeriodTotals] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    def add(self, message: str) -> None:
        if len(self.violations) < MAX_REPORTED:
            self.violations.append(message)
        elif len(self.violations) == MAX_REPORTED:
            self.violations.append("... more violations not shown")


async def check_books(db: Database) -> CheckReport:
    """Check every invariant of the ledger in one consistent read and report violations."""
    report = CheckReport()
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        if db.is_postgres:
            # The checks below are many statements; under READ COMMITTED each would see a
            # different moment, and a live system would show phantom violations (a transfer
            # seen, its balance update not yet). One snapshot for all of them. (SQLite's read
            # transaction is already a snapshot.)
            await s.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        debit, credit = aliased(Account), aliased(Account)

        # 1. Transfers balance and stay inside one organizer.
        report.transfers = int((await s.execute(select(func.count(Transfer.id)))).scalar_one())
        bad = (
            await s.execute(
                select(Transfer.id, Transfer.amount_cents)
                .join(debit, debit.id == Transfer.debit_account_id)
                .join(credit, credit.id == Transfer.credit_account_id)
                .where(
                    (Transfer.amount_cents <= 0)
                    | (Transfer.debit_account_id == Transfer.credit_account_id)
                    | (debit.organizer_id != Transfer.organizer_id)
                    | (credit.organizer_id != Transfer.organizer_id)
                )
                .limit(FETCH)
            )
        ).all()
        for tid, amount in bad:
            report.add(f"transfer {tid} does not balance or crosses organizers (amount {amount})")

        # 2 and 3. Stored balances equal their transfers; none negative.
        credits = select(
            Transfer.credit_account_id.label("acc"), Transfer.amount_cents.label("amt")
        )
        debits = select(
            Transfer.debit_account_id.label("acc"), (-Transfer.amount_cents).label("amt")
        )
        movements = credits.union_all(debits).subquery()
        sums = dict(
            (int(a), int(b))
            for a, b in (
                await s.execute(
                    select(movements.c.acc, func.sum(movements.c.amt)).group_by(movements.c.acc)
                )
            ).all()
        )
        accounts = (await s.execute(select(Account.id, Account.kind, Account.balance_cents))).all()
        report.accounts = len(accounts)
        for acc_id, kind, stored in accounts:
            derived = sums.get(int(acc_id), 0)
            if kind in STORED_BALANCE_KINDS:
                if stored is None or int(stored) != derived:
                    report.add(
                        f"{kind} account {acc_id}: stored balance {stored} != transfers {derived}"
                    )
                if stored is not None and int(stored) < 0:
                    report.add(f"{kind} account {acc_id} is negative: {stored}")
            elif stored is not None:
                report.add(f"{kind} account {acc_id} keeps a stored balance it should not")

        # 4. Per envelope and period.
        await _check_periods(uow, report)

        # 5. Charges agree with their transfers.
        per_charge = (
            select(
                Transfer.charge_id.label("cid"),
                func.sum(
                    case((Transfer.kind == TransferKind.CHARGE, Transfer.amount_cents), else_=0)
                ).label("charged"),
                func.sum(
                    case(
                        (Transfer.kind.in_(REFUND_KINDS), Transfer.amount_cents),
                        else_=0,
                    )
                ).label("refunded"),
            )
            .where(Transfer.charge_id.is_not(None))
            .group_by(Transfer.charge_id)
            .subquery()
        )
        mismatched = (
            await s.execute(
                select(
                    Charge.id,
                    Charge.total_cents,
                    per_charge.c.charged,
                    Charge.refunded_cents,
                    per_charge.c.refunded,
                )
                .outerjoin(per_charge, per_charge.c.cid == Charge.id)
                .where(
                    (func.coalesce(per_charge.c.charged, 0) != Charge.total_cents)
                    | (func.coalesce(per_charge.c.refunded, 0) != Charge.refunded_cents)
                )
                .limit(FETCH)
            )
        ).all()
        for cid, total, charged, refunded_stored, refunded in mismatched:
            report.add(
                f"charge {cid}: total {total} vs transfers {charged}; "
                f"refunded {refunded_stored} vs transfers {refunded}"
            )
        # ... and no money leaves an envelope as a charge, or comes back as a refund, without
        # the charge it belongs to (the query above starts from the charges, so it cannot
        # see such a transfer).
        orphans = (
            await s.execute(
                select(Transfer.id, Transfer.kind)
                .outerjoin(Charge, Charge.id == Transfer.charge_id)
                .where(Transfer.kind.in_(CHARGE_KINDS), Charge.id.is_(None))
                .order_by(Transfer.id)
                .limit(FETCH)
            )
        ).all()
        for tid, kind in orphans:
            report.add(f"{kind} transfer {tid} belongs to no charge")

        await _check_corrections(uow, report)

        # 6. Settlements equal their lines and their transfer; no transfer in two settlements.
        await check_settlements(s, report.add)
        await _check_holds(uow, report)
        await _check_reports(uow, report)
    return report


async def _check_corrections(uow: UnitOfWork, report: CheckReport) -> None:
    """Approved corrections and ``correction`` transfers are one to one, and agree."""
    s = uow.session
    debit, credit = aliased(Account), aliased(Account)
    approved = (
        await s.execute(
            select(Correction.id)
            .join(Charge, Charge.id == Correction.charge_id)
            .outerjoin(Transfer, Transfer.id == Correction.transfer_id)
            .outerjoin(debit, debit.id == Transfer.debit_account_id)
            .outerjoin(credit, credit.id == Transfer.credit_account_id)
            .where(
                Correction.status == CorrectionStatus.APPROVED,
                (Transfer.id.is_(None))
                | (Transfer.kind != TransferKind.CORRECTION)
                | (Transfer.amount_cents != Correction.amount_cents)
                | (Transfer.charge_id.is_(None))
                | (Transfer.charge_id != Correction.charge_id)
                | (debit.kind != AccountKind.PROVIDER_PAYABLE)
                | (debit.provider_id != Charge.provider_id)
                | (credit.kind != AccountKind.ORGANIZER_BUDGET)
                | (credit.organizer_id != Charge.organizer_id),
            )
            .order_by(Correction.id)
            .limit(FETCH)
        )
    ).all()
    for (cid,) in approved:
        report.add(
            f"correction {cid}: its transfer is not a correction of its amount and charge "
            "from the provider's payable to the organizer's budget"
        )
    orphans = (
        await s.execute(
            select(Transfer.id)
            .outerjoin(
                Correction,
                (Correction.transfer_id == Transfer.id)
                & (Correction.status == CorrectionStatus.APPROVED),
            )
            .where(Transfer.kind == TransferKind.CORRECTION, Correction.id.is_(None))
            .order_by(Transfer.id)
            .limit(FETCH)
        )
    ).all()
    for (tid,) in orphans:
        report.add(f"correction transfer {tid} belongs to no approved correction")


# The ledger's own reading of a period, by transfer kind alone: every charge leaves an
# envelope or a hold, every refund to a client returns to an envelope, and every expiry
# leaves one of them for the expired account.
LEDGER_BUCKETS: dict[str, str] = {
    TransferKind.FUNDING: "funded",
    TransferKind.CHARGE: "spent",
    TransferKind.REFUND: "refunded",
    TransferKind.EXPIRY: "expired",
    TransferKind.HOLD_EXPIRED: "expired",
}


async def _check_reports(uow: UnitOfWork, report: CheckReport) -> None:
    """Report totals equal ledger totals for every organizer and period."""
    s = uow.session
    ledger: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("funded", "spent", "refunded", "expired"), 0)
    )
    for org, period, kind, amount in (
        await s.execute(
            select(
                Transfer.organizer_id,
                Transfer.period,
                Transfer.kind,
                func.sum(Transfer.amount_cents),
            )
            .where(Transfer.kind.in_(tuple(LEDGER_BUCKETS)))
            .group_by(Transfer.organizer_id, Transfer.period, Transfer.kind)
        )
    ).all():
        ledger[(str(org), str(period))][LEDGER_BUCKETS[str(kind)]] += int(amount)
    reported: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(("funded", "spent", "refunded", "expired"), 0)
    )
    for (org,) in (await s.execute(select(Organizer.id))).all():
        for r in await month_rows(s, organizer_id=org):
            t = reported[(str(org), r.period)]
            t["funded"] += r.funded_cents
            t["spent"] += r.spent_cents
            t["refunded"] += r.refunded_cents
            t["expired"] += r.expired_cents
    zero = dict.fromkeys(("funded", "spent", "refunded", "expired"), 0)
    for key in sorted(set(ledger) | set(reported)):
        want, got = ledger.get(key, zero), reported.get(key, zero)
        if want != got:
            report.add(f"report of organizer {key[0]} for {key[1]}: {got} != ledger {want}")


async def _check_periods(uow: UnitOfWork, report: CheckReport) -> None:
    s = uow.session
    env = aliased(Account)
    signed = case(
        (Transfer.credit_account_id == env.id, Transfer.amount_cents), else_=-Transfer.amount_cents
    )
    rows = (
        await s.execute(
            select(
                env.id,
                Transfer.period,
                Transfer.kind,
                func.sum(signed),
            )
            .join(
                Transfer,
                (Transfer.credit_account_id == env.id) | (Transfer.debit_account_id == env.id),
            )
            .where(env.kind == AccountKind.ENVELOPE)
            .group_by(env.id, Transfer.period, Transfer.kind)
        )
    ).all()
    envelopes = {}
    for acc_id, expired_period, balance, carry_policy, cap, valid_to, decision in (
        await s.execute(
            select(
                Account.id,
                Account.expired_period,
                Account.balance_cents,
                Decision.carry_over,
                Decision.carry_over_cap_cents,
                Decision.valid_to,
                Decision.id,
            )
            .outerjoin(DecisionLine, DecisionLine.id == Account.decision_line_id)
            .outerjoin(Decision, Decision.id == DecisionLine.decision_id)
            .where(Account.kind == AccountKind.ENVELOPE)
        )
    ).all():
        envelopes[int(acc_id)] = (expired_period, balance, carry_policy, cap, valid_to)
        if decision is None:
            report.add(f"envelope {acc_id} belongs to no decision line")
    report.envelopes = len(envelopes)
    flows: dict[int, dict[str, PeriodTotals]] = defaultdict(dict)
    for acc_id, period, kind, amount in rows:
        totals = flows[int(acc_id)].setdefault(str(period), PeriodTotals())
        amount = int(amount)
        if kind == TransferKind.FUNDING:
            totals.funded += amount
        elif kind == TransferKind.CHARGE:
            totals.spent += -amount
        elif kind == TransferKind.REFUND:
            totals.refunded += amount
        elif kind == TransferKind.EXPIRY:
            totals.expired += -amount
        else:  # hold, hold_release: into the envelope's hold account and back
            totals.held -= amount
    # What left the hold account for good was spent (a request's or a visit's charge) or
    # expired (released into a closed month); only open holds stay held.
    hold, owner = aliased(Account), aliased(Account)
    for acc_id, period, kind, amount in (
        await s.execute(
            select(owner.id, Transfer.period, Transfer.kind, func.sum(Transfer.amount_cents))
            .join(hold, hold.id == Transfer.debit_account_id)
            .join(
                owner,
                (owner.decision_line_id == hold.decision_line_id)
                & (owner.kind == AccountKind.ENVELOPE),
            )
            .where(
                hold.kind == AccountKind.HOLD,
                Transfer.kind.in_((TransferKind.CHARGE, TransferKind.HOLD_EXPIRED)),
            )
            .group_by(owner.id, Transfer.period, Transfer.kind)
        )
    ).all():
        totals = flows[int(acc_id)].setdefault(str(period), PeriodTotals())
        if kind == TransferKind.CHARGE:
            totals.spent += int(amount)
        else:  # hold_expired
            totals.expired += int(amount)
        totals.held -= int(amount)
    for acc_id, per_period in flows.items():
        expired_period, balance, policy, cap, valid_to = envelopes[acc_id]
        closing = 0
        for period in sorted(per_period):
            t = per_period[period]
            opening = closing
            closing = opening + t.funded - t.spent + t.refunded - t.expired - t.held
            t.closing = closing
            agg = report.periods.setdefault(period, PeriodTotals())
            agg.funded += t.funded
            agg.spent += t.spent
            agg.refunded += t.refunded
            agg.expired += t.expired
            agg.held += t.held
            agg.closing += closing
            if closing < 0:
                report.add(f"envelope {acc_id} closes {period} negative: {closing}")
            # Funding carries the cap over only for a decision still valid in the month it
            # funds (payments.funding), so never past the decision's end.
            carries = policy == "capped" and (valid_to is None or valid_to > last_day(period))
            allowance = int(cap or 0) if carries else 0
            if expired_period is not None and period <= expired_period and closing > allowance:
                report.add(
                    f"envelope {acc_id} kept {closing} after {period} closed "
                    f"(allowed carry-over {allowance})"
                )
        if closing != int(balance or 0):
            report.add(f"envelope {acc_id}: periods close at {closing}, balance is {balance}")


async def _check_holds(uow: UnitOfWork, report: CheckReport) -> None:
    """A hold account's balance is the sum of its open holds' lines; a captured hold's
    ``captured_cents`` is its charge's total."""
    s = uow.session
    open_sums = {
        int(acc): int(total)
        for acc, total in (
            await s.execute(
                select(HoldLine.hold_account_id, func.sum(HoldLine.amount_cents))
                .join(Hold, Hold.id == HoldLine.hold_id)
                .where(Hold.status == HoldStatus.HELD)
                .group_by(HoldLine.hold_account_id)
            )
        ).all()
    }
    for acc_id, balance in (
        await s.execute(
            select(Account.id, Account.balance_cents).where(Account.kind == AccountKind.HOLD)
        )
    ).all():
        expected = open_sums.pop(int(acc_id), 0)
        if int(balance or 0) != expected:
            report.add(f"hold account {acc_id}: balance {balance} != open holds {expected}")
    for acc_id, total in open_sums.items():
        report.add(f"open holds of {total} point at account {acc_id}, not a hold account")
    captured = (
        await s.execute(
            select(Hold.id, Hold.captured_cents, Charge.total_cents)
            .outerjoin(Charge, Charge.id == Hold.charge_id)
            .where(Hold.status == HoldStatus.CAPTURED)
            .where(Charge.id.is_(None) | (Charge.total_cents != Hold.captured_cents))
            .limit(FETCH)
        )
    ).all()
    for hold_id, captured_cents, total in captured:
        report.add(f"hold {hold_id}: captured {captured_cents} but its charge took {total}")
