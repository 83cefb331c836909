"""A sender's (and the outbox dispatcher's) stop lets the round under way finish, and cancels it
only past its grace.

Cancelled in the middle of a statement, a round left SQLAlchemy closing its connection in a
task of its own, which on SQLite was still running when the event loop closed: aiosqlite's
"Event loop is closed" at the end of every test that served the app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from notifications.polling import PollingSender
from payments.db import Database


class Rounds:
    """Rounds that wait until the test lets them finish (``slow``), or find nothing due."""

    def __init__(self, slow: bool) -> None:
        self.slow = slow
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = 0
        self.cancelled = 0

    async def run(self) -> int:
        self.entered.set()
        if not self.slow:
            return 0  # nothing due: the loop sleeps until poked
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        self.finished += 1
        return 1  # it claimed something: without a stop it would go straight on


class Sender(PollingSender):
    poll_s = 60.0

    def __init__(self, rounds: Rounds) -> None:
        self.rounds = rounds

    async def run_once(self) -> int:
        return await self.rounds.run()


class OutboxDispatcher(Dispatcher):
    """The outbox dispatcher's own loop (poked from other threads, backing off after a failed
    round) around the test's rounds: no database."""

    def __init__(self, rounds: Rounds) -> None:
        super().__init__(cast(Database, SimpleNamespace(is_postgres=False)), Hub(), poll_s=60.0)
        self.rounds = rounds

    async def run_once(self) -> int:
        n = await self.rounds.run()
        self._more = bool(n)  # a full claim: it would go straight on
        return n


Loop = tuple[Callable[[], None], Callable[[], Awaitable[None]], Any]


def sender(rounds: Rounds) -> Loop:
    s = Sender(rounds)
    return s.start_polling, s.stop_polling, s


def dispatcher(rounds: Rounds) -> Loop:
    d = OutboxDispatcher(rounds)
    return d.start, d.stop, d


LOOPS = pytest.mark.parametrize("make", [sender, dispatcher], ids=["sender", "dispatcher"])


async def running(make: Callable[[Rounds], Loop], *, slow: bool) -> tuple[Rounds, Loop]:
    """The loop started, with its first round entered."""
    rounds = Rounds(slow=slow)
    loop = make(rounds)
    loop[0]()
    await asyncio.wait_for(rounds.entered.wait(), 5)
    return rounds, loop


@LOOPS
async def test_stop_waits_for_the_round_under_way_and_starts_no_other(make):
    rounds, (_, stop, _) = await running(make, slow=True)
    stopping = asyncio.create_task(stop())
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop waits for the round"
    rounds.entered.clear()
    rounds.release.set()
    await asyncio.wait_for(stopping, 5)
    assert (rounds.finished, rounds.cancelled) == (1, 0)
    assert not rounds.entered.is_set(), "no round after the stop"


@LOOPS
async def test_stop_cancels_a_round_that_outlasts_its_grace(make):
    rounds, (_, stop, loop_owner) = await running(make, slow=True)
    loop_owner.stop_grace_s = 0.1  # read when the stop begins
    await asyncio.wait_for(stop(), 5)
    assert (rounds.finished, rounds.cancelled) == (0, 1)


@LOOPS
async def test_a_stop_while_it_sleeps_returns_at_once(make):
    _, (_, stop, _) = await running(make, slow=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(stop(), 5)
    assert loop.time() - started < 1.0, "not the 60 s poll, nor the grace"
