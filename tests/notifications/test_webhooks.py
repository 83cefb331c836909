"""Webhooks (issue 18): enqueued once per endpoint with the outbox mark, filtered by type and
organizer, sent signed (Standard Webhooks) to a real loopback receiver that checks every
signature two ways, retried with backoff, given up, disabled when the outbound policy refuses
the address at send time, and replayed under the same ``webhook-id``."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from notifications import webhooks
from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.outbound import OutboundClient, OutboundPolicy
from payments.clock import utcnow
from payments.db import Database
from payments.models import AuditEvent
from payments.outbox import CHARGE_CAPTURED, REFUND_CREATED
from payments.people.retention import Kind, prune
from payments.uow import UnitOfWork
from tests.factories import World, seed_world
from tests.notifications.helpers import mark_all_delivered
from tests.notifications.test_dispatcher import CrashingHub
from tests.notifications.webhook_receiver import Receiver
from tests.support.money import by_wallet, charged, cleaning, refund

LOOPBACK = OutboundPolicy(allow_loopback=True)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def http() -> AsyncIterator[OutboundClient]:
    client = OutboundClient(LOOPBACK, timeout_s=5)
    yield client
    await client.close()


async def endpoint(
    db: Database, organizer_id: uuid.UUID, url: str, *types: str
) -> tuple[uuid.UUID, str]:
    made, secret = await webhooks.create_endpoint(
        db,
        organizer_id=organizer_id,
        actor_id=None,
        url=url,
        event_types=types or (CHARGE_CAPTURED,),
        policy=LOOPBACK,
    )
    return made.id, secret


async def deliveries(db: Database, endpoint_id: uuid.UUID | None = None) -> list[WebhookDelivery]:
    async with UnitOfWork(db, readonly=True) as uow:
        q = select(WebhookDelivery).order_by(WebhookDelivery.created_at)
        if endpoint_id is not None:
            q = q.where(WebhookDelivery.endpoint_id == endpoint_id)
        return list((await uow.session.execute(q)).scalars().all())


async def make_due(db: Database) -> None:
    """Move every pending delivery's next attempt to now (instead of waiting for it)."""
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == "pending")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()


def sender(db: Database, http: OutboundClient, **kw: Any) -> webhooks.WebhookSender:
    return webhooks.WebhookSender(db, http=http, rnd=random.Random(7), **kw)


# --- enqueue ---------------------------------------------------------------------------------


async def test_enqueued_once_per_endpoint_even_when_the_round_is_retried(
    db: Database, world: World
) -> None:
    one, _ = await endpoint(db, world.organizer_id, "https://hooks.example.com/a")
    two, _ = await endpoint(db, world.organizer_id, "https://hooks.example.org/b")
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    # A round that dies after publishing some events rolls back: nothing is enqueued.
    with pytest.raises(ConnectionError):
        await Dispatcher(db, CrashingHub(survive=0)).run_once()
    assert await deliveries(db) == []
    hub = Hub()
    await hub.start()
    try:
        assert await Dispatcher(db, hub).run_once() == 1
        assert await Dispatcher(db, hub).run_once() == 0
    finally:
        await hub.stop()
    got = await deliveries(db)
    assert sorted(d.endpoint_id for d in got) == sorted([one, two])
    assert {d.event_type for d in got} == {CHARGE_CAPTURED}
    assert len({d.event_id for d in got}) == 1
    # The same events enqueued again (a round run twice over the same rows): the unique key
    # keeps one delivery per endpoint and event.
    from notifications import events as ev
    from payments.models import OutboxEvent

    async with UnitOfWork(db) as uow:
        rows = (
            await uow.session.execute(ev.outbox_select().where(OutboxEvent.id == got[0].event_id))
        ).all()
        events = await ev.to_events(uow.session, rows)
        assert await webhooks.enqueue(uow.session, events, utcnow()) == 2  # attempted
        assert await webhooks.enqueue(uow.session, events, utcnow()) == 2
        await uow.commit()
    assert len(await deliveries(db)) == 2


