"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is at ``WALLET_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432``).
Outside CI an unreachable server skips its tests with the reason; in CI (``CI`` set) any skip
fails the run, so the PostgreSQL, Redis and browser suites can never silently not run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from payments.db import Database, create_database
from tests.support.databases import need, pg_ready, truncate, worker_suffix
from wallet_api.migrate import upgrade

PG_BASE = os.environ.get("WALLET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
IN_CI = bool(os.environ.get("CI"))
# WALLET_TEST_ENGINES=sqlite narrows every database test to one engine (make mutation uses it).
ENGINES = os.environ.get("WALLET_TEST_ENGINES", "sqlite,postgres").split(",")

_skips: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser suite last. pytest-playwright's session-scoped sync API keeps an event
    loop running in the main thread, and every async test after it would fail to start."""
    items.sort(key=lambda item: "/tests/e2e/" in item.path.as_posix())


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skips.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if IN_CI and _skips:
        print(f"\nCI: {len(_skips)} test(s) skipped; in CI nothing may be skipped:")
        for nodeid in _skips[:20]:
            print("  ", nodeid)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "wallet.sqlite3"

    async def build() -> None:
        db = create_database(f"sqlite+aiosqlite:///{path}")
        await upgrade(db)
        await db.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    if not asyncio.run(pg_ready()):
        need(f"PostgreSQL is not reachable at {PG_BASE}")
    name = f"wallet_test_{worker_suffix()}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_BASE + "/postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        db = create_database(f"{PG_BASE}/{name}")
        await upgrade(db)
        await db.dispose()

    async def drop() -> None:
        conn = await asyncpg.connect(PG_BASE + "/postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(create())
    yield f"{PG_BASE}/{name}"
    asyncio.run(drop())


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(engine_name: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty, migrated database of the parametrized engine."""
    if engine_name == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "wallet.sqlite3"
        shutil.copy(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = create_database(database_url)
    if database.is_postgres:
        await truncate(database)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
def no_leaked_settings() -> Iterator[None]:
    """A test leaves the ``WALLET_*`` environment as it found it: servers that later tests
    start inherit it (a leaked ``WALLET_DISPATCHER=0`` once stopped every live event of the
    browser suite). Use monkeypatch, which restores what it changes."""
    before = {k: v for k, v in os.environ.items() if k.startswith("WALLET_")}
    yield
    after = {k: v for k, v in os.environ.items() if k.startswith("WALLET_")}
    assert after == before, f"the test changed WALLET_* settings: {before} -> {after}"
