"""Checkout tests reuse the API fixtures: an app on the test database, a county, role keys."""

from __future__ import annotations

import pytest

from payments.db import Database
from tests.factories import World, seed_world
from tests.wallet_api.conftest import client, foreign, keys

__all__ = ["client", "foreign", "keys", "world"]


@pytest.fixture
async def world(db: Database) -> World:
    """The API world, but the client trusts no provider yet: checkout tests decide that."""
    return await seed_world(db, trusted=False)
