"""Rate limits shared by every process: attempts per key in fixed windows, in the database.

An attempt is checked and counted in **one atomic statement** before it runs (an upsert that
adds one only while the window's count is below the limit). Reading the count first and
writing it after the attempt let parallel attempts all read the same count: 40 parallel wrong
invite codes got 13 tries against a limit of 10. Limits that count only failures (wrong codes,
failed sign-ins) take the attempt first as well and give it back when it succeeded, so a
success never uses up the allowance and a guess can never run uncounted.

The counters live in the database rather than in one process's memory, so the limit holds
across every ``wallet serve`` process. They hold no money and no personal data: the keys name
a provider, an organizer or a client address, never what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, literal, select, text, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError, Refusal
from payments.models import RateCounter
from payments.rows import BatchRows, PerEngine
from payments.uow import UnitOfWork

# The longest window any limit uses: the retention prune (payments.people.retention) keeps a
# counter at least this long.
MAX_WINDOW_S = 24 * 60 * 60
# A counter lost in a crash forgives a few attempts: its commit need not wait for the disk.
_ASYNC_COMMIT = text("SET LOCAL synchronous_commit TO OFF")


class RateLimited(DomainError):
    kind = Refusal.TOO_MANY
    slug = "too-many-requests"
    title = "Too many attempts; wait a moment and try again"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after
        self.extra = {"retry_after": retry_after}


@dataclass(frozen=True)
class Attempt:
    """One counted attempt: give it back (:func:`give_back`) if it turns out not to count."""

    key: str
    window_start: int


def _window(now: datetime, window_s: int) -> tuple[int, int]:
    """The window's start (epoch seconds) and the seconds left in it."""
    epoch = int(now.timestamp())
    start = epoch - epoch % window_s
    return start, start + window_s - epoch


async def take_attempt(db: Database, key: str, *, limit: int, window_s: int) -> Attempt:
    """Count one attempt for ``key``, or refuse (429, not counted) when the window's ``limit``
    is used up. Check and count are one statement, so parallel attempts cannot overshoot."""
    if not 0 < window_s <= MAX_WINDOW_S:
        raise ValueError(f"a rate window lasts 1..{MAX_WINDOW_S} s")
    start, left = _window(utcnow(), window_s)
    if limit <= 0:
        raise RateLimited(max(1, left))
    async with UnitOfWork(db) as uow:
        if db.is_postgres:
            await uow.session.execute(_ASYNC_COMMIT)
        counted = (
            await uow.session.execute(
                _TAKE["postgresql" if db.is_postgres else "sqlite"],
                {"p_key": key, "p_start": start, "p_limit": limit},
            )
        ).first()
        await uow.commit()
    if counted is None:
        raise RateLimited(max(1, left))
    return Attempt(key, start)


async def give_back(db: Database, attempt: Attempt) -> None:
    """Uncount an attempt that succeeded (limits that count failures only)."""
    async with UnitOfWork(db) as uow:
        if db.is_postgres:
            await uow.session.execute(_ASYNC_COMMIT)
        await uow.session.execute(
            _GIVE_BACK, {"p_key": attempt.key, "p_start": attempt.window_start}
        )
        await uow.commit()


# Built once (bound parameters), as the charge path's statements are: every phone number a
# provider types runs both (payments/ledger/transfers.py says why building per call cost).
_RC = cast(Table, RateCounter.__table__)


def _take_statement(dialect: Any) -> Any:
    upsert = dialect.insert(_RC).values(
        key=bindparam("p_key"), window_start=bindparam("p_start"), hits=1
    )
    return upsert.on_conflict_do_update(
        index_elements=[_RC.c.key, _RC.c.window_start],
        set_={"hits": _RC.c.hits + 1},
        where=_RC.c.hits < bindparam("p_limit"),
    ).returning(_RC.c.hits)


