"""The outbox dispatcher: once, in order, stable ids, resumes after a crash mid-delivery."""

from __future__ import annotations

import asyncio
import time

import pytest

from notifications import events as ev
from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from payments.budgets.funding import fund_period
from payments.ledger.periods import current_period, next_period
from payments.outbox import BALANCE_LOW, CHARGE_CAPTURED, ENVELOPE_FUNDED, REMAINDER_EXPIRED
from tests.factories import seed_world
from tests.notifications.helpers import mark_all_delivered, outbox
from tests.support.money import by_wallet, charged, cleaning


class Recorder:
    """A subscriber on a wallet's channel that keeps what it heard."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []


async def _listen(hub: Hub, channels: list[str], into: list[ev.Event]) -> None:
    async with hub.subscribe(channels) as sub:
        async for raw in sub.iter_events():
            into.append(ev.Event.decode(raw))


async def _heard(into: list[ev.Event], n: int) -> list[ev.Event]:
    for _ in range(200):
        if len(into) >= n:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # and nothing more arrives
    return list(into)


async def test_delivers_each_event_once_with_its_outbox_id(db, world, hub):
    heard: list[ev.Event] = []
    listener = asyncio.create_task(_listen(hub, [ev.wallet_channel(world.wallet_id)], heard))
    await asyncio.sleep(0.01)
    charges = [
        str(await charged(db, world, cleaning(1), customer=by_wallet(world))) for _ in range(3)
    ]
    d = Dispatcher(db, hub)
    assert await d.run_once() == 3
    assert await d.run_once() == 0  # nothing twice
    got = await _heard(heard, 3)
    listener.cancel()
    rows = await outbox(db)
    assert all(delivered for *_, delivered in rows)
    assert [e.id for e in got] == [i for i, t, _ in rows if t == CHARGE_CAPTURED]
    assert [e.data["charge_id"] for e in got] == charges
    assert list(got[-1].data["balances"].values()) == [30_000 - 3 * 3500]


class CrashingHub(Hub):
    """Publishes ``survive`` events, then fails as if the process died mid-round."""

    def __init__(self, survive: int) -> None:
        super().__init__()
        self.survive = survive

    async def publish(self, event: ev.Event) -> None:
        if self.survive == 0:
            raise ConnectionError("process died")
        self.survive -= 1
        await super().publish(event)


async def test_crash_mid_round_leaves_rows_for_the_next_dispatcher(db, world, hub):
    for _ in range(3):
        await charged(db, world, cleaning(1), customer=by_wallet(world))
    crashing = CrashingHub(survive=1)
    await crashing.start()
    with pytest.raises(ConnectionError):
        await Dispatcher(db, crashing).run_once()
    await crashing.stop()
    charges = [i for i, t, delivered in await outbox(db) if t == CHARGE_CAPTURED]
    assert [d for i, _, d in await outbox(db) if i in charges] == [False, False, False]

    heard: list[ev.Event] = []
    listener = asyncio.create_task(_listen(hub, [ev.wallet_channel(world.wallet_id)], heard))
    await asyncio.sleep(0.01)
    assert await Dispatcher(db, hub).run_once() == 3
    got = await _heard(heard, 3)
    listener.cancel()
    assert [e.id for e in got] == charges


async def test_the_streams_get_a_charge_before_the_rules_run(db, world, hub, monkeypatch):
    """A round publishes its events before the low-balance rules read anything (they are a
    handful of statements each round, and commit → SSE waited for them). A round whose rules
    fail has published already; its rows stay undelivered and the next round publishes them
    again with the same ids (at least once: clients drop what they have)."""
    import notifications.dispatcher as dispatcher

    async def broken_rules(*_: object) -> int:
        raise RuntimeError("the rules failed")

    heard: list[ev.Event] = []
    listener = asyncio.create_task(_listen(hub, [ev.wallet_channel(world.wallet_id)], heard))
    await asyncio.sleep(0.01)
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    monkeypatch.setattr(dispatcher, "low_balance_alerts", broken_rules)
    with pytest.raises(RuntimeError, match="the rules failed"):
        await Dispatcher(db, hub).run_once()
    first = await _heard(heard, 1)
    assert [e.type for e in first] == [CHARGE_CAPTURED]
    assert [d for _, t, d in await outbox(db) if t == CHARGE_CAPTURED] == [False]
    monkeypatch.undo()
    assert await Dispatcher(db, hub).run_once() == 1
    again = await _heard(heard, 2)
    listener.cancel()
    assert [e.id for e in again] == [first[0].id, first[0].id]


async def test_running_dispatcher_is_woken_by_commits(db, world, hub):
    heard: list[ev.Event] = []
    listener = asyncio.create_task(_listen(hub, [ev.wallet_channel(world.wallet_id)], heard))
    d = Dispatcher(db, hub, poll_s=30)  # a poll this slow would fail the test
    d.start()
    try:
        await asyncio.sleep(0.05)
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        got = await _heard(heard, 1)
    finally:
        await d.stop()
        listener.cancel()
    assert [e.type for e in got] == [CHARGE_CAPTURED]


async def test_set_based_funding_events_carry_amount_and_balance(db, world, hub):
    heard: list[ev.Event] = []
    listener = asyncio.create_task(_listen(hub, [ev.organizer_channel(world.organizer_id)], heard))
    await asyncio.sleep(0.01)
    await charged(db, world, cleaning(1), customer=by_wallet(world))
    await fund_period(db, next_period(current_period()))
    d = Dispatcher(db, hub)
    while await d.run_once():
        pass
    got = await _heard(heard, 3)
    listener.cancel()
    by_type = {e.type: e for e in got}
    expired, funded = by_type[REMAINDER_EXPIRED], by_type[ENVELOPE_FUNDED]
    assert expired.data["amount_cents"] == 30_000 - 3500
    assert funded.data["amount_cents"] == 30_000
    assert funded.data["balance_cents"] == 30_000
    assert funded.wallet_id == world.wallet_id


async def test_stop_returns_when_a_poke_comes_with_it(db, hub):
    """stop() cancels the loop; a poke completing the loop's wait in the same iteration must not
    swallow that. With asyncio.wait_for (Python 3.11) it did: the loop went on polling and
    stop() never returned (test_push hung for its 300 s under pytest -n 2)."""
    d = Dispatcher(db, hub, poll_s=30)
    d.start()
    for _ in range(50):  # its first round (nothing to deliver) is done: it waits for a poke
        await asyncio.sleep(0.01)
    d.poke()
    await asyncio.sleep(0)  # the wait completes in this iteration, and the cancel comes with it
    started = time.monotonic()
    # (stop() itself swallows a cancel, so wait_for returns either way: time it.)
    await asyncio.wait_for(d.stop(), 5)
    assert time.monotonic() - started < 2, "stop() waited for a loop that was not cancelled"


async def test_a_running_dispatcher_takes_no_empty_round_and_sends_its_own_alerts_at_once(
    db, world, people, hub
):
    """After a round that delivered what there was, the dispatcher waits for the next commit:
    it used to run one more round at once only to find nothing (a transaction and two
    statements per commit under load). A round whose rules wrote balance.low events is still
    followed at once, with no commit of anyone else's to wake it and a poll too slow to."""
    d = Dispatcher(db, hub, poll_s=30)
    rounds: list[int] = []
    run_once = d.run_once

    async def counted() -> int:
        rounds.append(await run_once())
        return rounds[-1]

    d.run_once = counted  # type: ignore[method-assign]
    d.start()
    try:
        await asyncio.sleep(0.05)
        rounds.clear()  # the first round at start
        await charged(db, world, cleaning(1), customer=by_wallet(world))  # 265 EUR left
        for _ in range(200):
            if rounds:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        assert rounds == [1]

        rounds.clear()
        await charged(db, world, cleaning(7), customer=by_wallet(world))  # 20 EUR: the alert
        for _ in range(300):
            if len(rounds) >= 2:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
    finally:
        await d.stop()
    rows = await outbox(db)
    alerts = [t for _, t, _ in rows].count(BALANCE_LOW)
    assert alerts >= 1
    assert rounds == [1, alerts]  # the charge (its round writing the alerts), then the alerts
    assert all(delivered for *_, delivered in rows)


