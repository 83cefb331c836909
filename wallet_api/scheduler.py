"""The built-in scheduler: monthly funding at the start of each Helsinki month.

It runs ``fund_period`` for the current month at start-up, whenever a decision is made, and
every ``interval`` seconds (which catches the month boundary within that interval; funding is
idempotent, so a run with nothing to do moves nothing). On PostgreSQL a session-level advisory
lock makes sure only one of several ``wallet serve`` processes funds at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text

from payments.db import Database
from payments.funding import FundingSummary, fund_period
from payments.periods import current_period

log = logging.getLogger("wallet.scheduler")
FUNDING_LOCK_KEY = 0x57414C4C  # "WALL"


class Scheduler:
    def __init__(self, db: Database, *, interval_s: int = 300) -> None:
        self.db = db
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def fund_now(self) -> FundingSummary | None:
        """Fund the current month now, unless another process is already doing it."""
        async with self._lock:
            period = current_period()
            if not self.db.is_postgres:
                return await fund_period(self.db, period)
            async with self.db.engine.connect() as conn:
                got = (
                    await conn.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": FUNDING_LOCK_KEY}
                    )
                ).scalar_one()
                await conn.commit()
                if not got:
                    return None
                try:
                    return await fund_period(self.db, period)
                finally:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": FUNDING_LOCK_KEY}
                    )
                    await conn.commit()

    async def _run(self) -> None:
        while True:
            try:
                summary = await self.fund_now()
                if summary and (summary.funded_count or summary.expired_count):
                    log.info(
                        "funded %s: %d envelopes, %d expired",
                        summary.period,
                        summary.funded_count,
                        summary.expired_count,
                    )
            except Exception:
                log.exception("funding run failed; retrying next interval")
            await asyncio.sleep(self.interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wallet-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
