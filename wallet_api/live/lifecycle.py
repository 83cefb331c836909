"""Delivery of live events: the hub, dispatcher, push sender and webhook sender that ``start``
brings up after the database is ready (``stop`` takes them down), with the SMS sender when SMS
is set up, and the process's one client
for requests the server sends out (``OutboundClient``: an aiohttp session under the outbound
policy, used for every Web Push and webhook), opened with them and closed after them. The
webhook sender runs where the dispatcher runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from litestar import Litestar

from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from notifications.outbound import OutboundClient, OutboundPolicy
from notifications.push import PushSender, VapidConfig
from notifications.sms import SmsConfig, SmsSender
from notifications.sms_gateway import gateway_from_settings
from notifications.webhooks import WebhookSender
from payments.db import Database, create_database
from wallet_api.settings import Settings

log = logging.getLogger("wallet.live")


@dataclass
class Live:
    hub: Hub
    dispatcher: Dispatcher
    push: PushSender | None
    heartbeat_s: float
    outbound: OutboundClient
    own_db: Database | None = None
    webhooks: WebhookSender | None = None
    sms: SmsSender | None = None
    sms_config: SmsConfig | None = None


def sms_config_of(settings: Settings) -> SmsConfig | None:
    """The SMS feature's configuration, or None while it is off (no token or no secret)."""
    if not (settings.sms_gateway_token and settings.sms_inbound_secret):
        return None
    return SmsConfig(
        gateway=gateway_from_settings(
            settings.sms_gateway_url, settings.sms_gateway_token, settings.sms_sender
        ),
        inbound_secret=settings.sms_inbound_secret,
        monthly_cap=settings.sms_monthly_cap,
        reply_limit=settings.sms_reply_limit,
    )


async def start(app: Litestar) -> None:
    """Start what delivers outbox events (channels, dispatcher, Web Push) once the database is
    ready."""
    app.state.live = await start_live(app.state.settings, app.state.db)


async def start_live(
    settings: Settings, db: Database, *, dispatcher_on: bool | None = None, listen: bool = False
) -> Live:
    """The hub, dispatcher and push sender for ``db``: for the web app, and for
    ``wallet worker`` (which has no app). ``dispatcher_on`` overrides ``settings.dispatcher``;
    ``listen``: the dispatcher is also woken by other processes' commits (PostgreSQL's
    notification, notifications.dispatcher), as the worker's must be."""
    run_dispatcher = settings.dispatcher if dispatcher_on is None else dispatcher_on
    hub = Hub(settings.redis_url)
    await hub.start()
    # One per process (web or worker), shared by every push: connections are reused.
    outbound = OutboundClient(OutboundPolicy(allow_loopback=settings.outbound_allow_loopback))
    sender = None
    if settings.vapid_private_key and settings.vapid_public_key:
        sender = PushSender(
            db,
            VapidConfig(
                settings.vapid_private_key, settings.vapid_public_key, settings.vapid_subject
            ),
            http=outbound,
        )
        sender.start()
    # On PostgreSQL the dispatcher gets its own small pool: under load, requests hold every
    # connection of the shared pool and delivery would queue behind them. SQLite keeps one
    # Database, whose in-process write lock must be shared by all writers.
    own_db = create_database(db.url, pool_size=2) if db.is_postgres else None
    sms_config = sms_config_of(settings)
    dispatcher = Dispatcher(own_db or db, hub, push=sender, sms_config=sms_config, listen=listen)
    hooks = None
    texts = None
    if run_dispatcher:
        dispatcher.start()
        hooks = WebhookSender(own_db or db, http=outbound)
        hooks.start()
        if sms_config is not None:
            texts = SmsSender(own_db or db, sms_config, outbound)
            texts.start()
    log.info(
        "live events: channels on %s, dispatcher %s, web push %s, webhooks %s, sms %s",
        "redis" if settings.redis_url else "memory",
        "on" if run_dispatcher else "off",
        "on" if sender else "off",
        "on" if hooks else "off",
        "on" if texts else "off",
    )
    return Live(
        hub,
        dispatcher,
        sender,
        settings.sse_heartbeat_s,
        outbound,
        own_db,
        hooks,
        texts,
        sms_config,
    )


async def stop(app: Litestar) -> None:
    """Stop it again on shutdown (streams end, pending pushes are dropped)."""
    live: Live | None = getattr(app.state, "live", None)
    if live is not None:
        await stop_live(live)


async def stop_live(live: Live) -> None:
    """Stop what :func:`start_live` started."""
    await live.dispatcher.stop()
    if live.push is not None:
        await live.push.stop()
    if live.webhooks is not None:
        await live.webhooks.stop()
    if live.sms is not None:
        await live.sms.stop()
    await live.outbound.close()
    await live.hub.stop()
    if live.own_db is not None:
        await live.own_db.dispose()