async def test_types_organizers_and_disabled_endpoints_filter(
    db: Database, world: World, hub: Hub
) -> None:
    charges, _ = await endpoint(db, world.organizer_id, "https://a.example.com/h", CHARGE_CAPTURED)
    refunds, _ = await endpoint(db, world.organizer_id, "https://b.example.com/h", REFUND_CREATED)
    off, _ = await endpoint(db, world.organizer_id, "https://c.example.com/h", CHARGE_CAPTURED)
    await webhooks.update_endpoint(
        db, organizer_id=world.organizer_id, actor_id=None, endpoint_id=off, enabled=False
    )
    other = await seed_world(db, phone="040 765 4321")
    await mark_all_delivered(db)
    foreign, _ = await endpoint(
        db, other.organizer_id, "https://d.example.com/h", CHARGE_CAPTURED, REFUND_CREATED
    )
    charge_id = await charged(db, world, cleaning(1), customer=by_wallet(world))
    await refund(db, world, charge_id, 1000)
    await Dispatcher(db, hub).run_once()
    assert [d.event_type for d in await deliveries(db, charges)] == [CHARGE_CAPTURED]
    assert [d.event_type for d in await deliveries(db, refunds)] == [REFUND_CREATED]
    assert await deliveries(db, off) == []
    # Another organizer's events never reach this organizer's endpoint, nor the reverse.
    assert await deliveries(db, foreign) == []
    await charged(db, other, cleaning(1), customer=by_wallet(other))
    await Dispatcher(db, hub).run_once()
    assert [d.organizer_id for d in await deliveries(db, foreign)] == [other.organizer_id]
    assert len(await deliveries(db, charges)) == 1


# --- the schedule ----------------------------------------------------------------------------


def test_backoff_schedule_with_jitter_and_giving_up() -> None:
    rnd = random.Random(1)
    for attempts, base in enumerate(webhooks.BACKOFF_S, start=1):
        for _ in range(50):
            delay = webhooks.next_delay(attempts, rnd)
            assert delay is not None and base * 0.8 <= delay <= base * 1.2
    assert webhooks.BACKOFF_S == (5, 30, 120, 900, 3600, 21_600, 43_200)
    assert webhooks.MAX_ATTEMPTS == 8
    assert webhooks.next_delay(webhooks.MAX_ATTEMPTS, rnd) is None
    assert webhooks.next_delay(0, rnd) is None
    spread = {round(webhooks.next_delay(1, rnd) or 0, 3) for _ in range(20)}
    assert len(spread) > 10  # jittered, not one fixed instant


# --- sending to a real receiver --------------------------------------------------------------


async def test_a_charge_is_delivered_signed_retried_after_500_and_replayed(
    db: Database, world: World, hub: Hub, receiver: Receiver, http: OutboundClient
) -> None:
    hook, secret = await endpoint(db, world.organizer_id, receiver.url)
    receiver.secret = secret
    assert secret.startswith("whsec_") and len(secret) >= 6 + 32
    receiver.statuses = [500]
    charge_id = await charged(db, world, cleaning(1), customer=by_wallet(world))
    await Dispatcher(db, hub).run_once()
    s = sender(db, http)
    start = utcnow()
    assert await s.run_once() == 1
    [first] = await deliveries(db, hook)
    assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
    assert first.last_error == "HTTP 500"
    # The first retry waits about 5 s (±20 %).
    assert first.next_attempt_at is not None
    wait = (first.next_attempt_at - start).total_seconds()
    assert 3.9 <= wait <= 6.1, wait
    assert await s.run_once() == 0  # not due yet
    await make_due(db)
    assert await s.run_once() == 1
    [done] = await deliveries(db, hook)
    assert (done.status, done.attempts, done.last_status_code) == ("succeeded", 2, 200)
    assert done.delivered_at is not None and done.last_error is None

    assert receiver.forged == []
    assert [r.answered for r in receiver.received] == [500, 200]
    a, b = receiver.received
    assert a.headers["webhook-id"] == b.headers["webhook-id"] == str(done.event_id)
    assert a.body == b.body  # the same bytes on every attempt
    assert a.headers["content-type"] == "application/json"
    assert b.payload["type"] == CHARGE_CAPTURED
    assert b.payload["data"]["charge_id"] == str(charge_id)
    assert b.payload["data"]["event_id"] == done.event_id
    assert b.payload["data"]["wallet_id"] == str(world.wallet_id)
    assert b.payload["timestamp"].endswith("+00:00")

    # Replay: sent again, same webhook-id and body, a valid new signature.
    again = await webhooks.replay(
        db, organizer_id=world.organizer_id, actor_id=None, delivery_id=done.id
    )
    assert (again.status, again.attempts, again.webhook_id) == ("pending", 0, str(done.event_id))
    assert await s.run_once() == 1
    assert receiver.forged == []
    assert len(receiver.received) == 3
    assert receiver.received[2].headers["webhook-id"] == str(done.event_id)
    assert receiver.received[2].body == a.body
    [replayed] = await deliveries(db, hook)
    assert (replayed.status, replayed.attempts) == ("succeeded", 1)


