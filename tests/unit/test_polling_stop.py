"""A sender's (and the outbox dispatcher's) stop lets the round under way finish, and cancels it
only past its grace.

Cancelled in the middle of a statement, a round left SQLAlchemy closing its connection in a
task of its own, which on SQLite was still running when the event loop closed: aiosqlite's
"Event loop is closed" at the end of every test that served the app."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from notifications.polling import PollingSender
from payments.db import Database


class SlowRounds(PollingSender):
    """Each round waits until the test lets it finish."""

    poll_s = 60.0

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = 0
        self.cancelled = 0

    async def run_once(self) -> int:
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return 1  # it claimed something: without a stop it would go straight on


async def test_stop_waits_for_the_round_under_way_and_starts_no_other():
    sender = SlowRounds()
    sender.start_polling()
    await asyncio.wait_for(sender.entered.wait(), 5)
    stopping = asyncio.create_task(sender.stop_polling())
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop waits for the round"
    sender.entered.clear()
    sender.release.set()
    await asyncio.wait_for(stopping, 5)
    assert (sender.finished, sender.cancelled) == (1, 0)
    assert not sender.entered.is_set(), "no round after the stop"


async def test_stop_cancels_a_round_that_outlasts_its_grace():
    sender = SlowRounds()
    sender.stop_grace_s = 0.1
    sender.start_polling()
    await asyncio.wait_for(sender.entered.wait(), 5)
    await asyncio.wait_for(sender.stop_polling(), 5)
    assert (sender.finished, sender.cancelled) == (0, 1)


class Idle(PollingSender):
    """Nothing is ever due: after each round it sleeps for its poll."""

    poll_s = 60.0

    def __init__(self) -> None:
        self.rounds = asyncio.Event()

    async def run_once(self) -> int:
        self.rounds.set()
        return 0


async def test_a_stop_while_it_sleeps_returns_at_once():
    sender = Idle()
    sender.start_polling()
    await asyncio.wait_for(sender.rounds.wait(), 5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(sender.stop_polling(), 5)
    assert loop.time() - started < 1.0, "not the 60 s poll, nor the grace"


# The outbox dispatcher has its own loop (poked from other threads, backing off after a failed
# round) and stops the same way.


class SlowDispatcher(Dispatcher):
    """A dispatcher whose rounds wait until the test lets them finish (no database)."""

    def __init__(self) -> None:
        super().__init__(cast(Database, SimpleNamespace(is_postgres=False)), Hub(), poll_s=60.0)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = 0
        self.cancelled = 0

    async def run_once(self) -> int:
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        self._more = True  # a full claim: without a stop it would go straight on
        return 1


async def test_the_dispatcher_stops_after_its_round_and_starts_no_other():
    dispatcher = SlowDispatcher()
    dispatcher.start()
    await asyncio.wait_for(dispatcher.entered.wait(), 5)
    stopping = asyncio.create_task(dispatcher.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop waits for the round"
    dispatcher.entered.clear()
    dispatcher.release.set()
    await asyncio.wait_for(stopping, 5)
    assert (dispatcher.finished, dispatcher.cancelled) == (1, 0)
    assert not dispatcher.entered.is_set(), "no round after the stop"


async def test_the_dispatcher_cancels_a_round_that_outlasts_its_grace():
    dispatcher = SlowDispatcher()
    dispatcher.stop_grace_s = 0.1
    dispatcher.start()
    await asyncio.wait_for(dispatcher.entered.wait(), 5)
    await asyncio.wait_for(dispatcher.stop(), 5)
    assert (dispatcher.finished, dispatcher.cancelled) == (0, 1)


async def test_a_dispatcher_waiting_for_a_poke_stops_at_once():
    dispatcher = SlowDispatcher()
    dispatcher.release.set()
    dispatcher.run_once = Idle().run_once  # type: ignore[method-assign]
    dispatcher.start()
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(dispatcher.stop(), 5)
    assert loop.time() - started < 1.0, "not the 60 s poll, nor the grace"
