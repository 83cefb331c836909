"""Delivery of live events: the hub, dispatcher and push sender that ``start`` brings up
after the database is ready (``stop`` takes them down)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from litestar import Litestar

from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from notifications.outbound import OutboundPolicy
from notifications.push import PushSender, VapidConfig
from payments.db import Database, create_database

log = logging.getLogger("wallet.live")


@dataclass
class Live:
    hub: Hub
    dispatcher: Dispatcher
    push: PushSender | None
    heartbeat_s: float
    own_db: Database | None = None


async def start(app: Litestar) -> None:
    """Start what delivers outbox events (channels, dispatcher, Web Push) once the database is
    ready."""
    settings = app.state.settings
    hub = Hub(settings.redis_url)
    await hub.start()
    sender = None
    if settings.vapid_private_key and settings.vapid_public_key:
        sender = PushSender(
            app.state.db,
            VapidConfig(
                settings.vapid_private_key, settings.vapid_public_key, settings.vapid_subject
            ),
            policy=OutboundPolicy(allow_loopback=settings.outbound_allow_loopback),
        )
        sender.start()
    db: Database = app.state.db
    # On PostgreSQL the dispatcher gets its own small pool: under load, requests hold every
    # connection of the shared pool and delivery would queue behind them. SQLite keeps one
    # Database, whose in-process write lock must be shared by all writers.
    own_db = create_database(db.url, pool_size=2) if db.is_postgres else None
    dispatcher = Dispatcher(own_db or db, hub, push=sender)
    if settings.dispatcher:
        dispatcher.start()
    app.state.live = Live(hub, dispatcher, sender, settings.sse_heartbeat_s, own_db)
    log.info(
        "live events: channels on %s, dispatcher %s, web push %s",
        "redis" if settings.redis_url else "memory",
        "on" if settings.dispatcher else "off",
        "on" if sender else "off",
    )


async def stop(app: Litestar) -> None:
    """Stop it again on shutdown (streams end, pending pushes are dropped)."""
    live: Live | None = getattr(app.state, "live", None)
    if live is None:
        return
    await live.dispatcher.stop()
    if live.push is not None:
        await live.push.stop()
    await live.hub.stop()
    if live.own_db is not None:
        await live.own_db.dispose()
