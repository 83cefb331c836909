"""What `wallet check` reports besides its violations, and how many violations it lists
(both engines): the counts and the per-month totals are what the CLI prints."""

from __future__ import annotations

from payments.books import MAX_REPORTED, CheckReport, PeriodTotals, check_books
from payments.db import Database
from payments.models import Account, Transfer
from payments.results import Happened
from tests.factories import at, count, envelope, seed_world
from tests.support.money import by_wallet, charged, cleaning, refund

JAN = "2031-01"


def test_a_report_lists_fifty_violations_and_says_there_are_more() -> None:
    report = CheckReport()
    assert report.ok and report.violations == []
    for n in range(MAX_REPORTED):
        report.add(f"v{n}")
    assert len(report.violations) == 50 and report.violations[-1] == "v49"
    assert not report.ok
    report.add("v50")
    report.add("v51")
    assert report.violations[50:] == ["... more violations not shown"]
    assert len(report.violations) == MAX_REPORTED + 1


async def test_the_report_counts_and_totals_a_month(db: Database):
    w = await seed_world(db, period=JAN, monthly_cents=30_000)
    charge_id = await charged(db, w, cleaning(2), customer=by_wallet(w), now=at(JAN, 3))
    out = await refund(db, w, charge_id, 1500, reason=None, now=at(JAN, 4))
    assert out.what is Happened.CREATED and not out.replayed
    report = await check_books(db)
    assert report.ok, report.violations
    assert report.transfers == await count(db, Transfer)
    assert report.transfers == 3
    assert report.accounts == await count(db, Account)
    assert report.envelopes == 1
    assert report.periods == {
        JAN: PeriodTotals(
            funded=30_000,
            spent=7000,
            refunded=1500,
            expired=0,
            other=0,
            closing=30_000 - 7000 + 1500,
        )
    }
    assert (await envelope(db, w.wallet_id)).balance_cents == 24_500
