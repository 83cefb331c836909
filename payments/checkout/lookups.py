"""Finding a client at the door: the one gate for phone numbers, payment codes and cards.

Every path that resolves a customer from what a provider types (a phone number, the 8-digit
code or QR token the client shows, a printed card and its PIN) runs inside
:func:`customer_lookup`. It

- checks and counts the attempt **before** it runs, in one atomic step
  (:mod:`payments.people.ratelimits`): per provider, and for payment codes also per organizer,
  because the 8-digit code space is the organizer's and several providers could walk it
  together. Once a limit is used up even a right code or card is refused until the window
  passes;
- gives the attempt back when the customer was found, so only guesses use the allowance up
  (a wrong code, an unknown card, a number that finds no client who trusts the provider);
  but a payment request by phone number always counts, since even its "not enough money"
  tells the provider that the number is a client's;
- audits every attempt it keeps, with its outcome, and every refusal at the limit. The typed
  number, code or card is never written down.

The answers themselves are the use cases' (``not-in-budget``, ``consent-required``,
``token-invalid``, ``card-invalid``): they say the same for "no such client" and "not for you".
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from payments.db import Database
from payments.errors import DomainError
from payments.people import audit, ratelimits
from payments.people.ratelimits import Attempt, RateLimited, give_back, take_attempt


class LookupKind(StrEnum):
    """What the provider typed or scanned to find the client."""

    PHONE = "phone"
    CODE = "code"  # the client's QR token or its 8-digit code
    CARD = "card"  # a printed QR card and its PIN


@dataclass(frozen=True)
class Limit:
    """Attempts per window: per provider, and (if set) per organizer across providers."""

    per_provider: int
    per_organizer: int | None = None
    window_s: int = 600


# Enough for a busy day at the door (found clients give their attempt back), far too few to
# walk a number range or the 10^8 codes: a provider gets 10 wrong codes in 10 minutes, and all
# of an organizer's providers together 100, against codes that live 120 s.
LIMITS: dict[LookupKind, Limit] = {
    LookupKind.PHONE: Limit(per_provider=30),
    LookupKind.CODE: Limit(per_provider=10, per_organizer=100),
    LookupKind.CARD: Limit(per_provider=10),
}

# The answers that mean "not found" (the same for no such client and not for this provider):
# such a lookup was a guess, and it keeps its attempt.
MISSES: dict[LookupKind, frozenset[str]] = {
    LookupKind.PHONE: frozenset({"not-in-budget", "consent-required"}),
    LookupKind.CODE: frozenset({"token-invalid"}),
    LookupKind.CARD: frozenset({"card-invalid", "card-locked"}),
}


def provider_key(kind: LookupKind, provider_id: uuid.UUID) -> str:
    """The rate counter of a provider's lookups of one kind, wherever they are counted."""
    return f"lookup:{kind}:provider:{provider_id}"


@dataclass
class Lookup:
    """The outcome of one lookup, set by the caller when it is more than "found"."""

    kind: LookupKind
    outcome: str = "found"


@asynccontextmanager
async def customer_lookup(
    db: Database,
    *,
    kind: LookupKind,
    organizer_id: uuid.UUID,
    provider_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    discloses: bool = False,
) -> AsyncIterator[Lookup]:
    """Run one lookup of ``kind`` for a provider: limited before, audited after.

    ``discloses``: every outcome counts, found or not (a payment request by phone number, or
    even its "not enough money", tells the provider that the number is a client's). The body
    may set ``lookup.outcome`` for the audit trail; a domain error sets it to its slug.
    """
    limit = LIMITS[kind]
    keys = [(provider_key(kind, provider_id), limit.per_provider)]
    if limit.per_organizer is not None:
        keys.append((f"lookup:{kind}:organizer:{organizer_id}", limit.per_organizer))
    taken: list[Attempt] = []
    try:
        for key, allowed in keys:
            taken.append(await take_attempt(db, key, limit=allowed, window_s=limit.window_s))
    except RateLimited:
        for attempt in taken:  # refused by the organizer's limit: the provider's is not used
            await give_back(db, attempt)
        await audit.record(
            db,
            action="checkout.lookup_limited",
            actor_id=actor_id,
            organizer_id=organizer_id,
            detail=str(kind),
        )
        raise
    lookup = Lookup(kind)
    try:
        yield lookup
    except DomainError as exc:
        lookup.outcome = exc.slug
        raise
    finally:
        # A kept attempt is audited, so the trail shows exactly what the limit counted.
        if discloses or lookup.outcome in MISSES[kind]:
            await audit.record(
                db,
                action=f"checkout.{kind}_lookup",
                actor_id=actor_id,
                organizer_id=organizer_id,
                detail=lookup.outcome,
            )
        else:
            for attempt in taken:
                await give_back(db, attempt)


