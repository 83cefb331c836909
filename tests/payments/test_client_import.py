"""Bulk import of clients and decisions (issue 18): checked row by row against the file and
the county, idempotent by the county's references, all or nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from payments.books import check_books
from payments.budgets.client_import import (
    ClientOutcome,
    ClientsInvalid,
    DecisionOutcome,
    import_clients,
    parse_clients,
)
from payments.db import Database, create_database
from payments.errors import Conflict
from payments.models import (
    Account,
    AuditEvent,
    Client,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    ServiceCategory,
)
from payments.uow import UnitOfWork
from tests.factories import World, seed_world
from wallet_api.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
HEADER = (
    "client_ref,first_name,last_name,phone,language,decision_ref,valid_from,valid_to,"
    "label,categories,monthly_amount,voucher_value,hours_per_week\n"
)


def csv(*rows: str) -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode()


async def _count(db: Database, model: Any, *where: Any) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        stmt = select(func.count()).select_from(model).where(*where)
        return int((await uow.session.execute(stmt)).scalar_one())


async def _counts(db: Database) -> tuple[int, ...]:
    return tuple(
        [
            await _count(db, m)
            for m in (Client, Decision, DecisionLine, DecisionLineCategory, Account, AuditEvent)
        ]
    )


async def _import(db: Database, w: World, data: bytes, **kw: Any) -> Any:
    return await import_clients(
        db, organizer_id=w.organizer_id, rows=parse_clients(data), source="test.csv", **kw
    )


TWO = csv(
    'K-1,Eino,Korhonen,040 765 4321,fi,D-1,1.1.2024,,Siivous,siivous,"150,00",,',
    'K-1,Eino,Korhonen,040 765 4321,fi,D-1,1.1.2024,,Kuljetus,kuljetus,"40",,',
    'K-2,Helmi,Nieminen,050 111 2233,sv,D-2,2024-01-01,2024-12-31,Seteli,kotiapu,,"32,00","7,5"',
    "K-3,Väinö,Mäkinen,044 222 3344,en,,,,,,,,",
)


async def test_a_dry_run_reports_every_row_and_writes_nothing(db: Database):
    w = await seed_world(db)
    before = await _counts(db)
    result = await _import(db, w, TWO)  # a dry run unless asked
    assert result.dry_run
    assert [(r.where, r.client, r.decision) for r in result.rows] == [
        ("line 2", ClientOutcome.CREATED, DecisionOutcome.CREATED),
        ("line 3", ClientOutcome.CREATED, DecisionOutcome.CREATED),
        ("line 4", ClientOutcome.CREATED, DecisionOutcome.CREATED),
        ("line 5", ClientOutcome.CREATED, None),
    ]
    assert result.summary() == (
        "clients: 3 created, 0 linked, 0 unchanged; decisions: 2 created, 0 unchanged"
    )
    assert await _counts(db) == before


async def test_an_import_writes_once_and_again_adds_nothing(db: Database):
    w = await seed_world(db)
    before = await _counts(db)
    first = await _import(db, w, TWO, dry_run=False)
    assert first.summary() == (
        "clients: 3 created, 0 linked, 0 unchanged; decisions: 2 created, 0 unchanged"
    )
    clients, decisions, lines, line_cats, accounts, audits = (
        a - b for a, b in zip(await _counts(db), before, strict=True)
    )
    assert (clients, decisions, lines, line_cats, accounts) == (3, 2, 3, 3, 3)
    assert audits == 5  # three clients, two decisions
    async with UnitOfWork(db, readonly=True) as uow:
        helmi = (
            await uow.session.execute(select(Client).where(Client.external_ref == "K-2"))
        ).scalar_one()
        voucher = (
            await uow.session.execute(
                select(DecisionLine).join(Decision).where(Decision.external_ref == "D-2")
            )
        ).scalar_one()
    assert (helmi.phone_e164, helmi.language) == ("+358501112233", "sv")
    # 7.5 h a week at 32.00 an hour: 7.5 x 3200 x 52 / 12 = 104,000 cents a month.
    assert (voucher.monthly_amount_cents, voucher.hours_per_week) == (104_000, "7.5")

    after = await _counts(db)
    again = await _import(db, w, TWO, dry_run=False)
    assert again.summary() == (
        "clients: 0 created, 0 linked, 3 unchanged; decisions: 0 created, 2 unchanged"
    )
    assert await _counts(db) == after
    assert (await check_books(db)).ok


async def test_refused_rows_are_listed_with_their_lines_and_nothing_is_written(db: Database):
    w = await seed_world(db)
    before = await _counts(db)
    bad = csv(
        'K-1,Eino,Korhonen,040 765 4321,fi,D-1,1.1.2024,,Siivous,siivous,"150,00",,',
        "K-2,Helmi,Nieminen,12,fi,,,,,,,,",
        "K-3,Väinö,Mäkinen,044 222 3344,de,,,,,,,,",
        "K-4,Liisa,Laine,044 222 5555,fi,,,,Siivous,siivous,,,",
        'K-5,Kalle,Kuusi,044 222 6666,fi,D-5,1.1.2024,,Siivous,siivous,"150,001",,',
        'K-6,Aili,Aho,044 222 7777,fi,D-6,1.1.2024,,Seteli,kotiapu,,,"7,5"',
        "K-1,Eino,Korhonen,040 765 9999,fi,,,,,,,,",
        "K-7,Onni,Oja,040 765 4321,fi,,,,,,,,",
        'K-8,Pekka,Puu,044 222 8888,fi,D-1,1.1.2024,,Siivous,siivous,"10",,',
        'K-9,Saara,Salo,044 222 9999,fi,D-9,31.2.2024,,Siivous,siivous,"10",,',
    )
    with pytest.raises(ClientsInvalid) as refused:
        parse_clients(bad)
    assert refused.value.errors == [
        "line 3: Not a valid phone number",
        "line 4: language must be fi, sv or en",
        "line 5: decision columns are filled but decision_ref is empty",
        "line 6: monthly_amount must be euros such as 250,00 (not '150,001')",
        "line 7: hours_per_week needs voucher_value_cents (the value per hour)",
        "line 8: client K-1 differs from line 2",
        "line 9: the phone is also client K-1's (line 2)",
        "line 10: decision D-1 is client K-1's",
        "line 11: valid_from must be a date such as 2026-12-01 or 1.12.2026",
    ]
    # Beside each English line, its code and params for the case manager's language.
    assert [(r.line, r.why.code) for r in refused.value.refused] == [
        (3, "phone-invalid"),
        (4, "language-invalid"),
        (5, "decision-ref-missing"),
        (6, "amount-not-euros"),
        (7, "hours-need-voucher"),
        (8, "client-differs"),
        (9, "phone-shared"),
        (10, "decision-other-client"),
        (11, "date-invalid"),
    ]
    assert [r.text for r in refused.value.refused] == refused.value.errors
    assert refused.value.refused[0].document() == {
        "line": 3,
        "code": "phone-invalid",
        "column": "phone",
        "value": "12",
        "params": {"column": "phone", "value": "12"},
        "text": "line 3: Not a valid phone number",
    }
    assert refused.value.refused[3].why.params == {"column": "monthly_amount", "value": "150,001"}
    assert refused.value.refused[5].why.params == {"client": "K-1", "other_line": 2}
    assert refused.value.refused[6].why.params == {
        "column": "phone",
        "value": "040 765 4321",
        "client": "K-1",
        "other_line": 2,
    }
    # Against the county: an unknown category, and Aino's phone under another name.
    against = csv(
        'K-1,Eino,Korhonen,040 765 4321,fi,D-1,1.1.2024,,Sauna,sauna,"150,00",,',
        "K-2,Anna,Virta,040 123 4567,fi,,,,,,,,",
        "K-3,Väinö,Mäkinen,044 222 3344,en,,,,,,,,",
    )
    with pytest.raises(ClientsInvalid) as county:
        await _import(db, w, against, dry_run=False)
    assert county.value.errors == [
        "line 2: no service category or group 'sauna'",
        "line 3: the phone +358401234567 is another client's (Aino Virtanen)",
    ]
    assert [(r.why.code, r.why.params) for r in county.value.refused] == [
        ("category-unknown", {"column": "categories", "value": "sauna"}),
        ("phone-taken", {"column": "phone", "phone": "+358401234567", "name": "Aino Virtanen"}),
    ]
    assert await _counts(db) == before


async def test_a_client_made_by_hand_is_linked_and_a_known_decision_is_not_changed(
    db: Database,
):
    w = await seed_world(db)  # Aino Virtanen, 040 123 4567, made in the app
    linked = await _import(
        db,
        w,
        csv('A-1,Aino,Virtanen,040 123 4567,fi,D-1,1.1.2024,,Kuljetus,kuljetus,"40,00",,'),
        dry_run=False,
    )
    assert [(r.client, r.decision) for r in linked.rows] == [
        (ClientOutcome.LINKED, DecisionOutcome.CREATED)
    ]
    assert await _count(db, Client, Client.external_ref == "A-1") == 1
    assert await _count(db, AuditEvent, AuditEvent.action == "client.linked") == 1
    before = await _counts(db)
    changed = csv('A-1,Aino,Virtanen,040 123 4567,fi,D-1,1.1.2024,,Kuljetus,kuljetus,"45",,')
    with pytest.raises(ClientsInvalid) as refused:
        await _import(db, w, changed, dry_run=False)
    assert refused.value.errors == [
        "line 2: decision D-1 exists without this line; decisions are not changed by import"
    ]
    renamed = csv("A-1,Aino,Virta,040 123 4567,fi,,,,,,,,")
    with pytest.raises(ClientsInvalid, match="1 row"):
        await _import(db, w, renamed, dry_run=False)
    assert await _counts(db) == before


async def test_a_group_funds_all_of_its_categories(db: Database):
    w = await seed_world(db)
    async with db.engine.begin() as conn:
        await conn.execute(
            update(ServiceCategory)
            .where(
                ServiceCategory.organizer_id == w.organizer_id,
                ServiceCategory.code.in_(("kotiapu", "siivous")),
            )
            .values(groups="kotihoito")
        )
    await _import(
        db,
        w,
        csv('K-1,Eino,Korhonen,040 765 4321,fi,D-1,1.1.2024,,Kotihoito,kotihoito,"150",,'),
        dry_run=False,
    )
    async with UnitOfWork(db, readonly=True) as uow:
        codes = (
            await uow.session.execute(
                select(ServiceCategory.code)
                .join(DecisionLineCategory)
                .join(DecisionLine)
                .join(Decision)
                .where(Decision.external_ref == "D-1")
                .order_by(ServiceCategory.code)
            )
        ).scalars()
        assert list(codes) == ["kotiapu", "siivous"]


async def test_two_imports_of_one_file_at_once_create_each_client_once(database_url: str):
    db = create_database(database_url)
    other = create_database(database_url)
    try:
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        w = await seed_world(db)
        outcomes = await asyncio.gather(
            _import(db, w, TWO, dry_run=False),
            _import(other, w, TWO, dry_run=False),
            return_exceptions=True,
        )
        created = [o for o in outcomes if not isinstance(o, BaseException)]
        assert any(o.summary().startswith("clients: 3 created") for o in created), outcomes
        # The other found them all, or failed with a conflict and wrote nothing.
        assert all(
            isinstance(o, Conflict)
            or o.summary().startswith("clients: 3 created")
            or "3 unchanged" in o.summary()
            for o in outcomes
        ), outcomes
        assert await _count(db, Client, Client.external_ref.is_not(None)) == 3
        assert await _count(db, Decision, Decision.external_ref.is_not(None)) == 2
    finally:
        await db.dispose()
        await other.dispose()


def test_wallet_import_clients_from_the_documented_example(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/examples/clients.csv into a county set up from docs/examples/catalogue.csv: a dry
    run, the import (funded at once), and the same file again."""

    async def empty() -> None:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        await db.dispose()

    asyncio.run(empty())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    runner = CliRunner()
    assert (
        runner.invoke(main, ["organizer", "create", "--slug", "kainuu", "--name", "K"]).exit_code
        == 0
    )
    catalogue = str(EXAMPLES / "catalogue.csv")
    assert (
        runner.invoke(main, ["catalogue", "import", catalogue, "--organizer", "kainuu"]).exit_code
        == 0
    )
    clients = str(EXAMPLES / "clients.csv")

    dry = runner.invoke(main, ["import", "clients", clients, "--organizer", "kainuu"])
    assert dry.exit_code == 0, dry.output
    assert (
        "line 2: client A-1001 would be created, decision P-2026-001 would be created" in dry.output
    )
    assert "5 rows; clients: 4 created, 0 linked, 0 unchanged; decisions: 3 created" in dry.output
    assert "Dry run: nothing was written." in dry.output

    done = runner.invoke(main, ["import", "clients", clients, "--organizer", "kainuu", "--apply"])
    assert done.exit_code == 0, done.output
    assert "line 2: client A-1001 created, decision P-2026-001 created" in done.output
    again = runner.invoke(main, ["import", "clients", clients, "--organizer", "kainuu", "--apply"])
    assert again.exit_code == 0, again.output
    assert "clients: 0 created, 0 linked, 4 unchanged; decisions: 0 created, 3 unchanged" in (
        again.output
    )
    check = runner.invoke(main, ["check"])
    assert check.exit_code == 0, check.output

    async def funded() -> int:
        db = create_database(database_url)
        try:
            async with UnitOfWork(db, readonly=True) as uow:
                stmt = select(func.count()).select_from(Account).where(Account.balance_cents > 0)
                return int((await uow.session.execute(stmt)).scalar_one())
        finally:
            await db.dispose()

    assert asyncio.run(funded()) == 4  # every envelope of the three decisions, this month

    bad = runner.invoke(main, ["import", "clients", catalogue, "--organizer", "kainuu"])
    assert bad.exit_code == 1
    assert "catalogue.csv: line 1: unknown column 'code'" in bad.output
