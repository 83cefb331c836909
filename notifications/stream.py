"""One person's live event stream: what they may see, replay after ``Last-Event-ID``, then
live events from the channels with heartbeats.

Authorization is decided per event, not only at connect: a carer's mandate is read again for
every event of a wallet, so a revoked mandate stops the flow at the next event. A stream whose
set of visible wallets changed ends itself; the browser's EventSource reconnects (with
``Last-Event-ID``) and gets a stream for what it may see now.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from litestar.response import ServerSentEventMessage
from sqlalchemy import ColumnElement, false, select

from notifications import events as ev
from notifications.hub import Hub
from notifications.rules import carer_wallets
from payments.db import Database
from payments.models import OutboxEvent, Wallet
from payments.outbox import BALANCE_LOW
from payments.people.access import Actor
from payments.people.mandates import mandate_scopes
from payments.uow import UnitOfWork

REPLAY_PAGE = 500
# Beyond this many missed events the app should reload its state instead of replaying.
REPLAY_MAX = 10_000
CARER_REFRESH_S = 60.0
STOP = "stop"


@dataclass
class Access:
    """What one actor may see of the event flow."""

    db: Database
    actor: Actor
    wallets: set[uuid.UUID] = field(default_factory=set)

    @classmethod
    async def load(cls, db: Database, actor: Actor) -> Access:
        access = cls(db, actor)
        access.wallets = await access.current_wallets()
        return access

    async def current_wallets(self) -> set[uuid.UUID]:
        a = self.actor
        if a.role not in ("client", "carer"):
            return set()
        async with UnitOfWork(self.db, readonly=True) as uow:
            if a.role == "carer":
                return await carer_wallets(uow.session, a.principal_id)
            rows = await uow.session.execute(
                select(Wallet.id).where(Wallet.client_id == a.client_id)
            )
            return set(rows.scalars().all())

    def channels(self) -> list[str]:
        a = self.actor
        if a.role == "provider" and a.provider_id is not None:
            return [ev.provider_channel(a.provider_id)]
        if a.role == "case_manager":
            return [ev.organizer_channel(a.organizer_id)]
        return sorted(ev.wallet_channel(w) for w in self.wallets)

    def clause(self) -> ColumnElement[bool]:
        """The replay filter: the rows this actor's channels would have carried."""
        a = self.actor
        if a.role == "provider":
            return OutboxEvent.provider_id == a.provider_id if a.provider_id else false()
        if a.role == "case_manager":
            return OutboxEvent.organizer_id == a.organizer_id
        return OutboxEvent.wallet_id.in_(self.wallets) if self.wallets else false()

    def shows(self, e: ev.Event) -> bool:
        """The checks that need no database: channel membership and personal events."""
        a = self.actor
        if e.type == BALANCE_LOW and e.data.get("principal_id") != str(a.principal_id):
            return False  # a low-balance alert follows its person's own threshold
        if a.role == "provider":
            return a.provider_id is not None and e.provider_id == a.provider_id
        if a.role == "case_manager":
            return e.organizer_id == a.organizer_id
        return e.wallet_id is not None and e.wallet_id in self.wallets

    async def allows(self, e: ev.Event) -> bool | str:
        """True, False (skip it), or STOP (what this person may see has changed)."""
        if not self.shows(e):
            return False
        if self.actor.role == "carer" and e.wallet_id is not None:
            scopes = await mandate_scopes(self.db, self.actor.principal_id, e.wallet_id)
            if "view" not in scopes:
                return STOP
        return True


def message(e: ev.Event, actor: Actor) -> ServerSentEventMessage:
    return ServerSentEventMessage(
        data=e.for_client(provider_view=actor.role == "provider"), event=e.type, id=e.id
    )


async def replay(db: Database, access: Access, after: int) -> AsyncIterator[ev.Event]:
    """Committed events after ``after`` that the actor may see, oldest first, page by page."""
    sent = 0
    while sent < REPLAY_MAX:
        async with UnitOfWork(db, readonly=True) as uow:
            rows = (
                await uow.session.execute(
                    ev.outbox_select()
                    .where(OutboxEvent.id > after, access.clause())
                    .limit(REPLAY_PAGE)
                )
            ).all()
            events = await ev.to_events(uow.session, rows)
        for e in events:
            yield e
        sent += len(events)
        if len(events) < REPLAY_PAGE:
            return
        after = events[-1].id


class _Seen:
    """Ids already sent on this stream (bounded): replay and live overlap, and the outbox is
    at-least-once."""

    def __init__(self, size: int = 2048) -> None:
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self._size = size

    def __contains__(self, event_id: int) -> bool:
        return event_id in self._ids

    def add(self, event_id: int) -> None:
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())


async def event_stream(
    db: Database,
    hub: Hub,
    actor: Actor,
    *,
    last_event_id: int | None,
    heartbeat_s: float = 15.0,
) -> AsyncIterator[ServerSentEventMessage]:
    """The SSE messages for ``actor``: replay after ``last_event_id``, then live, forever."""
    access = await Access.load(db, actor)
    seen = _Seen()
    # Subscribe before replaying, so nothing committed in between is missed; duplicates of the
    # replay that then arrive live are dropped by id.
    async with hub.subscribe(access.channels()) as sub:
        yield ServerSentEventMessage(comment="connected", data=None, retry=3000)
        if last_event_id is not None:
            async for e in replay(db, access, last_event_id):
                if e.id not in seen and access.shows(e):
                    seen.add(e.id)
                    yield message(e, actor)
        events = sub.iter_events()
        pending: asyncio.Future[Any] | None = None
        refreshed = time.monotonic()
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=heartbeat_s)
                if not done:
                    yield ServerSentEventMessage(comment="keep-alive", data=None)
                    if actor.role == "carer" and time.monotonic() - refreshed > CARER_REFRESH_S:
                        refreshed = time.monotonic()
                        if await access.current_wallets() != access.wallets:
                            return
                    continue
                try:
                    raw = pending.result()
                except StopAsyncIteration:
                    return
                pending = None
                e = ev.Event.decode(raw)
                if e.id in seen:
                    continue
                verdict = await access.allows(e)
                if verdict == STOP:
                    return
                if verdict:
                    seen.add(e.id)
                    yield message(e, actor)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await pending
