"""The monthly ledger export (issue 18): a county's journal lines per account, as CSV with a BOM,
only its own transfers, debits equal to credits, and totals that reconcile to `wallet check`."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from payments.books import check_books
from payments.db import Database, create_database
from payments.errors import InvalidInput
from payments.ledger.periods import current_period, next_period
from payments.models import Organizer, Transfer
from payments.reporting.ledger_export import export_ledger
from payments.uow import UnitOfWork
from tests.factories import World, seed_world
from tests.support.money import by_wallet, charged, exactly, refund
from wallet_api.cli import main


def _rows(content: bytes) -> list[dict[str, str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM, for spreadsheets"
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


async def _transfer_ids(db: Database, w: World) -> set[int]:
    async with UnitOfWork(db, readonly=True) as uow:
        found = await uow.session.scalars(
            select(Transfer.id).where(Transfer.organizer_id == w.organizer_id)
        )
        return {int(i) for i in found}


async def _two_counties(db: Database) -> tuple[World, World]:
    a = await seed_world(db)
    b = await seed_world(db, phone="040 765 4321")
    first = await charged(db, a, exactly(2500))
    await charged(db, a, exactly(1200))
    await refund(db, a, first, 700)
    await charged(db, b, exactly(900), customer=by_wallet(b))
    return a, b


async def test_the_journal_is_the_countys_own_transfers_two_lines_each(db: Database):
    a, b = await _two_counties(db)
    period = current_period()
    export = await export_ledger(db, a.organizer_id, period)
    journal = _rows(export.journal_csv)
    ids = {int(r["transfer_id"]) for r in journal}
    assert ids == await _transfer_ids(db, a)
    assert not ids & await _transfer_ids(db, b)
    assert len(journal) == 2 * export.transfers == 2 * len(ids)
    # A general ledger: each account's lines together, in booking order.
    order = [(int(r["account_id"]), int(r["transfer_id"])) for r in journal]
    assert order == sorted(order)
    for r in journal:  # each line is a debit or a credit, never both
        assert (int(r["debit_cents"]) == 0) != (int(r["credit_cents"]) == 0), r
        assert r["period"] == period
    debits = sum(int(r["debit_cents"]) for r in journal)
    credits = sum(int(r["credit_cents"]) for r in journal)
    assert debits == credits == export.moved_cents > 0
    # The refund is on the journal: it leaves the provider's payable and reaches the envelope.
    refund_lines = {
        (r["account_kind"], r["debit_cents"], r["credit_cents"])
        for r in journal
        if r["kind"] == "refund"
    }
    assert refund_lines == {("provider_payable", "700", "0"), ("envelope", "0", "700")}


async def test_the_totals_reconcile_to_wallet_check(db: Database):
    a, b = await _two_counties(db)
    period = current_period()
    exports = [await export_ledger(db, w.organizer_id, period) for w in (a, b)]
    report = await check_books(db)
    assert report.ok, report.violations
    checked = report.periods[period]  # both counties' envelopes of the month

    def total(account_kind: str, kind: str, side: int) -> int:
        return sum(e.totals.get((account_kind, kind), [0, 0])[side] for e in exports)

    assert total("envelope", "funding", 1) == checked.funded == 2 * 30_000
    assert total("envelope", "charge", 0) + total("hold", "charge", 0) == checked.spent == 4600
    assert total("envelope", "refund", 1) == checked.refunded == 700
    # The totals file says the same as the figures, and its last row is the whole month.
    rows = _rows(exports[0].totals_csv)
    assert rows[-1] == {
        "account_kind": "all",
        "transfer_kind": "all",
        "debit_cents": str(exports[0].moved_cents),
        "credit_cents": str(exports[0].moved_cents),
    }
    assert {(r["account_kind"], r["transfer_kind"]) for r in rows[:-1]} == set(exports[0].totals)


async def test_a_month_not_yet_begun_or_malformed_is_refused(db: Database):
    a = await seed_world(db)
    for month in (next_period(current_period()), "2026-13", "26-01"):
        with pytest.raises(InvalidInput):
            await export_ledger(db, a.organizer_id, month)
    # A month before anything happened is an empty journal, not an error.
    empty = await export_ledger(db, a.organizer_id, "2020-01")
    assert empty.transfers == 0 and _rows(empty.journal_csv) == []


def test_wallet_export_ledger_writes_both_files(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def seed() -> str:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        a, _ = await _two_counties(db)
        async with UnitOfWork(db, readonly=True) as uow:
            slug = await uow.session.scalar(
                select(Organizer.slug).where(Organizer.id == a.organizer_id)
            )
        await db.dispose()
        assert slug is not None
        return slug

    slug = asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    period = current_period()
    runner = CliRunner()
    result = runner.invoke(
        main, ["export-ledger", "--organizer", slug, "--month", period, "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    journal = tmp_path / f"{slug}-ledger-{period}-journal.csv"
    totals = tmp_path / f"{slug}-ledger-{period}-totals.csv"
    # One funding, two charges and one refund: four transfers, two lines each.
    assert len(_rows(journal.read_bytes())) == 8
    assert _rows(totals.read_bytes())[-1]["debit_cents"] != "0"
    # Bad input: a clear message, nothing written.
    for args in (
        ["--organizer", "no-such-county", "--month", period],
        ["--organizer", slug, "--month", next_period(period)],
    ):
        out = tmp_path / "bad"
        result = runner.invoke(main, ["export-ledger", *args, "--out", str(out)])
        assert result.exit_code == 1, result.output
        assert "Error" in result.output
        assert not out.exists()


async def test_a_case_manager_downloads_the_countys_ledger(db: Database, database_url: str):
    """GET /api/reports/ledger: the same files as the CLI, the county's own only."""
    from litestar.testing import AsyncTestClient

    from tests.factories import api_key_for
    from tests.support.api import auth
    from wallet_api.app import create_app
    from wallet_api.settings import Settings

    a, b = await _two_counties(db)
    period = current_period()
    app = create_app(
        Settings(
            database_url=database_url,
            redis_url=None,
            scheduler=False,
            scheduler_interval_s=300,
            max_body_bytes=64 * 1024,
        )
    )
    async with AsyncTestClient(app) as client:
        for w in (a, b):
            key = await api_key_for(db, w.case_manager)
            r = await client.get("/api/reports/ledger", params={"month": period}, headers=auth(key))
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith("text/csv")
            assert f"ledger-{period}-journal.csv" in r.headers["content-disposition"]
            ids = {int(row["transfer_id"]) for row in _rows(r.content)}
            assert ids == await _transfer_ids(db, w)
        r = await client.get(
            "/api/reports/ledger", params={"month": period, "part": "totals"}, headers=auth(key)
        )
        assert r.status_code == 200 and _rows(r.content)[-1]["account_kind"] == "all"
        for month in ("2026-13", next_period(period)):
            r = await client.get("/api/reports/ledger", params={"month": month}, headers=auth(key))
            assert r.status_code == 400, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
        provider_key = await api_key_for(db, a.provider_principal)
        r = await client.get(
            "/api/reports/ledger", params={"month": period}, headers=auth(provider_key)
        )
        assert r.status_code == 403
