"""Issue 13, item 6: CSV formula injection.

A provider chooses its own name in the public application. A name such as
``=HYPERLINK("http://evil","x")`` used to reach, unchanged, the client's statement CSV, the
provider report CSV, the settlement CSV and the file that ``wallet settle`` writes, where a
spreadsheet runs it as a formula. Every export now goes through one writer
(``payments.reporting.csv_export``): a text cell that a spreadsheet would read as a formula
starts with a single quote, numbers the code writes stay numbers, and the file is UTF-8 with a BOM.
The writer on its own is tested in ``tests/unit/test_csv_cells.py``; here, every export.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from payments.clock import utcnow
from payments.db import Database, create_database
from payments.ledger.periods import HELSINKI, current_period
from payments.marketplace import settlements
from payments.marketplace.providers import Application, apply_provider, decide_provider
from payments.models import Organizer, Provider
from payments.uow import UnitOfWork
from tests.factories import World, api_key_for, seed_world, trust_provider
from tests.support.api import auth
from tests.support.money import charged, exactly
from tests.unit.test_csv_cells import csv_rows
from wallet_api.cli import main

# Names a provider can type into the public application (printable, so they pass its checks).
APPLIED_NAMES = {
    '=HYPERLINK("http://evil","x")': '\'=HYPERLINK("http://evil","x")',
    "+cmd": "'+cmd",
    "@SUM(1)": "'@SUM(1)",
    "-2+3": "'-2+3",
    # A spreadsheet that splits at ";" (Excel in Finnish) would start a cell at "=".
    'Kuura;=HYPERLINK("http://evil")': 'Kuura;\'=HYPERLINK("http://evil")',
}
# Names with a leading tab or CR cannot be applied for (the application refuses control
# characters), but the writer must not depend on that: they are written to the database.
# A tab or CR is itself a trigger and also a place where a reader may start a new cell, so
# both the text and the "=" after it get a quote.
STORED_NAMES = {"\t=1+1": "'\t'=1+1", "\r=1+1": "'\r'=1+1"}
ALL_NAMES = {**APPLIED_NAMES, **STORED_NAMES}


def _business_id(n: int) -> str:
    """A valid Y-tunnus (weights 7 9 10 5 8 4 2, mod 11) for a test provider number ``n``."""
    body = f"{3000000 + 10 * n:07d}"
    while True:
        r = sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2), strict=True)) % 11
        if r != 1:
            return f"{body}-{0 if r == 0 else 11 - r}"
        body = f"{int(body) + 1:07d}"


def _application(name: str, n: int) -> Application:
    return Application(
        company_name=name,
        business_id=_business_id(n),
        iban="FI21 1234 5600 0007 85",
        bic="NDEAFIHH",
        contact_name="Eve",
        contact_email=f"eve{n}@example.fi",
        contact_phone=f"040 765 43{n:02d}",
        languages=["fi"],
        municipalities=["Kajaani"],
        prices={"siivous": 3200},
    )


async def _evil_providers(db: Database, w: World) -> dict[uuid.UUID, str]:
    """One approved, trusted provider per hostile name, each with a charge to ``w``'s client
    now. Returns provider id -> the cell expected in an export."""
    expected: dict[uuid.UUID, str] = {}
    for n, name in enumerate(ALL_NAMES):
        applied_as = name if name in APPLIED_NAMES else f"Placeholder {n}"
        applied = await apply_provider(
            db, organizer_id=w.organizer_id, application=_application(applied_as, n)
        )
        pid = applied.provider_id
        if name in STORED_NAMES:
            async with UnitOfWork(db) as uow:
                await uow.session.execute(
                    update(Provider).where(Provider.id == pid).values(name=name)
                )
                await uow.commit()
        await decide_provider(
            db,
            organizer_id=w.organizer_id,
            provider_id=pid,
            action="approve",
            actor_id=w.case_manager,
        )
        await trust_provider(db, w.wallet_id, pid)
        await charged(db, w, exactly(1000 + n), now=utcnow(), provider_id=pid)
        expected[pid] = ALL_NAMES[name]
    return expected


def _assert_neutralised(cells: list[str], expected: dict[uuid.UUID, str]) -> None:
    assert sorted(cells) == sorted(expected.values())
    for cell in cells:
        assert cell[0] not in "=+-@\t\r", repr(cell)


@pytest.fixture
async def evil(db: Database) -> tuple[World, dict[uuid.UUID, str]]:
    w = await seed_world(db)
    return w, await _evil_providers(db, w)


async def test_the_public_application_takes_a_formula_as_the_company_name(client, db, world):
    """The way in: the public application stores ``=HYPERLINK(...)`` as the provider's name."""
    async with UnitOfWork(db, readonly=True) as uow:
        slug = (
            await uow.session.execute(
                select(Organizer.slug).where(Organizer.id == world.organizer_id)
            )
        ).scalar_one()
    a = _application('=HYPERLINK("http://evil","x")', 90)
    body = {
        **{k: v for k, v in vars(a).items()},
        "organizer": slug,
    }
    r = await client.post("/api/providers/applications", json=body)
    assert r.status_code == 201, r.text
    async with UnitOfWork(db, readonly=True) as uow:
        name = await uow.session.scalar(
            select(Provider.name).where(Provider.id == uuid.UUID(r.json()["provider_id"]))
        )
    assert name == '=HYPERLINK("http://evil","x")'


