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

from sqlalchemy import text, update
from sqlalchemy.dialects import postgresql, sqlite

from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError, Refusal
from payments.models import RateCounter
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
    dialect = postgresql if db.is_postgres else sqlite
    upsert = dialect.insert(RateCounter).values(key=key, window_start=start, hits=1)
    stmt = upsert.on_conflict_do_update(
        index_elements=[RateCounter.key, RateCounter.window_start],
        set_={"hits": RateCounter.hits + 1},
        where=RateCounter.hits < limit,
    ).returning(RateCounter.hits)
    async with UnitOfWork(db) as uow:
        if db.is_postgres:
            await uow.session.execute(_ASYNC_COMMIT)
        counted = (await uow.session.execute(stmt)).first()
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
            update(RateCounter)
            .where(
                RateCounter.key == attempt.key,
                RateCounter.window_start == attempt.window_start,
                RateCounter.hits > 0,
            )
            .values(hits=RateCounter.hits - 1)
        )
        await uow.commit()
