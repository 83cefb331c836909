"""``wallet settle`` end to end and the migration matching the models (the schedule's days:
``tests/unit/test_periods.py``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from lxml import etree
from stdnum import iso11649

from payments.books import check_books
from payments.db import create_database
from payments.models import Base, ProviderProfile, Settlement, SettlementLine
from tests.factories import add_bank_profile, seed_world
from tests.marketplace.helpers import utc
from tests.support.money import charged, exactly
from wallet_api.cli import main

P = "2024-01"  # in the past: a settlement may not reach into the future
MINE = {ProviderProfile.__tablename__, Settlement.__tablename__, SettlementLine.__tablename__}


def test_wallet_settle_writes_the_bank_file_and_csv(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def seed() -> None:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        w = await seed_world(db, period=P)
        await add_bank_profile(db, w, iban="FI2112345600000785", bic="NDEAFIHH")
        await charged(db, w, exactly(2500), now=utc(P, 3))
        await charged(db, w, exactly(1000), now=utc(P, 4))
        await db.dispose()

    asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    monkeypatch.setenv("WALLET_SETTLEMENT_DEBTOR_NAME", "Kainuun hyvinvointialue")
    monkeypatch.setenv("WALLET_SETTLEMENT_DEBTOR_IBAN", "FI4950009420028730")
    monkeypatch.setenv("WALLET_SETTLEMENT_DEBTOR_BIC", "OKOYFIHH")
    runner = CliRunner()
    args = [
        "settle",
        "--until",
        "2024-01-10",
        "--out",
        str(tmp_path),
        "--execution-date",
        "2024-01-12",
    ]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "35,00\xa0€" in result.output and "1 settled" in result.output
    (xml_path,) = tmp_path.glob("*.pain001.xml")
    (csv_path,) = tmp_path.glob("*.csv")
    doc = etree.fromstring(xml_path.read_bytes())
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
    assert doc.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == "35.00"
    ref = doc.findtext(".//p:EndToEndId", namespaces=ns)
    assert ref is not None and iso11649.is_valid(ref)
    assert ref in csv_path.read_text()

    # Again: nothing more is settled and no new file is written.
    result = runner.invoke(main, [*args[:3], "--out", str(tmp_path / "again")])
    assert result.exit_code == 0, result.output
    assert "0 settled" in result.output
    assert not list((tmp_path / "again").glob("*"))

    async def books() -> None:
        db = create_database(database_url)
        report = await check_books(db)
        await db.dispose()
        assert report.ok, report.violations

    asyncio.run(books())
    bad = runner.invoke(main, ["settle", "--until", "31.1.2024"])
    assert bad.exit_code != 0


def test_migration_matches_the_models(database_url: str) -> None:
    async def diff() -> list[object]:
        db = create_database(database_url)
        async with db.engine.connect() as conn:
            found = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        await db.dispose()
        return list(found)

    mine = [d for d in asyncio.run(diff()) if any(t in repr(d) for t in MINE)]
    assert mine == []
