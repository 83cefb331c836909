"""Fixtures for the live-events tests: a funded county, keys for every role, a live server."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from notifications.hub import Hub
from notifications.push import generate_vapid_keys
from payments.budgets import catalogue
from payments.db import Database
from payments.people.mandates import grant_mandate
from tests.factories import World, api_key_for, seed_world
from tests.notifications.helpers import People, mark_all_delivered, serve, settings_for
from tests.notifications.push_service import Device, PushService
from tests.support.databases import need

REDIS = os.environ.get("WALLET_TEST_REDIS", "redis://127.0.0.1:6379")


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    """The in-process channels (no Redis), started and stopped around the test."""
    h = Hub()
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
def redis_url() -> str:
    """A Redis database of its own for the test (1 to 15). Pub/sub ignores the database
    number, but the hub's channel names include it: a database per test keeps parallel runs
    apart."""
    try:
        redis.Redis.from_url(REDIS, socket_timeout=2).ping()
    except redis.RedisError:
        need(f"Redis is not reachable at {REDIS}")
    n = 1 + int(uuid.uuid4().int % 15)
    return f"{REDIS}/{n}"


@pytest.fixture
async def world(db: Database) -> World:
    w = await seed_world(db)
    # Funding wrote its events; start each test from a delivered outbox.
    await mark_all_delivered(db)
    return w


@pytest.fixture
async def people(db: Database, world: World) -> People:
    carer = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Matti"
    )
    await grant_mandate(db, carer_id=carer, client_id=world.client_id, scopes=("view", "approve"))
    other = await catalogue.create_client(
        db, organizer_id=world.organizer_id, first_name="Eino", last_name="K", phone="0405550000"
    )
    other_org = await catalogue.create_organizer(db, slug=f"x-{uuid.uuid4().hex[:6]}", name="X")
    foreign_cm = await catalogue.create_principal(
        db, organizer_id=other_org, role="case_manager", display_name="Other"
    )
    return People(
        provider=await api_key_for(db, world.provider_principal),
        other_provider=await api_key_for(db, world.other_provider_principal),
        client=await api_key_for(db, world.client_principal),
        case_manager=await api_key_for(db, world.case_manager),
        carer=await api_key_for(db, carer),
        carer_id=carer,
        other_client=await api_key_for(db, other.principal_id),
        other_wallet=other.wallet_id,
        foreign_case_manager=await api_key_for(db, foreign_cm),
    )


@pytest.fixture
async def live(db: Database, world: World) -> AsyncIterator[str]:
    """The real app on a loopback port, sharing the test's engine (memory channels)."""
    async with serve(settings_for(db.url, sse_heartbeat_s=0.5), db=db) as base:
        yield base


@pytest.fixture
def vapid() -> tuple[str, str]:
    return generate_vapid_keys()


@pytest.fixture
def device() -> Device:
    return Device()


@pytest.fixture
def push_service(device: Device, vapid: tuple[str, str]) -> Iterator[PushService]:
    """A loopback push service (see ``push_service.py``)."""
    svc = PushService(device, vapid[1])
    yield svc
    svc.close()
