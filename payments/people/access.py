"""Principals and API keys: who is acting, and with which rights.

API keys look like ``wk_<prefix>_<secret>``. The secret has 256 bits of entropy, so a SHA-256
of it is enough to store (a slow hash protects low-entropy secrets such as PINs, not these).
The prefix finds the row; the hash is compared in constant time.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.errors import NotFound
from payments.models import ApiKey, Principal
from payments.people.secrets import hash_secret
from payments.uow import UnitOfWork


@dataclass(frozen=True)
class Actor:
    """The authenticated principal, as the web layer's guards see it."""

    principal_id: uuid.UUID
    organizer_id: uuid.UUID
    role: str  # a Role (a member equals its string)
    display_name: str
    client_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None
    # A case manager with the admin right: manages the organizer's staff.
    admin: bool = False


class TtlCache:
    """A small per-process cache whose entries live ``ttl`` seconds (monotonic clock).

    Bounded: when full it is emptied, so a flood of distinct keys costs memory only up to
    ``max_entries``. Holds only positive results; callers decide what a key is.

    ``forget`` bumps ``generation``; a ``put`` of a value read before that (it carries the
    generation it started in) is dropped, so a lookup racing a revocation cannot bring the
    revoked key back.
    """

    def __init__(
        self, ttl: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self.generation = 0
        self._entries: dict[str, tuple[float, str, Any]] = {}

    def get(self, key: str) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            self._entries.pop(key, None)
            return None
        return entry[2]

    def put(self, key: str, tag: str, value: Any, generation: int) -> None:
        if self.ttl <= 0 or generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (self.clock() + self.ttl, tag, value)

    def forget(self, tag: str) -> None:
        """Drop every entry stored with ``tag`` (for example an API key's prefix)."""
        self.generation += 1
        for key in [k for k, e in self._entries.items() if e[1] == tag]:
            self._entries.pop(key, None)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()


# How long one process trusts an API key it has checked (``WALLET_API_KEY_CACHE_SECONDS``).
# Revocation in the same process takes effect at once; in another process within this time.
DEFAULT_API_KEY_CACHE_SECONDS = 5.0


# One cache per process, whichever ``Database`` object asks: keyed by database URL, so that a
# revocation through any engine of this process reaches it.
API_KEYS = TtlCache(
    float(os.environ.get("WALLET_API_KEY_CACHE_SECONDS", DEFAULT_API_KEY_CACHE_SECONDS))
)


async def create_api_key(db: Database, principal_id: uuid.UUID, name: str = "default") -> str:
    """Create a key for a principal and return it. It is shown this once and never stored."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    async with UnitOfWork(db) as uow:
        if await uow.session.get(Principal, principal_id) is None:
            raise NotFound("No such principal")
        uow.session.add(
            ApiKey(
                principal_id=principal_id,
                prefix=prefix,
                secret_hash=hash_secret(secret),
                name=name,
                created_at=utcnow(),
            )
        )
        await uow.commit()
    return f"wk_{prefix}_{secret}"


async def revoke_api_key(db: Database, prefix: str) -> bool:
    async with UnitOfWork(db) as uow:
        result = await uow.session.execute(
            update(ApiKey)
            .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        await uow.commit()
    # This process stops accepting the key at once; others within API_KEYS.ttl seconds.
    API_KEYS.forget(f"{db.url}\x00{prefix}")
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def revoke_api_keys_of(
    session: AsyncSession, principal_id: uuid.UUID, now: datetime
) -> tuple[str, ...]:
    """Revoke every live API key of a person inside the caller's transaction (a lost phone);
    returns their prefixes for :func:`forget_api_keys` after commit."""
    prefixes = (
        (
            await session.execute(
                select(ApiKey.prefix).where(
                    ApiKey.principal_id == principal_id, ApiKey.revoked_at.is_(None)
                )
            )
        )
        .scalars()
        .all()
    )
    if prefixes:
        await session.execute(
            update(ApiKey).where(ApiKey.prefix.in_(prefixes)).values(revoked_at=now)
        )
    return tuple(prefixes)


def forget_api_keys(db: Database, prefixes: tuple[str, ...]) -> None:
    """Stop trusting revoked keys in this process at once (others within API_KEYS.ttl)."""
    for prefix in prefixes:
        API_KEYS.forget(f"{db.url}\x00{prefix}")


async def authenticate_api_key(db: Database, token: str) -> Actor | None:
    """The actor behind a presented key, or None for a malformed, unknown or revoked key.

    A key found valid is trusted by this process for ``API_KEYS.ttl`` seconds (5 by
    default), so a busy integration costs no database round trip per request. The cache is
    keyed by a hash of the whole token, so only the exact key that was checked is served from
    it; unknown and revoked keys are never cached.
    """
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "wk" or len(parts[1]) != 12:
        return None
    prefix, secret = parts[1], parts[2]
    cache_key = f"{db.url}\x00{hash_secret(token)}"
    cached = API_KEYS.get(cache_key)
    if isinstance(cached, Actor):
        return cached
    generation = API_KEYS.generation
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(ApiKey, Principal)
                .join(Principal, Principal.id == ApiKey.principal_id)
                .where(ApiKey.prefix == prefix)
            )
        ).first()
    if row is None:
        return None
    key, principal = row
    if key.revoked_at is not None or not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    if principal.removed_at is not None:
        return None
    actor = actor_of(principal)
    API_KEYS.put(cache_key, f"{db.url}\x00{prefix}", actor, generation)
    return actor


def actor_of(principal: Principal) -> Actor:
    """The actor a principal is when it signs in."""
    return Actor(
        principal_id=principal.id,
        organizer_id=principal.organizer_id,
        role=principal.role,
        display_name=principal.display_name,
        client_id=principal.client_id,
        provider_id=principal.provider_id,
        admin=principal.admin,
    )
