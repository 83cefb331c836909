"""The built-in scheduler: monthly funding at the start of each Helsinki month.

It runs ``fund_period`` for the current month at start-up, whenever a decision is made, and
every ``interval`` seconds (which catches the month boundary within that interval; funding is
idempotent, so a run with nothing to do moves nothing). On PostgreSQL a session-level advisory
lock makes sure only one of several ``wallet serve`` processes funds at a time.

Settlements (issue 7): on every tick it also settles providers up to the latest scheduled day
that has ended (``WALLET_SETTLEMENT_DAYS``, default "15,last"). That is idempotent, and safe in
several processes at once (each provider is settled under a row lock), so no lock is needed. With
``WALLET_SETTLEMENT_DIR`` set it writes each run's CSV and pain.001 file there.

Statements (issue 7): after a funding run it announces last month's statements
(``issue_statements``): one ``statement.ready`` event per wallet whose month has closed, once
per wallet and month whatever the number of processes or reruns (a notice row per wallet and
month decides). A process stops asking for a month once a run found nothing left to announce.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import text

from payments.budgets.funding import FundingSummary, fund_period
from payments.checkout.requests import expire_requests
from payments.checkout.tokens import purge_tokens
from payments.checkout.visits import expire_holds
from payments.clock import utcnow
from payments.db import Database
from payments.ledger.periods import current_period, previous_period
from payments.people.retention import Pruned, Retention, prune
from payments.reporting.statements import NoticeRun, issue_statements
from wallet_api.metrics import PRUNED

log = logging.getLogger("wallet.scheduler")
FUNDING_LOCK_KEY = 0x57414C4C  # "WALL"
PRUNE_LOCK_KEY = 0x5052554E  # "PRUN"
PRUNE_EVERY = timedelta(days=1)


class Scheduler:
    def __init__(
        self,
        db: Database,
        *,
        interval_s: int = 300,
        expiry_interval_s: int = 30,
        retention: Retention | None = None,
    ) -> None:
        self.db = db
        self.retention = retention or Retention()
        self._pruned_at: datetime | None = None
        self.interval_s = interval_s
        self.expiry_interval_s = expiry_interval_s
        self._task: asyncio.Task[None] | None = None
        self._expiry_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._statements_done: str | None = None  # the last month with nothing left to announce

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
            summary = None
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
            try:
                run = await self.issue_statements_now(funded=summary.period if summary else None)
                if run is not None and run.issued:
                    log.info("statements of %s ready: %d wallets", run.period, run.issued)
            except Exception:
                log.exception("statement notices failed; retrying next interval")
            try:
                await self.settle_now()
            except Exception:
                log.exception("settlement run failed; retrying next interval")
            try:
                if self._pruned_at is None or utcnow() - self._pruned_at >= PRUNE_EVERY:
                    await self.prune_now()
                    self._pruned_at = utcnow()
            except Exception:
                log.exception("retention prune failed; retrying next interval")
            await asyncio.sleep(self.interval_s)

    async def prune_now(self) -> Pruned | None:
        """Prune what has passed its retention period, unless another process is at it."""
        if not self.db.is_postgres:
            return report_pruned(await prune(self.db, self.retention))
        async with self.db.engine.connect() as conn:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PRUNE_LOCK_KEY})
            ).scalar_one()
            await conn.commit()
            if not got:
                return None
            try:
                return report_pruned(await prune(self.db, self.retention))
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PRUNE_LOCK_KEY})
                await conn.commit()

    async def issue_statements_now(self, *, funded: str | None = None) -> NoticeRun | None:
        """Announce last month's statements for wallets whose month has closed. Idempotent.
        ``funded``: the month whose funding run has just completed, so every envelope has
        closed the month before it and this process need not ask again for that one."""
        period = previous_period(funded or current_period())
        if self._statements_done == period:
            return None
        run = await issue_statements(self.db, period)
        if funded:
            self._statements_done = period
        return run

    async def settle_now(self) -> None:
        """Settle up to the latest scheduled settlement day that has ended, if any."""
        from pathlib import Path

        from payments.ledger.periods import HELSINKI
        from payments.marketplace.settlements import (
            Debtor,
            batch_files,
            scheduled_until,
            settle_providers,
        )
        from wallet_api.settings import Settings

        settings = Settings.from_env()
        until = scheduled_until(utcnow().astimezone(HELSINKI).date(), settings.settlement_days)
        if until is None:
            return
        run = await settle_providers(
            self.db, until, minimum_payout_cents=settings.settlement_minimum_payout_cents
        )
        if not run.settled:
            return
        log.info("settled %d providers up to %s", len(run.settled), until)
        if settings.settlement_dir:
            debtor = None
            if settings.settlement_debtor_iban and settings.settlement_debtor_bic:
                debtor = Debtor(
                    settings.settlement_debtor_name or "Hyvinvointialue",
                    settings.settlement_debtor_iban,
                    settings.settlement_debtor_bic,
                )
            # The bank pays on the Helsinki day, not the server clock's.
            today = utcnow().astimezone(HELSINKI).date()
            files = await batch_files(self.db, run, debtor, today)
            out = Path(settings.settlement_dir)

            def write() -> None:
                out.mkdir(parents=True, exist_ok=True)
                for name, content in files.files.items():
                    (out / name).write_bytes(content)

            await asyncio.to_thread(write)

    async def expire_now(self) -> tuple[int, int]:
        """Expire due payment requests and visit holds: (requests, holds) released."""
        expired_requests = await expire_requests(self.db)
        expired_holds = await expire_holds(self.db)
        await purge_tokens(self.db)
        return expired_requests, expired_holds

    async def _run_expiry(self) -> None:
        while True:
            try:
                reqs, held = await self.expire_now()
                if reqs or held:
                    log.info("expired %d payment requests, %d holds", reqs, held)
            except Exception:
                log.exception("expiry run failed; retrying next interval")
            await asyncio.sleep(self.expiry_interval_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wallet-scheduler")
        if self._expiry_task is None:
            self._expiry_task = asyncio.create_task(self._run_expiry(), name="wallet-expiry")

    async def stop(self) -> None:
        for task in (self._task, self._expiry_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._expiry_task = None


def report_pruned(pruned: Pruned) -> Pruned:
    """Log and count what a prune deleted (the scheduler's and ``wallet prune``'s)."""
    for kind, n in pruned.counts.items():
        if n and not pruned.dry_run:
            PRUNED.labels(str(kind)).inc(n)
    if pruned.total:
        log.info(
            "%s %d rows past retention: %s",
            "would prune" if pruned.dry_run else "pruned",
            pruned.total,
            ", ".join(f"{kind} {n}" for kind, n in pruned.counts.items() if n),
        )
    return pruned
