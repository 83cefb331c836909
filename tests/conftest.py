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


def _in_browser_suite(item: pytest.Item) -> bool:
    return "/tests/e2e/" in item.path.as_posix()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser suite last. pytest-playwright's session-scoped sync API keeps an event
    loop running in the main thread, and every async test after it would fail to start.

    ``make test`` runs everything else on two pytest-xdist workers, then the browser suite in
    a second, serial pass, as one run would: one server, in this order (its tests build on
    what earlier ones left on the server)."""
    items.sort(key=_in_browser_suite)


_browser_suite_started = False  # in this process: under pytest-xdist, on this worker


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail by name, with the cause, a test that comes after the browser suite in the same
    process: it would otherwise fail inside pytest-asyncio or ``asyncio.run`` with "cannot be
    called from a running event loop". That happens when a scheduler reorders the tests
    (``pytest -n 2 --dist loadfile`` or ``loadgroup`` send the biggest files or groups first)."""
    global _browser_suite_started
    if _in_browser_suite(item):
        _browser_suite_started = True
    elif _browser_suite_started:
        pytest.fail(
            "this test runs after the browser suite in the same process, where Playwright's "
            "event loop is still running; keep tests/e2e last, or in a pass of its own as "
            "make test does",
            pytrace=False,
        )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Under pytest-xdist the controller gets every worker's reports through this hook too, so
    # the check below, in the controller's pytest_sessionfinish, sees the skips of all workers.
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


@pytest.fixture
async def pg_db(postgres_url: str) -> AsyncIterator[Database]:
    """The PostgreSQL database alone, emptied, for what only PostgreSQL has (lifting a
    constraint, notifications); not parametrized, so nothing is skipped on SQLite."""
    database = create_database(postgres_url)
    await truncate(database)
    yield database
    await database.dispose()
