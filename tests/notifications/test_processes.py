"""Real ``wallet serve`` processes on loopback, sharing PostgreSQL and Redis: an event
committed through one process reaches a stream held by another, exactly once; an event
committed by a process killed before delivering it is delivered after a restart."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from payments.outbox import CHARGE_CAPTURED
from tests.notifications.helpers import outbox, sse
from tests.servers import Server
from tests.support.money import post_charge

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

CLEANING = {
    "phone": "040 123 4567",
    "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
}


@pytest.fixture
def engine_name() -> str:
    return "postgres"  # several processes share one database: PostgreSQL only


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


@contextlib.asynccontextmanager
async def _started(
    servers: list[Server], url: str, redis_url: str, *, dispatcher: bool
) -> AsyncIterator[Server]:
    s = Server(
        url,
        {
            "WALLET_REDIS_URL": redis_url,
            "WALLET_SSE_HEARTBEAT": "1",
            "WALLET_DISPATCHER": "1" if dispatcher else "0",
        },
    )
    servers.append(s)
    s.start()
    await s.ready()
    yield s


async def _post_charge(base: str, key: str) -> str:
    async with httpx.AsyncClient(base_url=base) as c:
        r = await post_charge(c, key, CLEANING)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_charge_through_a_reaches_stream_on_b_exactly_once(
    db, world, people, redis_url, servers
):
    async with (
        _started(servers, db.url, redis_url, dispatcher=True) as a,
        _started(servers, db.url, redis_url, dispatcher=True) as b,
        sse(b.base, people.client) as client,
        sse(a.base, people.carer) as carer,
    ):
        # Charges through both processes at once; both dispatchers run (SKIP LOCKED).
        charge_ids = await asyncio.gather(
            *[_post_charge((a if i % 2 else b).base, people.provider) for i in range(6)]
        )
        ids = [i for i, t, _ in await outbox(db) if t == CHARGE_CAPTURED]
        assert len(ids) == 6  # 90 EUR left: no low-balance alert yet
        for reader in (client, carer):
            got = [await reader.next(10) for _ in ids]
            assert [g.id for g in got] == ids  # every one, once, in order
            assert {g.data["data"]["charge_id"] for g in got} == set(charge_ids)
            assert await reader.nothing_within(1.0)


async def test_killed_before_delivery_then_restarted_delivers(
    db, world, people, redis_url, servers
):
    async with (
        # A commits but does not deliver (its dispatcher is off); B only holds the stream.
        _started(servers, db.url, redis_url, dispatcher=False) as a,
        _started(servers, db.url, redis_url, dispatcher=False) as b,
        sse(b.base, people.client) as client,
    ):
        charge_id = await _post_charge(a.base, people.provider)
        a.kill()  # SIGKILL: the event is committed, undelivered
        ((event_id, _, delivered),) = [r for r in await outbox(db) if r[1] == CHARGE_CAPTURED]
        assert not delivered
        assert await client.nothing_within(1.0)
        async with _started(servers, db.url, redis_url, dispatcher=True):
            got = await client.next(10)
            assert got.id == event_id and got.data["data"]["charge_id"] == charge_id
            assert await client.nothing_within(1.0)
        assert all(d for *_, d in await outbox(db))
