"""Wiring of people's sign-in into the app (issue 3 fills this in): routes and middleware."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
# Extra middleware, outermost first, placed before API-key authentication.
MIDDLEWARE: list[Any] = []
