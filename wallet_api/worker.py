"""``wallet worker``: the background work of a deployment, without HTTP.

It runs the scheduler (monthly funding, statement notices, settlements, expiry of payment
requests and holds) and the outbox dispatcher (live events and Web Push) until SIGTERM or
SIGINT, then stops them and exits 0. Web processes then run with ``wallet serve --web-only``
(or ``WALLET_SCHEDULER=0`` and ``WALLET_DISPATCHER=0``), so they only answer requests.

The worker runs both whatever ``WALLET_SCHEDULER`` and ``WALLET_DISPATCHER`` say, so one
environment file can serve every process. With the dispatcher in another process than the
streams, events reach the web processes' streams through Redis: set ``WALLET_REDIS_URL``
(without it, a stream gets the worker's events only when it reconnects and replays).
Several workers may run on PostgreSQL (funding takes an advisory lock, the dispatcher takes
turns, settlements lock each provider).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from payments.db import create_database
from wallet_api.live.lifecycle import start_live, stop_live
from wallet_api.scheduler import Scheduler
from wallet_api.settings import Settings

log = logging.getLogger("wallet.worker")


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set, or until SIGTERM or SIGINT."""
    from wallet_api.app import _bounded, ensure_schema

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    db = create_database(settings.database_url)
    scheduler: Scheduler | None = None
    live = None
    try:
        await ensure_schema(db)
        if not settings.redis_url:
            log.warning(
                "WALLET_REDIS_URL is not set: web processes' streams get the events this worker "
                "delivers only when they reconnect"
            )
        live = await start_live(settings, db, dispatcher_on=True)
        scheduler = Scheduler(db, interval_s=settings.scheduler_interval_s)
        scheduler.start()
        log.info("worker running: scheduler and dispatcher on; SIGTERM stops it")
        await stop.wait()
        log.info("worker stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if scheduler is not None:
            await _bounded(scheduler.stop(), "scheduler")
        if live is not None:
            await _bounded(stop_live(live), "live events")
        await _bounded(db.dispose(), "database pool")
    log.info("worker stopped")