# ------------------------------------------------------------------ inside one transaction
# The charge pipeline (payments.checkout.pipeline) runs many phone lookups in one
# transaction: the same gate, with its counting and its audit in that transaction instead of
# two of their own per lookup.


@dataclass(frozen=True)
class Looker:
    """Who typed a phone number at the door: the provider, its principal and its organizer
    (what the gate counts by and the audit trail names)."""

    provider_id: uuid.UUID
    actor_id: uuid.UUID | None
    organizer_id: uuid.UUID

    @property
    def key(self) -> str:
        return provider_key(LookupKind.PHONE, self.provider_id)


async def admit_phone_lookups(
    s: AsyncSession, lookers: list[Looker], now: datetime
) -> list[RateLimited | None]:
    """For each lookup in order: None when it may run, or the refusal when its provider's
    limit is used up (audited as :func:`customer_lookup` does).

    Reads the providers' counters without locking them, so concurrent batches (of this
    process or another) do not wait on each other here: a batch that holds every provider's
    counter until its commit lets the next batch start only then. What counts is decided at
    the end, by :func:`keep_phone_misses`, under the counters' locks."""
    limit = LIMITS[LookupKind.PHONE]
    windows = await ratelimits.read_windows(
        s, sorted({x.key for x in lookers}), window_s=limit.window_s, now=now
    )
    used = {key: hits for key, (hits, _) in windows.items()}
    out: list[RateLimited | None] = []
    for x in lookers:
        if used[x.key] < limit.per_provider:
            used[x.key] += 1  # in flight: counts until it turns out found
            out.append(None)
            continue
        out.append(RateLimited(max(1, windows[x.key][1])))
        _audit_limited(s, x)
    return out


async def keep_phone_misses(
    s: AsyncSession, misses: list[tuple[Looker, str]], now: datetime
) -> list[RateLimited | None]:
    """Count and audit the lookups that found nobody (their refusal's slug is a
    :data:`MISSES` answer); found ones leave no trace, as with :func:`customer_lookup`.

    The counters are locked here (in key order, after every money row of the caller's
    transaction) and held until its commit, so misses counted by concurrent batches can never
    together pass the limit: for each miss in order, None when it is counted, or the refusal
    that replaces its answer when its provider's limit was used up meanwhile (a miss changed
    nothing, so answering it "too many" instead is all there is to undo)."""
    if not misses:
        return []
    limit = LIMITS[LookupKind.PHONE]
    windows = await ratelimits.hold_windows(
        s, sorted({looker.key for looker, _ in misses}), window_s=limit.window_s, now=now
    )
    used = {key: hits for key, (hits, _) in windows.items()}
    counts: dict[str, int] = {}
    out: list[RateLimited | None] = []
    for looker, outcome in misses:
        if used[looker.key] >= limit.per_provider:
            out.append(RateLimited(max(1, windows[looker.key][1])))
            _audit_limited(s, looker)
            continue
        used[looker.key] += 1
        counts[looker.key] = counts.get(looker.key, 0) + 1
        out.append(None)
        audit.add(
            s,
            f"checkout.{LookupKind.PHONE}_lookup",
            actor_id=looker.actor_id,
            organizer_id=looker.organizer_id,
            detail=outcome,
        )
    await ratelimits.count_in(s, counts, window_s=limit.window_s, now=now)
    return out


def _audit_limited(s: AsyncSession, looker: Looker) -> None:
    audit.add(
        s,
        "checkout.lookup_limited",
        actor_id=looker.actor_id,
        organizer_id=looker.organizer_id,
        detail=str(LookupKind.PHONE),
    )


def is_phone_miss(slug: str) -> bool:
    return slug in MISSES[LookupKind.PHONE]
