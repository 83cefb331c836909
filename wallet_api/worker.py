"""``wallet worker``: the background work of a deployment, without HTTP.

It runs the scheduler (monthly funding, statement notices, settlements, expiry of payment
requests and holds) and the outbox dispatcher (live events, Web Push, webhooks) until SIGTERM or
SIGINT, then stops them and exits 0. Web processes then run with ``wallet serve --web-only``
(or ``WALLET_SCHEDULER=0`` and ``WALLET_DISPATCHER=0``), so they only answer requests.

The worker runs both whatever ``WALLET_SCHEDULER`` and ``WALLET_DISPATCHER`` say, so one
environment file can serve every process. With the dispatcher in another process than the
streams, events reach the web processes' streams through Redis: set ``WALLET_REDIS_URL``
(without it, a stream gets the worker's events only when it reconnects and replays).
Several workers may run on PostgreSQL (funding takes an advisory lock, the dispatcher takes
turns, settlements lock each provider).

With ``WALLET_WORKER_METRICS_PORT`` set, the worker also answers ``GET /metrics`` on
127.0.0.1 and that port (``wallet_api.metrics.serve_worker_metrics``, the web's token rule:
``WALLET_METRICS_TOKEN``): the pushes it sent, the outbox lag and the last runs. Its log lines
follow ``WALLET_LOG_FORMAT`` as the web processes' do (:func:`configure_logging`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.config
import os
import signal

from payments.db import create_database
from wallet_api import metrics
from wallet_api.live.lifecycle import start_live, stop_live
from wallet_api.scheduler import Scheduler
from wallet_api.settings import Settings

log = logging.getLogger("wallet.worker")
METRICS_PORT = "WALLET_WORKER_METRICS_PORT"


def metrics_port_from_env() -> int | None:
    """``WALLET_WORKER_METRICS_PORT``: a TCP port, or None (unset, empty or 0: no endpoint)."""
    text = os.environ.get(METRICS_PORT, "").strip()
    if text in ("", "0"):
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{METRICS_PORT} must be a port number (1-65535) or 0: {text!r}")
    return int(text)


def configure_logging(settings: Settings) -> None:
    """The web processes' logging (``WALLET_LOG_FORMAT``: text or json lines on stderr) for the
    whole worker process: its own loggers, and the libraries' through the root logger."""
    from wallet_api.logs import logging_config

    config = logging_config(settings.log_format)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": config.filters,
            "formatters": config.formatters,
            "handlers": {"wallet": config.handlers["wallet"]},
            "loggers": config.loggers,
            "root": {"level": "INFO", "handlers": ["wallet"]},
        }
    )


async def run_worker(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    metrics_port: int | None = None,
    served: bool = False,
) -> None:
    """Run until ``stop`` is set, or until SIGTERM or SIGINT. ``metrics_port`` (default:
    ``WALLET_WORKER_METRICS_PORT``) serves ``GET /metrics`` on 127.0.0.1. ``served``: this is
    the process's work for its life (``wallet worker``), whose heap is frozen once started, as a
    server's is (``wallet_api.app.freeze_heap``)."""
    from wallet_api.app import _bounded, ensure_schema, freeze_heap

    port = metrics_port if metrics_port is not None else metrics_port_from_env()

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    db = create_database(settings.database_url)
    scheduler: Scheduler | None = None
    live = None
    endpoint: asyncio.Server | None = None
    try:
        await ensure_schema(db)
        if not settings.redis_url:
            log.warning(
                "WALLET_REDIS_URL is not set: web processes' streams get the events this worker "
                "delivers only when they reconnect"
            )
        # Every event the worker delivers is committed by a web process: woken by each commit
        # (PostgreSQL's notification), not by the next poll a second later.
        live = await start_live(settings, db, dispatcher_on=True, listen=True)
        metrics.watch_senders([live.push])
        if port is not None:
            endpoint = await metrics.serve_worker_metrics(port, settings.metrics_token, db)
            log.info(
                "worker metrics on http://127.0.0.1:%d/metrics%s",
                port,
                "" if settings.metrics_token else " (404 until WALLET_METRICS_TOKEN is set)",
            )
        scheduler = Scheduler(
            db, interval_s=settings.scheduler_interval_s, retention=settings.retention()
        )
        scheduler.start()
        if served:
            freeze_heap()
        log.info("worker running: scheduler and dispatcher on; SIGTERM stops it")
        await stop.wait()
        log.info("worker stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        if endpoint is not None:
            endpoint.close()
            await _bounded(endpoint.wait_closed(), "metrics endpoint")
        if scheduler is not None:
            await _bounded(scheduler.stop(), "scheduler")
        if live is not None:
            metrics.forget_senders([live.push])
            await _bounded(stop_live(live), "live events")
        await _bounded(db.dispose(), "database pool")
    log.info("worker stopped")
