"""The bank loop (issue 18): camt.054 and pain.002 files mark settlements paid or rejected,
matched by their RF reference; a rejected payout goes back to the provider's payable account
and is paid in the next settlement; a line nobody can match is reported, never guessed."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from payments.books import check_books
from payments.db import Database, create_database
from payments.errors import Conflict, InvalidInput
from payments.marketplace.bank_files import (
    MAX_BYTES,
    Result,
    import_bank_file,
    read_bank_file,
)
from payments.marketplace.settlements import get_settlement, settle_providers
from payments.models import AuditEvent, OutboxEvent, Settlement, Transfer
from payments.reporting.reports import provider_report
from payments.uow import UnitOfWork
from payments.vocabulary import TransferKind
from tests.factories import World, add_bank_profile, seed_world
from tests.marketplace.helpers import utc
from tests.support.bank_files import Booked, Status, camt054, pain002
from tests.support.money import charged, exactly
from wallet_api.cli import main

P = "2024-01"  # in the past: a settlement may not reach into the future
UNTIL = date(2024, 1, 10)


async def _settled(db: Database, *cents: int) -> tuple[World, Settlement]:
    """A provider charged ``cents`` and settled up to UNTIL: its one settlement."""
    w = await seed_world(db, period=P)
    await add_bank_profile(db, w)
    for n, amount in enumerate(cents or (3500,), start=1):
        await charged(db, w, exactly(amount), now=utc(P, n))
    run = await settle_providers(db, UNTIL)
    (paid,) = run.settled
    return w, await _settlement(db, paid.reference)


async def _settlement(db: Database, reference: str) -> Settlement:
    async with UnitOfWork(db, readonly=True) as uow:
        return (
            await uow.session.execute(select(Settlement).where(Settlement.reference == reference))
        ).scalar_one()


async def _count(db: Database, model: Any, *where: Any) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await uow.session.execute(stmt)).scalar_one())


async def _returns(db: Database) -> int:
    return await _count(db, Transfer, Transfer.kind == TransferKind.SETTLEMENT_RETURNED)


async def _books_ok(db: Database) -> None:
    report = await check_books(db)
    assert report.ok, report.violations


@pytest.mark.parametrize("version", ["02", "04", "08"])
async def test_a_booked_payout_is_paid_once(db: Database, version: str):
    """camt.054 of any version: the booked debit with the settlement's reference marks it
    paid, with an outbox event and an audit line; the same file again changes nothing."""
    _, s = await _settled(db, 2500, 1000)
    assert s.status == "pending" and s.bank_status_at is None
    data = camt054(Booked(s.reference, 3500), version=version)

    first = await import_bank_file(db, data)
    assert first.kind == "camt.054"
    assert [(x.result, x.settlement_id) for x in first.lines] == [(Result.PAID, s.id)]
    paid = await _settlement(db, s.reference)
    assert paid.status == "paid" and paid.bank_status_at is not None
    assert await _count(db, OutboxEvent, OutboxEvent.type == "settlement.paid") == 1
    assert await _count(db, AuditEvent, AuditEvent.action == "settlement.paid") == 1

    again = await import_bank_file(db, data)
    assert [x.result for x in again.lines] == [Result.ALREADY]
    assert await _count(db, OutboxEvent, OutboxEvent.type == "settlement.paid") == 1
    assert await _returns(db) == 0
    await _books_ok(db)


async def test_a_rejected_payout_goes_back_and_is_paid_in_the_next_settlement(db: Database):
    w, s = await _settled(db, 2500, 1000)
    data = pain002(Status(s.reference, "RJCT", 3500, ("AC04", "Tili lopetettu")))

    # Imported the day after the run (the cut-off of the next run is later still).
    result = await import_bank_file(db, data, now=utc(P, 11, 8))
    assert result.kind == "pain.002"
    assert [x.result for x in result.lines] == [Result.REJECTED]
    rejected = await _settlement(db, s.reference)
    assert (rejected.status, rejected.bank_reason) == ("rejected", "AC04: Tili lopetettu")
    assert rejected.returned_transfer_id is not None
    assert await _returns(db) == 1
    assert await _count(db, OutboxEvent, OutboxEvent.type == "settlement.rejected") == 1
    await _books_ok(db)
    # The provider's report: earned once, and nothing settled any more.
    (row,) = await provider_report(db, organizer_id=w.organizer_id)
    assert (row.earned_cents, row.settled_cents) == (3500, 0)

    # The same file again: nothing more goes back.
    assert [x.result for x in (await import_bank_file(db, data)).lines] == [Result.ALREADY]
    assert await _returns(db) == 1

    # The next run pays the returned 35.00 with a new charge of 5.00: 40.00, once.
    await charged(db, w, exactly(500), now=utc(P, 11))
    run = await settle_providers(db, date(2024, 1, 12))
    (next_one,) = run.settled
    assert next_one.amount_cents == 4000
    view, lines = await get_settlement(
        db, next_one.settlement_id, organizer_id=w.organizer_id, provider_id=w.provider_id
    )
    assert view.status == "pending"
    assert sorted((x.kind, x.amount_cents) for x in lines) == [
        ("charge", 500),
        ("settlement_returned", 3500),
    ]
    assert (await settle_providers(db, date(2024, 1, 12))).settled == []
    (row,) = await provider_report(db, organizer_id=w.organizer_id)
    assert (row.earned_cents, row.settled_cents) == (4000, 4000)
    await _books_ok(db)


async def test_a_payout_returned_after_it_was_booked(db: Database):
    """The debit is booked (paid), then the provider's bank sends the money back: a camt.054
    credit with return information. Both in one file, in that order."""
    _, s = await _settled(db)
    data = camt054(
        Booked(s.reference, 3500),
        Booked(s.reference, 3500, debit=False, returned=("AC01", "Virheellinen tilinumero")),
    )
    result = await import_bank_file(db, data)
    assert [x.result for x in result.lines] == [Result.PAID, Result.REJECTED]
    returned = await _settlement(db, s.reference)
    assert (returned.status, returned.bank_reason) == ("rejected", "AC01: Virheellinen tilinumero")
    assert await _returns(db) == 1
    await _books_ok(db)
    # A later "paid" for a payout that came back is for a person to look into.
    late = await import_bank_file(db, pain002(Status(s.reference, "ACSC", 3500)))
    assert [x.result for x in late.lines] == [Result.RETURNED_BEFORE]
    assert late.needs_a_person
    assert (await _settlement(db, s.reference)).status == "rejected"


async def test_lines_that_need_a_person_change_nothing_and_the_rest_is_recorded(db: Database):
    _, s = await _settled(db)
    data = camt054(
        Booked("RF18539007547034", 1200),  # a valid RF reference that no settlement has
        Booked(s.reference, 3499),  # one cent off
        Booked(s.reference, 3500, debit=False),  # money in, not marked as a return
        Booked(s.reference, 3500, status="PDNG"),  # not booked yet
        Booked("RF712348231", 990, debit=False),  # someone else's payment to the account
        Booked(s.reference, 3500, in_end_to_end_id=True),  # paid, named by end-to-end id
    )
    result = await import_bank_file(db, data)
    assert [x.result for x in result.lines] == [
        Result.UNMATCHED,
        Result.AMOUNT_DIFFERS,
        Result.CREDIT,
        Result.NOT_FINAL,
        Result.NOT_A_PAYOUT,
        Result.PAID,
    ]
    assert [x.line.reference for x in result.needs_a_person] == [
        "RF18539007547034",
        s.reference,
        s.reference,
    ]
    assert (await _settlement(db, s.reference)).status == "paid"
    assert await _returns(db) == 0
    await _books_ok(db)


async def test_pain002_statuses_on_their_way_change_nothing(db: Database):
    _, s = await _settled(db)
    data = pain002(Status(s.reference, "ACCP", 3500), Status(s.reference, "PDNG"))
    result = await import_bank_file(db, data)
    assert [x.result for x in result.lines] == [Result.NOT_FINAL, Result.NOT_FINAL]
    assert not result.needs_a_person
    assert (await _settlement(db, s.reference)).status == "pending"
    # A whole file or batch rejected without its payments cannot be matched: for a person.
    for whole in (pain002(group_status="RJCT"), pain002(batch_status="RJCT")):
        report = await import_bank_file(db, whole)
        assert [x.result for x in report.lines] == [Result.BATCH_REJECTED]
        assert report.needs_a_person
    assert (await _settlement(db, s.reference)).status == "pending"


async def test_a_dry_run_writes_nothing(db: Database):
    _, s = await _settled(db)
    data = pain002(Status(s.reference, "RJCT", 3500, ("AC04", "closed")))
    result = await import_bank_file(db, data, dry_run=True)
    assert result.dry_run and [x.result for x in result.lines] == [Result.REJECTED]
    after = await _settlement(db, s.reference)
    assert (after.status, after.returned_transfer_id, after.bank_reason) == ("pending", None, None)
    assert await _returns(db) == 0
    assert await _count(db, OutboxEvent, OutboxEvent.type.like("settlement.%")) == 0
    assert await _count(db, AuditEvent, AuditEvent.action.like("settlement.%")) == 0


async def test_two_imports_at_once_return_a_payout_once(database_url: str):
    """Two processes' imports of the same rejection race: one returns the payout, the other
    finds it recorded or fails with a conflict and writes nothing."""
    db = create_database(database_url)
    try:
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        _, s = await _settled(db)
        data = pain002(Status(s.reference, "RJCT", 3500, ("AC04", "closed")))
        other = create_database(database_url)
        try:
            outcomes = await asyncio.gather(
                import_bank_file(db, data), import_bank_file(other, data), return_exceptions=True
            )
        finally:
            await other.dispose()
        results = sorted(
            "conflict" if isinstance(o, Conflict) else str(o.lines[0].result)  # type: ignore[union-attr]
            for o in outcomes
        )
        assert results[0] in ("already recorded", "conflict"), outcomes
        assert results[1] == str(Result.REJECTED), outcomes
        assert await _returns(db) == 1
        assert await _count(db, OutboxEvent, OutboxEvent.type == "settlement.rejected") == 1
        await _books_ok(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not xml at all", "not well-formed XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<Document><BkToCstmrDbtCdtNtfctn>&b;</BkToCstmrDbtCdtNtfctn></Document>",
            "DTD or entities",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd">'
            b"<Document><CstmrPmtStsRpt/></Document>",
            "DTD or entities",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03">'
            b"<CstmrCdtTrfInitn/></Document>",
            "Not a camt.054 or pain.002 file (its message is CstmrCdtTrfInitn)",
        ),
        (b" " * (MAX_BYTES + 1), "larger than 20 MB"),
    ],
)
def test_a_file_that_is_not_a_bank_answer_is_refused(data: bytes, message: str):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_bank_file(data)


async def _tamper(db: Database, *statements: Any) -> list[str]:
    async with db.engine.begin() as conn:
        for stmt in statements:
            await conn.execute(stmt)
    return (await check_books(db)).violations


async def test_wallet_check_proves_the_returned_payouts(db: Database):
    """Each invariant of the bank loop, broken directly in the database, is reported."""
    _, s = await _settled(db)
    await import_bank_file(db, pain002(Status(s.reference, "RJCT", 3500)))
    await _books_ok(db)
    rejected = await _settlement(db, s.reference)
    tid = rejected.returned_transfer_id
    sid = Settlement.id == s.id

    lost = await _tamper(db, update(Settlement).where(sid).values(returned_transfer_id=None))
    assert f"settlement {s.id}: rejected, but its payout was not returned" in lost
    assert f"returned payout transfer {tid} returns no settlement" in lost

    pending = await _tamper(
        db, update(Settlement).where(sid).values(status="pending", returned_transfer_id=tid)
    )
    assert f"settlement {s.id}: pending, yet returned by transfer {tid}" in pending

    other = await _tamper(
        db,
        update(Settlement).where(sid).values(status="rejected", returned_transfer_id=s.transfer_id),
    )
    assert (
        f"settlement {s.id}: its return transfer {s.transfer_id} is not 3500 cents "
        "settlement -> its provider's payable" in other
    )

    await _tamper(db, update(Settlement).where(sid).values(returned_transfer_id=tid))
    await _books_ok(db)


def test_wallet_bank_import_reports_each_line(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def seed() -> str:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        _, s = await _settled(db)
        await db.dispose()
        return s.reference

    reference = asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    runner = CliRunner()
    good = tmp_path / "camt054.xml"
    good.write_bytes(camt054(Booked(reference, 3500)))

    dry = runner.invoke(main, ["bank", "import", str(good), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 lines: 1 paid." in dry.output and "Dry run: nothing was written." in dry.output

    done = runner.invoke(main, ["bank", "import", str(good)])
    assert done.exit_code == 0, done.output
    assert reference in done.output and "35,00\xa0€" in done.output
    again = runner.invoke(main, ["bank", "import", str(good)])
    assert again.exit_code == 0 and "1 already recorded" in again.output

    unknown = tmp_path / "pain002.xml"
    unknown.write_bytes(pain002(Status("RF18539007547034", "RJCT", 100)))
    person = runner.invoke(main, ["bank", "import", str(unknown)])
    assert person.exit_code == 1
    assert (
        "pain002.xml: line 1: RF18539007547034: no settlement has this reference" in person.output
    )

    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<Document>")
    refused = runner.invoke(main, ["bank", "import", str(broken)])
    assert refused.exit_code == 1
    assert "broken.xml: The file is not well-formed XML" in refused.output