async def test_statement_csv_neutralises_provider_names(client, db, evil):
    w, expected = evil
    key = await api_key_for(db, w.client_principal)
    r = await client.get(
        f"/api/wallets/{w.wallet_id}/statements/{current_period()}.csv", headers=auth(key)
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = csv_rows(r.content)
    charges = [row for row in rows if row["row"] == "charge"]
    _assert_neutralised([row["provider"] for row in charges], expected)
    # Numbers the code writes stay numbers: a charge is a negative amount, not text.
    assert sorted(int(row["amount_cents"]) for row in charges) == sorted(
        -(1000 + n) for n in range(len(ALL_NAMES))
    )
    assert all(row["amount_cents"].startswith("-") for row in charges)
    assert next(iter(rows[0])) == "period"


async def test_provider_report_csv_neutralises_provider_names(client, db, evil):
    w, expected = evil
    cm = await api_key_for(db, w.case_manager)
    r = await client.get("/api/reports/providers?format=csv", headers=auth(cm))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = csv_rows(r.content)
    mine = [row for row in rows if uuid.UUID(row["provider_id"]) in expected]
    _assert_neutralised([row["provider"] for row in mine], expected)
    assert {uuid.UUID(row["provider_id"]): row["provider"] for row in mine} == expected


async def test_settlement_csv_download_neutralises_provider_names(client, db, evil):
    w, expected = evil
    today = utcnow().astimezone(HELSINKI).date()
    run = await settlements.settle_providers(db, today)
    assert {s.provider_id for s in run.settled} >= set(expected)
    cm = await api_key_for(db, w.case_manager)
    r = await client.get(
        "/api/settlements/files", params={"until": today.isoformat()}, headers=auth(cm)
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = csv_rows(r.content)
    mine = {uuid.UUID(row["provider_id"]): row["provider"] for row in rows}
    mine = {pid: cell for pid, cell in mine.items() if pid in expected}
    _assert_neutralised(list(mine.values()), expected)
    assert mine == expected
    # amount_eur is a number too.
    assert all(Decimal(row["amount_eur"]) > 0 for row in rows)


def test_wallet_settle_file_neutralises_provider_names(
    database_url: str, tmp_path: Path, monkeypatch
):
    async def seed() -> dict[uuid.UUID, str]:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        w = await seed_world(db)
        out = await _evil_providers(db, w)
        await db.dispose()
        return out

    expected = asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    today: date = utcnow().astimezone(HELSINKI).date()
    result = CliRunner().invoke(
        main, ["settle", "--until", today.isoformat(), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    (csv_path,) = tmp_path.glob("*.csv")
    rows = csv_rows(csv_path.read_bytes())
    mine = {
        uuid.UUID(row["provider_id"]): row["provider"]
        for row in rows
        if uuid.UUID(row["provider_id"]) in expected
    }
    _assert_neutralised(list(mine.values()), expected)
    assert mine == expected


# --- the writer itself ------------------------------------------------------------------------


def test_wallet_settle_prints_provider_names_as_text_not_markup(
    database_url: str, tmp_path: Path, monkeypatch
):
    """The same name reaches the operator's terminal: ``wallet settle`` prints it as text, not
    as console markup (``[link=...]`` would become a terminal hyperlink)."""
    name = "[red]Kuura[/red]"

    async def seed() -> None:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        w = await seed_world(db)
        applied = await apply_provider(
            db, organizer_id=w.organizer_id, application=_application(name, 1)
        )
        pid = applied.provider_id
        await decide_provider(
            db,
            organizer_id=w.organizer_id,
            provider_id=pid,
            action="approve",
            actor_id=w.case_manager,
        )
        await trust_provider(db, w.wallet_id, pid)
        await charged(db, w, exactly(1000), now=utcnow(), provider_id=pid)
        await db.dispose()

    asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    today: date = utcnow().astimezone(HELSINKI).date()
    result = CliRunner().invoke(
        main, ["settle", "--until", today.isoformat(), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert name in result.output