async def test_gives_up_after_the_last_attempt(
    db: Database, world: World, hub: Hub, receiver: Receiver, http: OutboundClient
) -> None:
    hook, receiver.secret = await endpoint(db, world.organizer_id, receiver.url)
    receiver.statuses = [503, 429, 502]
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    await Dispatcher(db, hub).run_once()
    s = sender(db, http, schedule=(0, 0))  # three attempts in all, no wait between them
    for _ in range(3):
        assert await s.run_once() == 1
    assert await s.run_once() == 0
    [gone] = await deliveries(db, hook)
    assert (gone.status, gone.attempts, gone.last_status_code) == ("failed", 3, 502)
    assert gone.last_error == "HTTP 502; gave up after 3 attempts"
    assert [r.answered for r in receiver.received] == [503, 429, 502]


async def test_a_client_error_fails_at_once_and_a_network_error_is_retried(
    db: Database, world: World, hub: Hub, receiver: Receiver, http: OutboundClient
) -> None:
    hook, receiver.secret = await endpoint(db, world.organizer_id, receiver.url)
    # Nothing listens on the closed port: a network error, retried.
    await receiver.stop()
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    await Dispatcher(db, hub).run_once()
    s = sender(db, http)
    assert await s.run_once() == 1
    [d] = await deliveries(db, hook)
    assert (d.status, d.attempts, d.last_status_code) == ("pending", 1, None)
    assert d.last_error is not None and d.last_error.startswith("network:")
    # A 4xx is the receiver saying no: failed at once (a replay can send it again).
    await receiver.start()
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(WebhookEndpoint).values(url=receiver.url))
        await uow.commit()
    receiver.statuses = [410]
    await make_due(db)
    assert await s.run_once() == 1
    [d] = await deliveries(db, hook)
    assert (d.status, d.attempts, d.last_status_code) == ("failed", 2, 410)


async def test_a_claimed_delivery_is_not_claimed_again_during_its_lease(
    db: Database, world: World, hub: Hub
) -> None:
    await endpoint(db, world.organizer_id, "https://hooks.example.com/x")
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    await Dispatcher(db, hub).run_once()
    s = webhooks.WebhookSender(db)
    claimed = await s._claim()
    assert len(claimed) == 1
    assert await s._claim() == []  # another sender (or this one) waits for the lease


async def test_an_address_the_policy_refuses_at_send_time_disables_the_endpoint(
    db: Database, world: World, hub: Hub, receiver: Receiver
) -> None:
    # Stored while loopback was allowed; sent by a process whose policy refuses it (as a name
    # that later resolves inside a network would be).
    hook, receiver.secret = await endpoint(db, world.organizer_id, receiver.url)
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    await Dispatcher(db, hub).run_once()
    strict = OutboundClient(OutboundPolicy(allow_loopback=False), timeout_s=5)
    try:
        s = sender(db, strict, batch=1)
        assert await s.run_once() == 1
        assert await s.run_once() == 0  # the endpoint is off: its other delivery waits
    finally:
        await strict.close()
    assert receiver.received == []
    # Both were enqueued in one round (one created_at): tell them by status.
    first, second = sorted(await deliveries(db, hook), key=lambda d: d.status)
    assert first.status == "failed" and "outbound policy" in (first.last_error or "")
    assert second.status == "pending"
    [ep] = await webhooks.list_endpoints(db, world.organizer_id)
    assert ep.enabled is False
    assert ep.disabled_reason == "127.0.0.1: only https is allowed"
    async with UnitOfWork(db, readonly=True) as uow:
        actions = (
            (
                await uow.session.execute(
                    select(AuditEvent.action).where(AuditEvent.organizer_id == world.organizer_id)
                )
            )
            .scalars()
            .all()
        )
    assert "webhook.disabled" in actions
    # A replay to a disabled endpoint is refused until it is turned on again.
    with pytest.raises(webhooks.WebhookEndpointDisabled):
        await webhooks.replay(
            db, organizer_id=world.organizer_id, actor_id=None, delivery_id=first.id
        )
    on = await webhooks.update_endpoint(
        db, organizer_id=world.organizer_id, actor_id=None, endpoint_id=hook, enabled=True
    )
    assert on.enabled and on.disabled_reason is None


