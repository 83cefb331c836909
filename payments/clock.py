"""The one clock of the domain: every use case asks :func:`utcnow` for the time.

Stored times are UTC (``models.base.UtcDateTime``); months and days are Helsinki's
(:mod:`payments.ledger.periods`). Tests move the clock with pytest's
``monkeypatch.setattr(clock, "source", ...)``, and every module sees the same time, because
they all call this function rather than keeping a copy of the system clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def system_time() -> datetime:
    return datetime.now(UTC)


source: Callable[[], datetime] = system_time


def utcnow(now: datetime | None = None) -> datetime:
    """Now, timezone-aware UTC; or, for a caller that was given an instant (``now``), that
    instant in UTC (SQLite stores times without their zone, so every instant the code writes
    or compares must be in one zone)."""
    return source() if now is None else now.astimezone(UTC)
