"""``wallet fund`` as an operator runs it: a summary of what expired and what was funded, and a
second run that moves nothing; a month that is no month is refused before anything runs."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from payments.db import create_database
from tests.factories import seed_world
from wallet_api.cli import main


def test_wallet_fund_twice(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def seed() -> None:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        await seed_world(db, period="2031-01", monthly_cents=40_000)
        await db.dispose()

    asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    runner = CliRunner()
    first = runner.invoke(main, ["fund", "--month", "2031-02"])
    assert first.exit_code == 0, first.output
    assert "Funding 2031-02" in first.output
    funded = next(line for line in first.output.splitlines() if line.strip().startswith("│ funded"))
    assert "400.00 €" in funded
    again = runner.invoke(main, ["fund", "--month", "2031-02"])
    assert again.exit_code == 0, again.output
    funded = next(line for line in again.output.splitlines() if line.strip().startswith("│ funded"))
    assert "0.00 €" in funded and "moves nothing more" in again.output
    bad = runner.invoke(main, ["fund", "--month", "2031-13"])
    assert bad.exit_code == 2 and "--month" in bad.output