async def test_deleting_an_endpoint_stops_its_deliveries(
    db: Database, world: World, hub: Hub
) -> None:
    hook, _ = await endpoint(db, world.organizer_id, "https://hooks.example.com/x")
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    await Dispatcher(db, hub).run_once()
    assert len(await deliveries(db, hook)) == 1
    await webhooks.delete_endpoint(
        db, organizer_id=world.organizer_id, actor_id=None, endpoint_id=hook
    )
    assert await deliveries(db) == []
    async with UnitOfWork(db, readonly=True) as uow:
        n = (
            await uow.session.execute(select(func.count()).select_from(WebhookEndpoint))
        ).scalar_one()
    assert n == 0


async def test_the_migration_matches_the_webhook_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from payments.models import Base

    async with db.engine.connect() as conn:
        found = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )
    mine = [d for d in found if "webhook_" in repr(d)]
    assert mine == []


async def test_finished_deliveries_are_pruned_after_thirty_days(db: Database, world: World) -> None:
    hook, _ = await endpoint(db, world.organizer_id, "https://hooks.example.com/x")
    made = [
        await webhooks.ping(db, organizer_id=world.organizer_id, actor_id=None, endpoint_id=hook)
        for _ in range(4)
    ]
    old = utcnow() - timedelta(days=31)
    async with UnitOfWork(db) as uow:
        for d, status in zip(made, ("succeeded", "failed", "pending", "succeeded"), strict=True):
            await uow.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == d.id)
                .values(status=status, created_at=old if d is not made[3] else utcnow())
            )
        await uow.commit()
    assert (await prune(db)).counts[Kind.WEBHOOK_DELIVERIES] == 2
    left = {d.id for d in await deliveries(db)}
    assert left == {made[2].id, made[3].id}  # the old pending one is still owed


async def test_the_app_sends_a_charge_to_an_endpoint_its_admin_added(
    db: Database, world: World, receiver: Receiver
) -> None:
    """Wired as deployed: the app's own dispatcher and webhook sender (lifecycle), an endpoint
    added through the API by an admin, a charge through the HTTP charge route."""
    import asyncio

    import httpx

    from payments.models import Principal
    from tests.factories import api_key_for
    from tests.notifications.helpers import serve, settings_for

    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Principal).where(Principal.id == world.case_manager).values(admin=True)
        )
        await uow.commit()
    admin = {"Authorization": f"Bearer {await api_key_for(db, world.case_manager)}"}
    provider = {"Authorization": f"Bearer {await api_key_for(db, world.provider_principal)}"}
    settings = settings_for(db.url, outbound_allow_loopback=True)
    async with serve(settings, db=db) as base, httpx.AsyncClient(base_url=base) as http:
        r = await http.post(
            "/api/webhooks",
            json={"url": receiver.url, "event_types": [CHARGE_CAPTURED]},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        receiver.secret = r.json()["secret"]
        r = await http.post(
            "/api/charges",
            json={
                "wallet_id": str(world.wallet_id),
                "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
            },
            headers={**provider, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert r.status_code == 201, r.text
        charge_id = r.json()["id"]
        await asyncio.wait_for(receiver.arrived.wait(), 10)
    assert receiver.forged == []
    [got] = receiver.received
    assert got.payload["type"] == CHARGE_CAPTURED
    assert got.payload["data"]["charge_id"] == charge_id
    assert got.payload["data"]["total_cents"] == 3500
    [d] = await deliveries(db)
    assert got.headers["webhook-id"] == str(d.event_id)
