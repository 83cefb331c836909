"""The API-key cache on its own (``payments.people.access.TtlCache``), on a clock the test moves.
The cache in front of the database is in ``tests/wallet_api/test_auth_cache.py``."""

from __future__ import annotations

import pytest

from payments.people.access import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """The cache's monotonic clock, under the test's control."""
    return Clock()


def test_a_full_cache_is_emptied_and_a_zero_ttl_caches_nothing(clock):
    cache = TtlCache(5.0, max_entries=3, clock=clock)
    for i in range(3):
        cache.put(f"k{i}", "t", i, cache.generation)
    assert cache.get("k2") == 2
    cache.put("k3", "t", 3, cache.generation)  # full: starts over
    assert (cache.get("k0"), cache.get("k3")) == (None, 3)
    cache.put("k4", "other", 4, cache.generation)
    cache.forget("t")
    assert (cache.get("k3"), cache.get("k4")) == (None, 4)
    off = TtlCache(0, clock=clock)
    off.put("k", "t", 1, off.generation)
    assert off.get("k") is None


def test_a_lookup_that_raced_a_revocation_is_not_cached(clock):
    cache = TtlCache(5.0, clock=clock)
    started = cache.generation  # a lookup reads the key from the database...
    cache.forget("prefix")  # ...while the key is revoked in this process
    cache.put("k", "prefix", "actor", started)
    assert cache.get("k") is None
