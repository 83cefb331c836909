"""The fan-out of delivered events to open streams, through Litestar Channels.

In one process the memory backend is enough. With ``WALLET_REDIS_URL`` set, events go through
Redis pub/sub, so an event dispatched by one ``wallet serve`` process reaches streams held by
any other. Redis pub/sub channels ignore the database number, so the channel prefix includes
it: deployments (and test runs) on different Redis databases never hear each other.
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

    async def publish(self, event: Event) -> None:
        """Publish and wait until the backend has it, so the dispatcher may mark it delivered."""
        await self.channels.wait_published(event.encode(), event.channels())

    @contextlib.asynccontextmanager
    async def subscribe(self, channels: Iterable[str]) -> AsyncIterator[Subscriber]:
        async with self.channels.start_subscription(list(channels)) as sub:
            yield sub
