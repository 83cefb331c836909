"""Helpers for the live-events tests: a real server on loopback, an SSE reader, the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select, update

from payments.clock import utcnow
from payments.db import Database
from payments.models import Mandate, OutboxEvent
from payments.uow import UnitOfWork
from wallet_api.app import create_app
from wallet_api.settings import Settings


def settings_for(url: str, **extra: Any) -> Settings:
    base: dict[str, Any] = {
        "database_url": url,
        "redis_url": None,
        "scheduler": False,
        "scheduler_interval_s": 300,
        "max_body_bytes": 64 * 1024,
    }
    base.update(extra)
    return Settings(**base)


def push_settings(url: str, vapid: tuple[str, str], **extra: Any) -> Settings:
    """Settings with Web Push on (the given VAPID pair, the test push service's subject)."""
    from tests.notifications.push_service import SUBJECT

    return settings_for(
        url, vapid_private_key=vapid[0], vapid_public_key=vapid[1], vapid_subject=SUBJECT, **extra
    )


@contextlib.asynccontextmanager
async def serve(settings: Settings, db: Database | None = None) -> AsyncIterator[str]:
    """Run the real app under uvicorn on a free loopback port in this event loop."""
    app = create_app(settings, db=db)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@dataclass
class People:
    provider: str
    other_provider: str
    client: str
    case_manager: str
    carer: str
    carer_id: uuid.UUID
    other_client: str
    other_wallet: uuid.UUID
    foreign_case_manager: str


@dataclass
class SSE:
    id: int | None
    event: str | None
    data: Any


class SSEReader:
    """Reads one ``GET /api/events`` stream in a background task; ``next()`` returns the next
    event (comments are collected apart). A timeout never cancels the read itself, so the
    stream survives ``nothing_within``."""

    def __init__(self, client: httpx.AsyncClient, response: httpx.Response) -> None:
        self.client = client
        self.response = response
        self.comments: list[str] = []
        self.connected = asyncio.Event()
        self._queue: asyncio.Queue[SSE | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if fields.get("data"):  # as browsers do: no data, no event
                        await self._queue.put(
                            SSE(
                                int(fields["id"]) if "id" in fields else None,
                                fields.get("event"),
                                json.loads(fields["data"]),
                            )
                        )
                    fields = {}
                elif line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    if "connected" in line:
                        self.connected.set()
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value
        except httpx.HTTPError:
            pass
        finally:
            await self._queue.put(None)

    async def next(self, within: float = 5.0) -> SSE:
        item = await asyncio.wait_for(self._queue.get(), within)
        if item is None:
            await self._queue.put(None)
            raise EOFError("stream ended")
        return item

    async def nothing_within(self, seconds: float) -> bool:
        """True if no event arrives within ``seconds``; False if one does or the stream ended
        (an ended stream is checked apart, with :meth:`ended`)."""
        try:
            await self.next(seconds)
        except TimeoutError:
            return True
        except EOFError:
            return True
        return False

    async def ended(self, seconds: float = 2.0) -> bool:
        try:
            await self.next(seconds)
        except EOFError:
            return True
        except TimeoutError:
            return False
        return False

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def sse(base: str, key: str, *, last_event_id: int | None = None) -> AsyncIterator[SSEReader]:
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None)) as client,
        client.stream("GET", "/api/events", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SSEReader(client, response)
        # The first comment says the subscription is in place; events after it are not missed.
        await asyncio.wait_for(reader.connected.wait(), 5)
        try:
            yield reader
        finally:
            await reader.close()


async def outbox(db: Database) -> list[tuple[int, str, bool]]:
    """(id, type, delivered) of every outbox row."""
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.delivered_at).order_by(
                    OutboxEvent.id
                )
            )
        ).all()
    return [(int(i), str(t), d is not None) for i, t, d in rows]


async def mark_all_delivered(db: Database) -> None:
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.delivered_at.is_(None))
            .values(delivered_at=utcnow())
        )
        await uow.commit()


async def revoke(db: Database, carer_id: uuid.UUID) -> None:
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Mandate).where(Mandate.carer_id == carer_id).values(revoked_at=utcnow())
        )
        await uow.commit()
