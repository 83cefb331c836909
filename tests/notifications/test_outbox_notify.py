"""The worker's dispatcher is woken by other processes' commits (PostgreSQL): deployed, every
event it delivers was committed by a web process, and it saw them only at its next poll, up to a
second later (docs/performance.md, "The deployed shape"). Migration 0023's trigger notifies
``wallet_outbox`` when a transaction that added outbox rows commits; a ``listen``ing dispatcher
wakes on it. The row here is written over a connection of its own, as another process would,
without the SQLAlchemy session whose commit hook wakes this process's dispatcher."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from notifications import events as ev
from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from payments.db import Database
from payments.outbox import CHARGE_CAPTURED
from tests.factories import World, seed_world
from tests.notifications.helpers import mark_all_delivered
from tests.support.money import by_wallet, charged, cleaning

# A copy of the last event, as another process's transaction would add one.
ANOTHER_PROCESS_ADDS = """
INSERT INTO outbox (organizer_id, wallet_id, provider_id, type, transfer_id, payload, created_at)
SELECT organizer_id, wallet_id, provider_id, type, transfer_id, payload, now()
FROM outbox ORDER BY id DESC LIMIT 1
RETURNING id
"""


async def _a_delivered_charge(db: Database) -> World:
    """A county with one charge, its event delivered: the row the other process copies."""
    world = await seed_world(db)
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    await mark_all_delivered(db)
    return world


async def _heard_within(hub: Hub, world: World, seconds: float, write: str) -> list[ev.Event]:
    heard: list[ev.Event] = []

    async def listen() -> None:
        async with hub.subscribe([ev.wallet_channel(world.wallet_id)]) as sub:
            async for raw in sub.iter_events():
                heard.append(ev.Event.decode(raw))

    listening = asyncio.create_task(listen())
    try:
        await asyncio.sleep(0.2)  # subscribed, and the dispatcher's LISTEN in place
        conn = await asyncpg.connect(write)
        try:
            added = await conn.fetchval(ANOTHER_PROCESS_ADDS)
        finally:
            await conn.close()
        for _ in range(int(seconds * 50)):
            if heard:
                break
            await asyncio.sleep(0.02)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    assert all(e.id == added for e in heard), (added, heard)
    return heard


async def test_a_listening_dispatcher_delivers_another_processs_commit_at_once(
    pg_db: Database, hub: Hub, postgres_url: str
) -> None:
    world = await _a_delivered_charge(pg_db)
    # A poll this slow would fail the test: only the notification can wake it in time.
    listening = Dispatcher(pg_db, hub, poll_s=60, listen=True)
    listening.start()
    try:
        await asyncio.sleep(0.3)  # its first (empty) round
        heard = await _heard_within(hub, world, 3.0, postgres_url)
    finally:
        await listening.stop()
    assert [e.type for e in heard] == [CHARGE_CAPTURED]


async def test_a_dispatcher_that_does_not_listen_waits_for_its_poll(
    pg_db: Database, hub: Hub, postgres_url: str
) -> None:
    """The web processes' dispatchers (when they run one) are woken by their own commits: they
    do not listen, so a commit elsewhere waits for their poll, as before."""
    world = await _a_delivered_charge(pg_db)
    polling = Dispatcher(pg_db, hub, poll_s=60)
    polling.start()
    try:
        await asyncio.sleep(0.3)
        assert await _heard_within(hub, world, 1.0, postgres_url) == []
    finally:
        await polling.stop()


async def test_a_listener_that_loses_its_connection_listens_again(
    pg_db: Database, hub: Hub, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its connection ended by the server (a restart, an administrator): it connects again and
    the next commit elsewhere wakes the dispatcher as before."""
    import notifications.dispatcher as dispatcher

    monkeypatch.setattr(dispatcher, "RELISTEN_S", 0.1)
    world = await _a_delivered_charge(pg_db)
    listening = Dispatcher(pg_db, hub, poll_s=60, listen=True)
    listening.start()
    try:
        await asyncio.sleep(0.3)
        admin = await asyncpg.connect(postgres_url)
        try:
            ended = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'wallet-outbox-listener' AND datname = current_database()"
            )
        finally:
            await admin.close()
        assert ended == 1
        await asyncio.sleep(0.5)  # connected and listening again
        heard = await _heard_within(hub, world, 3.0, postgres_url)
    finally:
        await listening.stop()
    assert [e.type for e in heard] == [CHARGE_CAPTURED]