_TAKE = {"postgresql": _take_statement(postgresql), "sqlite": _take_statement(sqlite)}
_GIVE_BACK = (
    update(_RC)
    .where(
        _RC.c.key == bindparam("p_key"),
        _RC.c.window_start == bindparam("p_start"),
        _RC.c.hits > 0,
    )
    .values(hits=_RC.c.hits - 1)
)


async def hold_windows(
    session: AsyncSession, keys: list[str], *, window_s: int, now: datetime
) -> dict[str, tuple[int, int]]:
    """Lock the current window's counter of each key, in key order, in the caller's
    transaction (made at 0 if missing): {key: (hits so far, seconds left in the window)}.

    For a caller that counts attempts inside its own transaction (the charge pipeline's phone
    lookups): while it holds the rows, nobody else can count on them, so the attempts it lets
    through and then counts can never together pass a limit, as with :func:`take_attempt`."""
    if not keys:
        return {}
    start, left = _window(now, window_s)
    held, stmt = _HOLD.of(session)
    params = {**held.bind_each(sorted(keys)), "p_start": start}
    rows = (await session.execute(stmt, params)).all()
    return {str(key): (int(hits), left) for key, hits in rows}


async def read_windows(
    session: AsyncSession, keys: list[str], *, window_s: int, now: datetime
) -> dict[str, tuple[int, int]]:
    """The current window's count of each key, read without a lock (0 where nobody counted
    yet): {key: (hits so far, seconds left in the window)}. For a caller that admits attempts
    by it and counts them later under :func:`hold_windows`, which decides."""
    if not keys:
        return {}
    start, left = _window(now, window_s)
    asked, stmt = _READ.of(session)
    params = {**asked.bind_each(sorted(keys)), "p_start": start}
    hits = {str(key): int(n) for key, n in (await session.execute(stmt, params)).all()}
    return {key: (hits.get(key, 0), left) for key in keys}


async def count_in(
    session: AsyncSession, counts: dict[str, int], *, window_s: int, now: datetime
) -> None:
    """Add ``counts`` to the keys' current windows, whose rows :func:`hold_windows` holds."""
    start, _ = _window(now, window_s)
    if counts:
        await session.execute(
            _ADD,
            [{"p_key": key, "p_start": start, "p_n": n} for key, n in sorted(counts.items())],
        )


_ADD = (
    update(_RC)
    .where(_RC.c.key == bindparam("p_key"), _RC.c.window_start == bindparam("p_start"))
    .values(hits=_RC.c.hits + bindparam("p_n"))
)


def _hold_statement(dialect: Dialect) -> tuple[BatchRows, Any]:
    """hold_windows' upsert: one ``INSERT … SELECT`` from the keys (payments.rows), in key
    order, one text whatever their number. Not an executemany with ``RETURNING``: with rows to
    return in the parameters' order and no sentinel column, SQLAlchemy sends that as one
    statement, one round trip, per key."""
    keys = BatchRows(dialect, "keys", key=String())
    rows = (
        select(keys.table.c.key, bindparam("p_start", type_=_RC.c.window_start.type), literal(0))
        # SQLite: an INSERT … SELECT with an upsert clause needs a WHERE (its parser's rule).
        .where(true())
        .order_by(keys.table.c.key)
    )
    insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    return keys, (
        insert(_RC)
        .from_select(["key", "window_start", "hits"], rows)
        .on_conflict_do_update(
            index_elements=[_RC.c.key, _RC.c.window_start], set_={"hits": _RC.c.hits}
        )
        .returning(_RC.c.key, _RC.c.hits)
    )


def _read_statement(dialect: Dialect) -> tuple[BatchRows, Any]:
    keys = BatchRows(dialect, "keys", key=String())
    return keys, select(_RC.c.key, _RC.c.hits).where(
        keys.has(_RC.c.key), _RC.c.window_start == bindparam("p_start")
    )


_HOLD = PerEngine(_hold_statement)
_READ = PerEngine(_read_statement)
