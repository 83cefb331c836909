"""The outbox dispatcher: deliver committed outbox rows to the channels, at least once.

A round is one transaction: claim undelivered rows in id order, publish each to the channels
(and wait until the backend has it), enqueue their webhook deliveries and texts (SMS), mark
them delivered, commit. A crash anywhere before the
commit leaves the rows undelivered, so the next round (in this or a restarted process)
publishes them again with the same ids, and clients drop what they already have.

PostgreSQL: several processes may dispatch. A round first locks its row in ``dispatch_locks``
(so rounds of different processes take turns and their claims never interleave), then claims
rows ``FOR UPDATE SKIP LOCKED``. A claimed row whose wallet still has an earlier undelivered row
outside the claim is left for a later round, so one wallet's events are published in order.
SQLite: write transactions are serialised (``BEGIN IMMEDIATE``), which makes any dispatcher
the only one for the duration of its round.

A commit anywhere in this process wakes the dispatcher at once (an SQLAlchemy ``after_commit``
hook), so delivery does not wait for the poll; the poll catches commits of other processes
(for example ``wallet fund``). A dispatcher that ``listen``s (the one in ``wallet worker``,
whose events are all committed by the web processes) is also woken by PostgreSQL: a
transaction that adds outbox rows notifies :data:`CHANNEL` when it commits (migration 0023).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import BigInteger, Table, Uuid, bindparam, func, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from notifications import events as ev
from notifications import sms, webhooks
from notifications.hub import Hub
from notifications.models import DispatchLock
from notifications.polling import finish_or_cancel
from notifications.rules import low_balance_alerts
from payments.clock import utcnow
from payments.db import Database
from payments.models import OutboxEvent
from payments.outbox import CHARGE_CAPTURED
from payments.rows import BatchRows, PerEngine, with_list
from payments.uow import UnitOfWork

log = logging.getLogger("wallet.dispatcher")

# What the outbox's trigger notifies when a transaction that added rows commits (migration
# 0023), and how long a listener whose connection was lost waits before it connects again (the
# poll delivers meanwhile).
CHANNEL = "wallet_outbox"
RELISTEN_S = 5.0
_SKIP_POKE = "wallet_dispatcher"
# Under load (commits came while a round ran), the next round waits this long for more commits
# before it claims: a round's fixed cost (its turn, the claim, the rules, the mark, the commit:
# some ten round trips) is shared by more events. At 200 charges a second across two web
# processes, 5 ms made 1,491-1,701 rounds of 4,200 events instead of 2,194-2,339, and the worker
# 0.29 of a core instead of 0.38; an event waits about 4 ms more at the median, and the p99 did
# not move beyond the noise (docs/performance.md, "B5 on this VM").
LINGER_S = 0.005


class EventSink(Protocol):
    def enqueue(self, event: ev.Event) -> None: ...


_live: weakref.WeakSet[Dispatcher] = weakref.WeakSet()
_hook_installed = False


def _on_commit(session: Session) -> None:
    if session.info.get(_SKIP_POKE):
        return
    for d in list(_live):
        d.poke()


def _install_hook() -> None:
    global _hook_installed
    if not _hook_installed:
        sa_event.listen(Session, "after_commit", _on_commit)
        _hook_installed = True


class Dispatcher:
    """Delivers outbox rows to a :class:`Hub` (and hands them to Web Push)."""

    # How long stop() waits for the round under way before it cancels it.
    stop_grace_s: float = 5.0
    # How long a round that follows a busy one waits for more commits (LINGER_S).
    linger_s: float = LINGER_S

    def __init__(
        self,
        db: Database,
        hub: Hub,
        *,
        push: EventSink | None = None,
        sms_config: sms.SmsConfig | None = None,
        batch: int = 200,
        poll_s: float = 1.0,
        listen: bool = False,
    ) -> None:
        self.db = db
        self.hub = hub
        self.push = push
        self.sms = sms_config
        self.batch = batch
        self.poll_s = poll_s
        self.listen = listen and db.is_postgres
        self._listener: asyncio.Task[None] | None = None
        self.delivered = 0
        # Rounds that delivered something: with ``delivered``, how many events a round carries.
        self.delivering_rounds = 0
        self._more = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Built once per dispatcher: a round runs them on every delivery, up to one per charge
        # at moderate rates, and building them per round cost more CPU than running them.
        claim = ev.outbox_select().where(OutboxEvent.delivered_at.is_(None)).limit(batch)
        self._claim = claim
        self._claim_locked = claim.with_for_update(skip_locked=True, of=OutboxEvent)

    def poke(self) -> None:
        """Wake the dispatcher (thread-safe): something may have been committed."""
        if self._wake is None or self._loop is None:
            return
        if threading.get_ident() == self._thread:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                self._loop.call_soon_threadsafe(self._wake.set)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._stopping = False
        _install_hook()
        _live.add(self)
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")
        if self.listen:
            self._listener = asyncio.create_task(self._listen(), name="outbox-listener")

    async def stop(self) -> None:
        """Stop after the round under way, if any (cancelled after :attr:`stop_grace_s`, as
        the senders stop: notifications.polling)."""
        _live.discard(self)
        if self._listener is not None:  # it only waits on its connection
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._task is not None:
            self._stopping = True
            if self._wake is not None:
                self._wake.set()
            await finish_or_cancel(self._task, self.stop_grace_s)
            log.info(
                "dispatcher stopped: %d events delivered in %d rounds",
                self.delivered,
                self.delivering_rounds,
            )
        self._task = self._listener = None

    async def _listen(self) -> None:
        """LISTEN on :data:`CHANNEL` from a connection of its own (not the pool's: it is held
        for the process's life), poking the dispatcher at each notification; connect again
        after a lost connection."""
        dsn = make_url(self.db.url).set(drivername="postgresql")
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    dsn.render_as_string(hide_password=False),
                    server_settings={"application_name": "wallet-outbox-listener"},
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, lambda *_: self.poke())
                # Rows committed before the LISTEN began: the round after it finds them.
                self.poke()
                await lost.wait()
                log.warning("outbox listener lost its connection; the poll delivers meanwhile")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox listener could not listen; the poll delivers meanwhile")
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(RELISTEN_S)

    async def _run(self) -> None:
        assert self._wake is not None
        backoff = 0.1
        while not self._stopping:
            self._wake.clear()
            try:
                n = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The round rolled back; its rows are still undelivered and will be retried.
                log.exception("outbox delivery failed; retrying in %.1fs", backoff)
                with contextlib.suppress(TimeoutError):  # a stop ends the wait
                    async with asyncio.timeout(backoff):
                        while not self._stopping:
                            await self._wake.wait()
                            self._wake.clear()
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.1
            if (n and self._more) or self._stopping:
                continue
            if n and self._wake.is_set():
                # Commits came while this round ran: under load. The next round waits a moment
                # for more of them and carries them all (LINGER_S); a commit on a quiet
                # dispatcher still goes at once.
                await asyncio.sleep(self.linger_s)
                continue
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for returns normally when the
            # task is cancelled in the same loop iteration the wait completes (a poke during
            # stop()), the loop goes on polling, and stop() waits for it forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()

    async def run_once(self) -> int:
        """One round: claim, publish, mark delivered, commit. Returns how many were delivered.

        Sets :attr:`_more` when rows may be waiting that this round did not take: a full claim,
        rows left for their wallet's order, or events the round itself wrote. Otherwise the
        next round waits for a wake-up: a commit after this round's claim has poked already
        (the wake is cleared before the claim), and the round that follows every delivering
        round only to find nothing cost a transaction and two statements per batch commit."""
        self._more = False
        async with UnitOfWork(self.db) as uow:
            s = uow.session
            s.sync_session.info[_SKIP_POKE] = True
            if self.db.is_postgres:
                await self._take_turn(s)
            stmt = self._claim_locked if self.db.is_postgres else self._claim
            rows: list[Any] = list((await s.execute(stmt)).all())
            if not rows:
                return 0
            self._more = len(rows) >= self.batch
            if self.db.is_postgres:
                claimed = len(rows)
                rows = await self._in_wallet_order(s, rows)
                self._more = self._more or len(rows) < claimed
                if not rows:
                    return 0
            events = await ev.to_events(s, rows)
            now = utcnow()
            # Published first: the streams need nothing the rules read. A round that fails
            # later publishes them again with the same ids (at least once; clients drop what
            # they have), and the low-balance events it writes go out in the next round.
            await self.hub.publish_all(events)
            charges = [e for e in events if e.type == CHARGE_CAPTURED]
            if charges and await low_balance_alerts(s, charges, now):
                self._more = True  # its balance.low events go out in the next round
            # Webhooks are enqueued with the mark, so a round that rolls back enqueues nothing
            # and a round run again enqueues nothing twice (notifications.webhooks).
            hooks = await webhooks.enqueue(s, events, now)
            texts = await sms.enqueue(s, events, now, self.sms) if self.sms else 0
            mark, delivered = with_list(s, _MARK_DELIVERED, (e.id for e in events))
            await s.execute(mark, {**delivered, "p_now": now})
            await uow.commit()
        self.delivered += len(events)
        self.delivering_rounds += 1
        if hooks:
            webhooks.poke_senders()
        if texts:
            sms.poke_senders()
        if self.push is not None:
            for e in events:
                self.push.enqueue(e)
        return len(events)

    async def _take_turn(self, s: Any) -> None:
        """Wait for other processes' rounds to finish (the lock ends with this transaction)."""
        if (await s.execute(_TAKE_TURN)).first() is None:
            # The row is made by the migration; recreate it if the table was emptied.
            with contextlib.suppress(IntegrityError):
                async with s.begin_nested():
                    s.add(DispatchLock(name="outbox"))
            await s.execute(_TAKE_TURN)

    async def _in_wallet_order(self, s: Any, rows: list[Any]) -> list[Any]:
        """Drop claimed rows that would overtake an earlier undelivered row of their wallet
        that another dispatcher holds (it was skipped as locked)."""
        ids = [int(r[0].id) for r in rows]
        # Nearly always nothing was skipped: the first undelivered row outside the claim comes
        # after it. That costs one probe of ix_outbox_undelivered from its start; the wallets'
        # own read below is made only when a row before the claim's last is held elsewhere.
        first_stmt, first_params = with_list(s, _FIRST_UNCLAIMED, ids)
        first = (await s.execute(first_stmt, first_params)).scalar()
        if first is None or first > max(ids):
            return rows
        wallets = {r[0].wallet_id for r in rows if r[0].wallet_id is not None}
        if not wallets:
            return rows
        (of_wallets, of_ids), stmt = _EARLIER_UNDELIVERED.of(s)
        params = {**of_wallets.bind_each(wallets), **of_ids.bind_each(ids), "p_max_id": max(ids)}
        blocked = {
            w: earliest
            for w, earliest in (await s.execute(stmt, params)).all()
            if earliest is not None
        }
        if not blocked:
            return rows
        return [
            r
            for r in rows
            if r[0].wallet_id not in blocked or int(r[0].id) < int(blocked[r[0].wallet_id])
        ]


# Built once with bound parameters (see Dispatcher.__init__ for why).
_OUTBOX = cast(Table, OutboxEvent.__table__)
_TAKE_TURN = select(DispatchLock.name).where(DispatchLock.name == "outbox").with_for_update()


# A round's lists travel as one parameter each (payments.rows): one SQL text whatever their
# length, compiled and prepared once.
def _mark_delivered(dialect: Dialect) -> tuple[BatchRows, Any]:
    ids = BatchRows(dialect, "ids", id=BigInteger())
    return ids, (
        update(_OUTBOX).where(ids.has(_OUTBOX.c.id)).values(delivered_at=bindparam("p_now"))
    )


def _first_unclaimed(dialect: Dialect) -> tuple[BatchRows, Any]:
    ids = BatchRows(dialect, "ids", id=BigInteger())
    # ORDER BY … LIMIT 1, not min(): with the index estimated nearly empty, min() was planned
    # as an aggregate over the whole index, and the index holds every row not yet vacuumed.
    return ids, (
        select(_OUTBOX.c.id)
        .where(_OUTBOX.c.delivered_at.is_(None), ~ids.has(_OUTBOX.c.id))
        .order_by(_OUTBOX.c.id)
        .limit(1)
    )


def _earlier_undelivered(dialect: Dialect) -> tuple[tuple[BatchRows, BatchRows], Any]:
    # For each wallet of the round, its first undelivered row before the round's last: a probe
    # of ix_outbox_undelivered_wallet (wallet_id, id) per wallet where the plan is custom.
    wallets = BatchRows(dialect, "wallets", id=Uuid())
    ids = BatchRows(dialect, "ids", id=BigInteger())
    first = (
        select(func.min(_OUTBOX.c.id))
        .where(
            _OUTBOX.c.wallet_id == wallets.table.c.id,
            _OUTBOX.c.delivered_at.is_(None),
            _OUTBOX.c.id < bindparam("p_max_id"),
            ~ids.has(_OUTBOX.c.id),
        )
        .scalar_subquery()
    )
    return (wallets, ids), select(wallets.table.c.id, first).select_from(wallets.table)


_MARK_DELIVERED = PerEngine(_mark_delivered)
_FIRST_UNCLAIMED = PerEngine(_first_unclaimed)
_EARLIER_UNDELIVERED = PerEngine(_earlier_undelivered)
