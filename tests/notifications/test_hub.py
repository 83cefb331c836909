"""The hub on Redis (notifications.hub): what one process publishes, another's subscriber hears,
in the order published; a deployment on another Redis database hears nothing of it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import msgspec
import pytest
from litestar.channels import Subscriber
from redis.asyncio import Redis

from notifications import events as ev
from notifications.hub import Hub

pytestmark = pytest.mark.redis


def _event(i: int, wallet_id: uuid.UUID, organizer_id: uuid.UUID) -> ev.Event:
    return ev.Event(
        id=i,
        type="charge.captured",
        organizer_id=organizer_id,
        wallet_id=wallet_id,
        provider_id=None,
        created_at=datetime(2026, 12, 6, tzinfo=UTC),
        data={"n": i},
    )


@asynccontextmanager
async def _hub(url: str) -> AsyncIterator[Hub]:
    hub = Hub(url)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


@asynccontextmanager
async def _listening(hub: Hub, channel: str) -> AsyncIterator[Subscriber]:
    """``hub`` subscribed to ``channel``, once Redis counts the subscriber (the SUBSCRIBE has
    landed, so nothing published after this is missed)."""
    assert hub.redis_url is not None
    client = Redis.from_url(hub.redis_url)
    try:
        async with hub.subscribe([channel]) as sub:
            (name,) = hub._named([channel])
            for _ in range(200):
                ((_, count),) = await client.pubsub_numsub(name)
                if count:
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError(f"nobody subscribed to {name}")
            yield sub
    finally:
        await client.aclose()


async def _heard(sub: Subscriber, n: int) -> list[int]:
    """The ids of the next ``n`` events ``sub`` hears, in order (the caller bounds the wait)."""
    out: list[int] = []
    events = sub.iter_events()
    while len(out) < n:
        out.append(msgspec.json.decode(await anext(events))["id"])
    return out


async def test_a_rounds_events_reach_another_process_in_order(redis_url: str):
    """``publish_all`` (a dispatcher's round, one round trip): a subscriber on another hub (as
    in another process) hears every event once, in the order published, on each channel."""
    organizer, mine, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [_event(i, mine if i % 3 else other, organizer) for i in range(1, 11)]
    async with _hub(redis_url) as publisher, _hub(redis_url) as listener:
        async with (
            _listening(listener, ev.wallet_channel(mine)) as wallet_sub,
            _listening(listener, ev.organizer_channel(organizer)) as county_sub,
        ):
            await publisher.publish_all(events)
            async with asyncio.timeout(5):
                heard = await _heard(wallet_sub, 7)
                assert heard == [e.id for e in events if e.wallet_id == mine]
                assert await _heard(county_sub, 10) == list(range(1, 11))


async def test_deployments_on_other_redis_databases_hear_nothing(redis_url: str):
    """Pub/sub ignores Redis's database number; the hub's channel names carry it. A county
    on database n publishing to a wallet's channel is not heard on database m, though the
    channel is the same."""
    base, n = redis_url.rsplit("/", 1)
    elsewhere = f"{base}/{int(n) % 15 + 1}"
    organizer, wallet = uuid.uuid4(), uuid.uuid4()
    async with _hub(redis_url) as here, _hub(elsewhere) as there:
        async with (
            _listening(here, ev.wallet_channel(wallet)) as ours,
            _listening(there, ev.wallet_channel(wallet)) as theirs,
        ):
            await there.publish_all([_event(1, wallet, organizer), _event(2, wallet, organizer)])
            await here.publish(_event(3, wallet, organizer))
            async with asyncio.timeout(5):
                assert await _heard(ours, 1) == [3]
                assert await _heard(theirs, 2) == [1, 2]
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await _heard(ours, 1)
