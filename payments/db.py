"""Database engines for the two supported back ends.

SQLite (default): WAL, ``synchronous=FULL`` for money, foreign keys on, and every write
transaction opened with ``BEGIN IMMEDIATE`` so two writers queue for the lock instead of
deadlocking on lock upgrade. Inside one process writers also queue on an asyncio lock, so they
never spin in SQLite's busy handler. Read-only units of work use a deferred ``BEGIN``.

PostgreSQL: asyncpg, READ COMMITTED; correctness comes from conditional updates, unique
constraints and row locks, never from isolation level tricks.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///wallet.sqlite3"
READONLY = "wallet_readonly"


def database_url_from_env() -> str:
    return normalise_url(os.environ.get("WALLET_DATABASE_URL", DEFAULT_SQLITE_URL))


def normalise_url(url: str) -> str:
    """Accept the URLs people write (``postgresql://``, ``sqlite:///``) and pick async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://"):
        url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


_T = TypeVar("_T")


@dataclass
class Database:
    """An engine plus what the unit of work needs to know about it."""

    engine: AsyncEngine
    url: str
    write_lock: asyncio.Lock | None = field(default=None)
    # What a process keeps per database beside the engine (the charge pipeline, the kept
    # listings), by name: :meth:`extension`.
    extensions: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def extension(self, name: str, make: Callable[[], _T]) -> _T:
        """What this process keeps for this database under ``name``, made by ``make`` on
        first use."""
        found = self.extensions.get(name)
        if found is None:
            found = self.extensions[name] = make()
        return cast(_T, found)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    async def dispose(self) -> None:
        await self.engine.dispose()


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_database(url: str | None = None, *, echo: bool = False, pool_size: int = 20) -> Database:
    """Create the engine for ``url`` (or ``WALLET_DATABASE_URL``, or the SQLite default)."""
    url = normalise_url(url) if url else database_url_from_env()
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, pool_size=8, max_overflow=8)
        _install_sqlite_hooks(engine)
        return Database(engine=engine, url=url, write_lock=asyncio.Lock())
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=False,
        connect_args={
            # JIT compiling pays off for long analytic queries only; the funding job's batch
            # statements are estimated high enough to trigger it and spent 100-300 ms each
            # compiling (EXPLAIN ANALYZE, docs/performance.md).
            # random_page_cost 1.1, not 4: the wallet's tables are read from memory or SSD,
            # where an index probe costs about what a sequential page does. At 4 the planner
            # read the whole clients table to hash-join a charge batch's 24 numbers (0.9 ms,
            # and growing with the county) rather than probe its (organizer, phone) key 24
            # times (0.4 ms; auto_explain under bench.run, docs/performance.md).
            "server_settings": {
                "application_name": "wallet",
                "jit": "off",
                "random_page_cost": "1.1",
            },
            # Prepared statements per connection (SQLAlchemy's default is 100): the app has
            # more distinct statements than that across its routes, and a miss costs a
            # Parse/Describe round trip.
            "prepared_statement_cache_size": 500,
        },
    )
    return Database(engine=engine, url=url)
