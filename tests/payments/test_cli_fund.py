"""``wallet fund`` as an operator runs it: a summary of what expired and what was funded, and a
second run that moves nothing; a month that is no month, or one that has not begun in Helsinki,
is refused before anything runs (both engines)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from payments import clock
from payments.db import create_database
from payments.models import Account, OutboxEvent, Transfer
from tests.factories import at, count, seed_world
from wallet_api.cli import main


def _seed(database_url: str, period: str) -> None:
    async def seed() -> None:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        await seed_world(db, period=period, monthly_cents=40_000)
        await db.dispose()

    asyncio.run(seed())


def _written(database_url: str) -> tuple[int, int, int]:
    """(transfers, outbox events, envelopes funded for a month after January)."""

    async def read() -> tuple[int, int, int]:
        db = create_database(database_url)
        try:
            return (
                await count(db, Transfer),
                await count(db, OutboxEvent),
                await count(db, Account, Account.funded_period > "2031-01"),
            )
        finally:
            await db.dispose()

    return asyncio.run(read())


def _clock_at(monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
    """The domain's clock at ``now`` (the clock answers in UTC, as the system clock does)."""
    monkeypatch.setattr(clock, "source", lambda: now.astimezone(UTC))


def test_wallet_fund_twice(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(database_url, "2031-01")
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    _clock_at(monkeypatch, at("2031-02", 1, 0))
    runner = CliRunner()
    first = runner.invoke(main, ["fund", "--month", "2031-02"])
    assert first.exit_code == 0, first.output
    assert "Funding 2031-02" in first.output
    funded = next(line for line in first.output.splitlines() if line.strip().startswith("│ funded"))
    assert "400,00\xa0€" in funded  # Babel's Finnish format
    again = runner.invoke(main, ["fund", "--month", "2031-02"])
    assert again.exit_code == 0, again.output
    funded = next(line for line in again.output.splitlines() if line.strip().startswith("│ funded"))
    assert "0,00\xa0€" in funded and "moves nothing more" in again.output
    bad = runner.invoke(main, ["fund", "--month", "2031-13"])
    assert bad.exit_code == 2 and "--month" in bad.output


@pytest.mark.parametrize(
    "now",
    [
        at("2031-01", 20),
        # 23:00 on January's last day in Helsinki (21:00 UTC): still January there.
        at("2031-01", 31, 23),
    ],
)
def test_a_month_that_has_not_begun_is_refused_and_nothing_moves(
    database_url: str, monkeypatch: pytest.MonkeyPatch, now: datetime
) -> None:
    """Funding February in January would expire January's money in the middle of January:
    refused in one line, exit 1, and nothing is written."""
    _seed(database_url, "2031-01")
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    _clock_at(monkeypatch, now)
    before = _written(database_url)
    refused = CliRunner().invoke(main, ["fund", "--month", "2031-02"])
    assert refused.exit_code == 1, refused.output
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "2031-02 has not begun (it is 2031-01 in Helsinki)" in lines[0]
    assert "Nothing was moved" in lines[0]
    assert "Funding" not in refused.stdout
    assert _written(database_url) == before
    # The month itself, and the default (this month), still run.
    same = CliRunner().invoke(main, ["fund"])
    assert same.exit_code == 0 and "Funding 2031-01" in same.output, same.output
