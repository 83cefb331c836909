"""Wiring of live events into the app (issue 5 fills this in): routes, start and stop."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

ROUTES: list[Any] = []


async def start(app: Litestar) -> None:
    """Start what delivers outbox events (dispatcher, channels) after the database is ready."""


async def stop(app: Litestar) -> None:
    """Stop it again on shutdown."""
