"""The ledger export: one budget month of one organizer's books, for its accounting system.

Two CSV files (UTF-8 with a BOM, through ``csv_document``):

* **the journal**: every transfer of the month's money as two lines, a debit on the account
  the money left and a credit on the account it reached, with the transfer's id, kind and
  booking time (Helsinki); the lines are grouped per account (a general ledger), and the
  transfer id joins a transfer's two lines;
* **the totals**: for each account kind and transfer kind, the month's debits and credits.

"The month" is the budget month the money belongs to (``transfers.period``), the same month
`wallet check` reports in its "Envelopes by period" table: its funded, spent and refunded
figures of a period are the envelope rows of this export's totals (spent: the charges from
envelopes and hold accounts), so the two reconcile (`tests/payments/test_ledger_export.py`).
Each journal's debits equal its credits (every transfer is one of each); the export refuses a
month that has not begun.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import aliased

from payments.db import Database
from payments.errors import InvalidInput
from payments.ledger.periods import HELSINKI, current_period, parse_period
from payments.models import Account, Transfer
from payments.reporting.csv_export import Cell, csv_document
from payments.uow import UnitOfWork

JOURNAL_COLUMNS = (
    "transfer_id",
    "booked_at",
    "period",
    "kind",
    "account_id",
    "account_kind",
    "debit_cents",
    "credit_cents",
    "charge_id",
)
TOTALS_COLUMNS = ("account_kind", "transfer_kind", "debit_cents", "credit_cents")


@dataclass
class LedgerExport:
    """One month's journal and totals as CSV bytes, and the figures they add up to."""

    period: str
    transfers: int = 0
    # The money the month's transfers moved: the journal's debits, and so also its credits.
    moved_cents: int = 0
    # (account kind, transfer kind) -> [debits, credits]
    totals: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    journal_csv: bytes = b""
    totals_csv: bytes = b""

    @property
    def file_stems(self) -> tuple[str, str]:
        """The journal's and the totals' file names, without ``.csv``."""
        return f"ledger-{self.period}-journal", f"ledger-{self.period}-totals"


async def export_ledger(db: Database, organizer_id: uuid.UUID, period: str) -> LedgerExport:
    """The journal and totals of ``period``'s money of one organizer (nothing of another)."""
    parse_period(period)  # InvalidInput for a malformed month
    if period > current_period():
        raise InvalidInput(f"The month {period} has not begun")
    debit_acc = aliased(Account)
    credit_acc = aliased(Account)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(
                    Transfer.id,
                    Transfer.created_at,
                    Transfer.period,
                    Transfer.kind,
                    Transfer.amount_cents,
                    Transfer.charge_id,
                    debit_acc.id,
                    debit_acc.kind,
                    credit_acc.id,
                    credit_acc.kind,
                )
                .join(debit_acc, debit_acc.id == Transfer.debit_account_id)
                .join(credit_acc, credit_acc.id == Transfer.credit_account_id)
                .where(Transfer.organizer_id == organizer_id, Transfer.period == period)
                .order_by(Transfer.id)
            )
        ).all()
    export = LedgerExport(period=period)
    lines: list[list[Cell]] = []
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for tid, at, per, kind, amount, charge_id, d_id, d_kind, c_id, c_kind in rows:
        booked = at.astimezone(HELSINKI).isoformat(timespec="seconds")
        charge = str(charge_id) if charge_id else ""
        amount = int(amount)
        lines.append([int(tid), booked, per, kind, int(d_id), d_kind, amount, 0, charge])
        lines.append([int(tid), booked, per, kind, int(c_id), c_kind, 0, amount, charge])
        totals[(str(d_kind), str(kind))][0] += amount
        totals[(str(c_kind), str(kind))][1] += amount
        export.moved_cents += amount
    export.transfers = len(rows)
    export.totals = dict(sorted(totals.items()))
    # A general ledger: each account's lines together, in booking order.
    lines.sort(key=lambda line: (line[4], line[0]))
    export.journal_csv = csv_document(JOURNAL_COLUMNS, lines)
    total_rows: list[list[Cell]] = [[a, k, d, c] for (a, k), (d, c) in export.totals.items()]
    total_rows.append(["all", "all", export.moved_cents, export.moved_cents])
    export.totals_csv = csv_document(TOTALS_COLUMNS, total_rows)
    return export
