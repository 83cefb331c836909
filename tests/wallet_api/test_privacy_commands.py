"""``wallet prune [--dry-run]``, the scheduler's daily prune and ``wallet client close`` (issue
19): counts per kind in the output, the log and the ``wallet_pruned_rows_total`` metric; a dry
run deletes nothing; a retention setting out of range stops before anything runs; a close
refused while a decision is in force, then done once (both engines)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client import REGISTRY
from sqlalchemy import update

from payments.clock import utcnow
from payments.db import Database, create_database
from payments.ledger.periods import HELSINKI
from payments.models import Decision, WebSession
from payments.uow import UnitOfWork
from tests.factories import count, seed_world
from wallet_api.cli import main
from wallet_api.scheduler import Scheduler


async def _old_sessions(db: Database, n: int) -> None:
    w = await seed_world(db)
    long_ago = utcnow() - timedelta(days=31)
    async with UnitOfWork(db) as uow:
        for i in range(n):
            uow.session.add(
                WebSession(
                    token_hash=f"{i:064d}",
                    principal_id=w.client_principal,
                    csrf_token="x",
                    idle_timeout_s=1800,
                    created_at=long_ago,
                    last_seen_at=long_ago,
                    expires_at=long_ago,
                    ended_at=long_ago,
                )
            )
        await uow.commit()


def _run(database_url: str, work) -> int:  # type: ignore[no-untyped-def]
    async def go() -> int:
        db = create_database(database_url)
        try:
            if db.is_postgres and work is _seed:
                from tests.support.databases import truncate

                await truncate(db)
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


async def _seed(db: Database) -> int:
    await _old_sessions(db, 3)
    return 0


async def _sessions(db: Database) -> int:
    return await count(db, WebSession)


def test_wallet_prune_dry_run_then_for_real(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(database_url, _seed)
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    runner = CliRunner()
    dry = runner.invoke(main, ["prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "sessions: 3" in dry.output and "3 rows would be pruned" in dry.output
    assert _run(database_url, _sessions) == 3
    real = runner.invoke(main, ["prune"])
    assert real.exit_code == 0, real.output
    assert "sessions: 3" in real.output and "3 rows pruned" in real.output
    assert _run(database_url, _sessions) == 0
    again = runner.invoke(main, ["prune"])
    assert "0 rows pruned" in again.output


def test_a_retention_out_of_range_is_refused_before_anything_runs(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(database_url, _seed)
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    monkeypatch.setenv("WALLET_RETENTION_SESSIONS_DAYS", "-5")
    out = CliRunner().invoke(main, ["prune"])
    assert out.exit_code == 1
    assert "WALLET_RETENTION_SESSIONS_DAYS must be between 1 and 3650, not -5" in out.output
    assert _run(database_url, _sessions) == 3


def _pruned_metric() -> float:
    return REGISTRY.get_sample_value("wallet_pruned_rows_total", {"kind": "sessions"}) or 0.0


async def test_the_scheduler_prunes_logs_and_counts(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await _old_sessions(db, 2)
    before = _pruned_metric()
    with caplog.at_level(logging.INFO, logger="wallet.scheduler"):
        pruned = await Scheduler(db).prune_now()
    assert pruned is not None and pruned.counts["sessions"] == 2  # type: ignore[index]
    assert _pruned_metric() - before == 2
    assert "pruned 2 rows past retention: sessions 2" in caplog.text
    assert await count(db, WebSession) == 0


def test_wallet_client_close(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ids: dict[str, Any] = {}

    async def seed(db: Database) -> int:
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        w = await seed_world(db)
        ids["client"] = w.client_id
        return 0

    async def end(db: Database) -> int:
        today = utcnow().astimezone(HELSINKI).date()
        async with UnitOfWork(db) as uow:
            await uow.session.execute(
                update(Decision)
                .where(Decision.client_id == ids["client"])
                .values(valid_from=today - timedelta(days=60), valid_to=today - timedelta(days=1))
            )
            await uow.commit()
        return 0

    _run(database_url, seed)
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    runner = CliRunner()
    refused = runner.invoke(main, ["client", "close", str(ids["client"])])
    assert refused.exit_code == 1
    assert "decision in force" in refused.output
    _run(database_url, end)
    done = runner.invoke(main, ["client", "close", str(ids["client"])])
    assert done.exit_code == 0, done.output
    assert "Closed now" in done.output and "2 trusted provider(s)" in done.output
    again = runner.invoke(main, ["client", "close", str(ids["client"])])
    assert again.exit_code == 0 and "Closed earlier" in again.output
    nobody = runner.invoke(main, ["client", "close", str(uuid.uuid4())])
    assert nobody.exit_code == 1 and "No such client" in nobody.output


@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["worker"]])
def test_a_server_with_a_retention_out_of_range_does_not_start(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("WALLET_RETENTION_AUDIT_EVENTS_YEARS", "120")
    out = CliRunner().invoke(main, command)
    assert out.exit_code == 1
    assert "WALLET_RETENTION_AUDIT_EVENTS_YEARS must be between 1 and 50, not 120" in out.output


async def test_one_process_prunes_at_a_time(db: Database) -> None:
    """On PostgreSQL a process that finds another one pruning (the advisory lock taken) skips
    its turn and deletes nothing; SQLite has one process."""
    from sqlalchemy import text

    from wallet_api.scheduler import PRUNE_LOCK_KEY

    await _old_sessions(db, 1)
    if not db.is_postgres:
        pruned = await Scheduler(db).prune_now()
        assert pruned is not None and pruned.total == 1
        return
    async with db.engine.connect() as other:
        await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PRUNE_LOCK_KEY})
        await other.commit()
        assert await Scheduler(db).prune_now() is None
        assert await count(db, WebSession) == 1
        await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PRUNE_LOCK_KEY})
        await other.commit()
    pruned = await Scheduler(db).prune_now()
    assert pruned is not None and pruned.total == 1
