"""The loop every outbound sender runs (webhooks, SMS): work while there is work, then sleep
until poked or ``poll_s`` has passed.

A sender subclasses :class:`PollingSender`, implements ``run_once`` (claim a batch, send it,
return how many it claimed) and calls ``start_polling`` / ``stop_polling`` from its own
``start`` / ``stop`` (which may open and close what the sender owns). The outbox dispatcher has
its own loop: it is poked from other threads and backs off after a failed round.

Stopping lets a round under way finish (for at most :attr:`PollingSender.stop_grace_s`) before
it cancels it (:func:`finish_or_cancel`, which the dispatcher's stop uses too): a round cut off
in the middle of a statement leaves SQLAlchemy closing its connection in a task of its own,
which on SQLite (aiosqlite) was still running when the event loop closed ("Event loop is
closed" from aiosqlite's thread at every test server's shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)


async def finish_or_cancel(task: asyncio.Task[None], grace_s: float) -> None:
    """Wait for ``task`` (told to stop) to end by itself, for at most ``grace_s``; then cancel
    it and wait for that."""
    try:
        async with asyncio.timeout(grace_s):
            await asyncio.shield(task)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PollingSender:
    """A background task around ``run_once``; ``poke`` wakes it at once."""

    # Set by each subclass (and the instance may override ``poll_s``).
    task_name: str = "sender"
    poll_s: float = 1.0
    # How long stop_polling waits for a round under way before it cancels it.
    stop_grace_s: float = 5.0
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False

    async def run_once(self) -> int:
        """One round: how many items it claimed (0: nothing due, so the loop sleeps)."""
        raise NotImplementedError

    def poke(self) -> None:
        """Something is due now (call from the event loop's thread)."""
        if self._wake is not None:
            self._wake.set()

    def start_polling(self) -> None:
        self._stopping = False
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop_polling(self) -> None:
        """Stop after the round under way, if any (cancelled after :attr:`stop_grace_s`)."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        await finish_or_cancel(task, self.stop_grace_s)
        self._task = None

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            self._wake.clear()
            try:
                n = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: round failed; trying again", self.task_name)
                n = 0
            if n or self._stopping:
                continue
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that
            # arrives in the loop step the wait finishes, and stop_polling() then waits forever
            # (see Dispatcher._run).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()
