"""The per-process cache of checked API keys: expiry to the tick, its bound, and revocation
racing a lookup (payments.people.access.TtlCache, on a fake clock)."""

from __future__ import annotations

import time

from payments.people.access import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_exactly_ttl_seconds() -> None:
    clock = Clock()
    cache = TtlCache(5.0, clock=clock)
    assert (cache.ttl, cache.max_entries, cache.generation) == (5.0, 10_000, 0)
    cache.put("k", "tag", "value", cache.generation)
    clock.now += 4.999
    assert cache.get("k") == "value"
    clock.now += 0.001
    assert cache.get("k") is None
    # An expired entry is dropped, not kept around: a later clock going back cannot revive it.
    clock.now -= 1
    assert cache.get("k") is None
    assert cache.get("never") is None


def test_the_default_clock_is_monotonic() -> None:
    assert TtlCache(1.0).clock is time.monotonic


def test_no_ttl_caches_nothing() -> None:
    for ttl in (0.0, -1.0):
        cache = TtlCache(ttl, clock=Clock())
        cache.put("k", "tag", "value", 0)
        assert cache.get("k") is None


def test_a_full_cache_is_emptied_before_the_next_entry() -> None:
    cache = TtlCache(60.0, max_entries=2, clock=Clock())
    cache.put("a", "t", 1, 0)
    cache.put("b", "t", 2, 0)
    assert (cache.get("a"), cache.get("b")) == (1, 2)
    cache.put("c", "t", 3, 0)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, None, 3)
    # Replacing an entry of a cache that is not full keeps the others.
    cache.put("c", "t", 4, 0)
    assert cache.get("c") == 4


def test_forget_drops_one_tag_and_a_racing_put_of_an_older_read() -> None:
    cache = TtlCache(60.0, clock=Clock())
    cache.put("k1", "prefix-a", "A1", 0)
    cache.put("k2", "prefix-a", "A2", 0)
    cache.put("k3", "prefix-b", "B", 0)
    started = cache.generation
    cache.forget("prefix-a")
    assert cache.generation == started + 1
    assert (cache.get("k1"), cache.get("k2"), cache.get("k3")) == (None, None, "B")
    # A lookup that began before the revocation comes back with what it read: dropped.
    cache.put("k1", "prefix-a", "A1", started)
    assert cache.get("k1") is None
    cache.put("k1", "prefix-a", "A1", cache.generation)
    assert cache.get("k1") == "A1"
    # Every forget starts a new generation, also a second one.
    cache.forget("prefix-b")
    assert cache.generation == started + 2 and cache.get("k1") == "A1"
    cache.put("k4", "prefix-a", "A4", started + 1)
    assert cache.get("k4") is None


def test_clear_drops_everything_and_older_reads() -> None:
    cache = TtlCache(60.0, clock=Clock())
    cache.put("k", "t", 1, 0)
    cache.clear()
    assert cache.generation == 1 and cache.get("k") is None
    cache.put("k", "t", 1, 0)
    assert cache.get("k") is None
    cache.clear()
    assert cache.generation == 2


def test_a_short_ttl_still_caches() -> None:
    clock = Clock()
    for ttl in (1.0, 0.5):
        cache = TtlCache(ttl, clock=clock)
        cache.put("k", "t", "v", 0)
        assert cache.get("k") == "v"
