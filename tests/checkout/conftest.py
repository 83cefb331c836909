"""Checkout tests reuse the API fixtures: an app on the test database, a county, role keys."""

from __future__ import annotations

from tests.wallet_api.conftest import client, keys, world

__all__ = ["client", "keys", "world"]
