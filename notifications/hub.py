"""The fan-out of delivered events to open streams, through Litestar Channels.

In one process the memory backend is enough. With ``WALLET_REDIS_URL`` set, events go through
Redis pub/sub, so an event dispatched by one ``wallet serve`` process reaches streams held by
any other. Redis pub/sub channels ignore the database number, so every channel's name starts
with a prefix that includes it (:func:`channel_prefix`): deployments (and test runs) on
different Redis databases never hear each other. (Litestar's pub/sub backend takes a
``key_prefix`` but publishes and subscribes under the bare names; the hub names them itself.)

A dispatcher's round publishes its events with :meth:`Hub.publish_all`: on Redis one round trip
for the round (a transaction of the ``PUBLISH`` commands that the backend's script runs for one
event), where one event at a time cost a round trip each, and about a quarter of the worker's
CPU in ``bench.run --worker``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from urllib.parse import urlparse

from litestar.channels import ChannelsPlugin, Subscriber
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend

from notifications.events import Event


def channel_prefix(redis_url: str) -> str:
    db = urlparse(redis_url).path.strip("/") or "0"
    return f"wallet.db{db}"


class Hub:
    """Publish events to channels and subscribe streams to them."""

    def __init__(self, redis_url: str | None = None) -> None:
        self.redis_url = redis_url
        self._redis = None
        # Every channel's name on Redis starts with this (the module says why).
        self._prefix = f"{channel_prefix(redis_url)}:" if redis_url else ""
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url)
            backend: MemoryChannelsBackend | RedisChannelsPubSubBackend = (
                RedisChannelsPubSubBackend(redis=self._redis, key_prefix=channel_prefix(redis_url))
            )
        else:
            backend = MemoryChannelsBackend()
        # A slow or stuck reader must not hold unbounded memory: keep its newest events and let
        # the app resync from Last-Event-ID if it missed some.
        self.channels = ChannelsPlugin(
            backend=backend,
            arbitrary_channels_allowed=True,
            subscriber_max_backlog=1000,
            subscriber_backlog_strategy="dropleft",
        )
        self.started = False

    async def start(self) -> None:
        await self.channels.__aenter__()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            self.started = False
            await self.channels.__aexit__(None, None, None)
        if self._redis is not None:
            await self._redis.aclose()

    async def ping(self) -> bool:
        """Whether Redis answers (always true on the memory backend)."""
        if self._redis is None:
            return True
        return bool(await self._redis.ping())

    def _named(self, channels: Iterable[str]) -> list[str]:
        """The channels' names on the backend, each once."""
        return list(dict.fromkeys(self._prefix + channel for channel in channels))

    async def publish(self, event: Event) -> None:
        """Publish and wait until the backend has it, so the dispatcher may mark it delivered."""
        if self._redis is not None:
            await self.publish_all([event])
            return
        await self.channels.wait_published(event.encode(), self._named(event.channels()))

    async def publish_all(self, events: list[Event]) -> None:
        """:meth:`publish` each of ``events``, in order. On Redis in one round trip: a
        ``MULTI``/``EXEC`` of the ``PUBLISH`` commands (what the channels backend's script
        runs for one event), so a subscriber hears them in this order and no other publisher's
        message comes between an event's channels. In memory, one :meth:`publish` each."""
        if self._redis is None:
            for event in events:
                await self.publish(event)
            return
        if not events:
            return
        pipe = self._redis.pipeline(transaction=True)
        for event in events:
            data = event.encode()
            for channel in self._named(event.channels()):
                pipe.publish(channel, data)
        await pipe.execute()

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscriber]:
        async with self.channels.start_subscription(self._named(channels)) as sub:
            yield sub