class HeldHub(Hub):
    """Holds its publishing until released: a round under way, for commits to arrive in."""

    def __init__(self) -> None:
        super().__init__()
        self.publishing = asyncio.Event()
        self.release = asyncio.Event()

    async def publish(self, event: ev.Event) -> None:
        self.publishing.set()
        await self.release.wait()
        await super().publish(event)


async def test_under_load_the_next_round_waits_for_more_commits_and_carries_them(pg_db):
    """A commit that comes while a round runs means load: the next round waits
    ``linger_s`` for more commits and delivers them together, so a round's fixed statements are
    shared (at 200 charges a second it took the worker's rounds from about one per 1.8 events
    to one per 2.6). A commit on a quiet dispatcher is delivered at once. (PostgreSQL: on SQLite
    a round holds the one write lock, so no commit lands while it runs.)"""
    db = pg_db
    world = await seed_world(db)
    await mark_all_delivered(db)
    held = HeldHub()
    await held.start()
    d = Dispatcher(db, held, poll_s=30)  # a poll this slow would fail the test
    d.linger_s = 0.5  # long enough to commit two charges in it, on any machine
    rounds: list[int] = []
    run_once = d.run_once

    async def counted() -> int:
        rounds.append(await run_once())
        return rounds[-1]

    async def until(delivered: int) -> None:
        for _ in range(500):
            if sum(rounds) >= delivered:
                return
            await asyncio.sleep(0.01)

    d.run_once = counted  # type: ignore[method-assign]
    d.start()
    try:
        await asyncio.sleep(0.05)
        rounds.clear()  # the first round at start
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        await asyncio.wait_for(held.publishing.wait(), 10)  # its round is under way
        await charged(db, world, cleaning(1), customer=by_wallet(world))  # meanwhile: load
        held.release.set()
        await until(1)
        assert rounds == [1]
        # Within the linger: these join the one committed during the first round.
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        await until(4)
        await asyncio.sleep(0.1)
        assert rounds == [1, 3]

        # Nothing came during that round: quiet again, and a charge goes at once.
        rounds.clear()
        started = time.monotonic()
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        await until(1)
        assert rounds == [1]
        assert time.monotonic() - started < d.linger_s
    finally:
        await d.stop()
        await held.stop()
    assert all(delivered for *_, delivered in await outbox(db))
