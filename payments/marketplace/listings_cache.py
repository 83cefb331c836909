"""Each process's copy of the providers' listings of the day, for the charge pipeline.

Every batch of charges (:mod:`payments.checkout.pipeline`) needs its providers (their county,
name and approval) and their listings of the day (the county's cap, the provider's approval for
the service, its price in force). Read at the head of every batch, that statement cost more to
plan than to run (docs/performance.md), and its answer changes only when someone changes the
catalogue. So each process keeps what it read, and a batch uses it only when it can prove that
nothing changed since, in any process:

- every change to ``providers``, ``provider_prices``, ``provider_price_versions`` or
  ``service_categories`` gives the catalogue a new token, in the same transaction (triggers,
  migration 0025);
- the listings are kept with the token read by the same statement, so by the same snapshot;
- a batch that used kept listings reads the token again in a statement it makes anyway (its
  trusting wallets' read, which takes the place of the listings' read at the head of the
  batch). The same token: the kept listings are what a read then would have returned. Another
  token, or none seen: the batch reads its listings again before it decides anything.

So no batch decides on older listings than one that read them itself. A kept entry holds one
day (prices change by day), and the copy is emptied when the token or the day changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import cast

from payments.db import Database
from payments.marketplace.prices import Listing, Seller

# Past this many (provider, code) entries the copy starts again rather than grow: the codes
# come from the charges' lines, and a provider may send codes that are nobody's (each kept as
# "not the county's" until then). A county's providers times the services they charge fit.
MAX_ENTRIES = 50_000

Sellers = dict[uuid.UUID, tuple[Seller, dict[str, Listing]]]


@dataclass
class CacheStats:
    """How the copy served (tests and the benchmark read it)."""

    hits: int = 0  # batches that took their listings from the copy
    misses: int = 0  # batches that read them (something not kept)
    stale: int = 0  # batches whose token check failed, and read them again


@dataclass
class ListingsCache:
    """One process's listings for one database (:func:`listings_cache_for`)."""

    token: int | None = None
    day: date | None = None
    # {provider: (seller, {code: listing, or None when the code is not the county's})}
    providers: dict[uuid.UUID, tuple[Seller, dict[str, Listing | None]]] = field(
        default_factory=dict
    )
    stats: CacheStats = field(default_factory=CacheStats)

    @property
    def entries(self) -> int:
        """How many (provider, code) entries are kept."""
        return sum(len(by_code) for _, by_code in self.providers.values())

    def get(
        self, provider_ids: set[uuid.UUID], codes: set[str], day: date
    ) -> tuple[Sellers, int] | None:
        """The kept listings of these providers and codes on ``day``, and the token they were
        read with; None unless every one of them is kept."""
        if self.token is None or day != self.day:
            return None
        out: Sellers = {}
        for pid in provider_ids:
            held = self.providers.get(pid)
            if held is None or not codes <= held[1].keys():
                return None
            seller, by_code = held
            out[pid] = (seller, {c: x for c in codes if (x := by_code[c]) is not None})
        return out, self.token

    def keep(self, sellers: Sellers, codes: set[str], day: date, token: int | None) -> None:
        """Keep what a read of ``codes`` on ``day`` returned with ``token``: added to what is
        kept under the same token and day, in place of it otherwise."""
        if token is None:
            self.clear()
            return
        if token != self.token or day != self.day or self.entries > MAX_ENTRIES:
            self.clear()
            self.token, self.day = token, day
        for pid, (seller, listed) in sellers.items():
            held = self.providers.setdefault(pid, (seller, {}))[1]
            for code in codes:
                held[code] = listed.get(code)

    def clear(self) -> None:
        self.token = self.day = None
        self.providers = {}


_EXTENSION = "listings-cache"


def listings_cache_for(db: Database) -> ListingsCache:
    """The process's copy of the listings read from ``db``, made on first use."""
    return db.extension(_EXTENSION, ListingsCache)


def stats_of(db: Database) -> CacheStats:
    """How the process's copy for ``db`` has served (nothing yet if it has none)."""
    cache = db.extensions.get(_EXTENSION)
    return cast(ListingsCache, cache).stats if cache is not None else CacheStats()
