"""Principals and API keys: who is acting, and with which rights.

API keys look like ``wk_<prefix>_<secret>``. The secret has 256 bits of entropy, so a SHA-256
of it is enough to store (a slow hash protects low-entropy secrets such as PINs, not these).
The prefix finds the row; the hash is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from payments.clock import utcnow
from payments.db import Database
from payments.errors import Forbidden, InvalidInput, NotFound
from payments.ledger.periods import HELSINKI
from payments.models import ApiKey, AuditEvent, Client, Mandate, Principal, Wallet
from payments.uow import UnitOfWork

ROLES = ("client", "carer", "provider", "case_manager")
# What a carer may do for a client: see the wallet, approve payment requests, manage the
# client's trusted providers and their caps.
SCOPES = ("view", "approve", "manage-providers")


def normalise_scopes(scopes: tuple[str, ...] | list[str]) -> str:
    """Validate scopes and give their stored form (sorted, space separated).

    Acting for someone needs seeing their wallet, so ``approve`` and ``manage-providers``
    bring ``view`` with them.
    """
    wanted = {s.strip() for s in scopes if s.strip()}
    unknown = wanted - set(SCOPES)
    if unknown:
        raise InvalidInput(
            f"Unknown scope(s): {', '.join(sorted(unknown))}; use {', '.join(SCOPES)}",
            slug="invalid-scope",
        )
    if not wanted:
        raise InvalidInput("A mandate needs at least one scope", slug="invalid-scope")
    wanted.add("view")
    return " ".join(sorted(wanted))


@dataclass(frozen=True)
class Actor:
    """The authenticated principal, as the web layer's guards see it."""

    principal_id: uuid.UUID
    organizer_id: uuid.UUID
    role: str
    display_name: str
    client_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None


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


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


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
                secret_hash=_hash(secret),
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
    cache_key = f"{db.url}\x00{_hash(token)}"
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
    if key.revoked_at is not None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    actor = Actor(
        principal_id=principal.id,
        organizer_id=principal.organizer_id,
        role=principal.role,
        display_name=principal.display_name,
        client_id=principal.client_id,
        provider_id=principal.provider_id,
    )
    API_KEYS.put(cache_key, f"{db.url}\x00{prefix}", actor, generation)
    return actor


async def mandate_scopes(db: Database, carer_id: uuid.UUID, wallet_id: uuid.UUID) -> frozenset[str]:
    """The scopes a carer holds over a wallet today (empty if none, pending, declined, revoked
    or ended)."""
    today: date = utcnow().astimezone(HELSINKI).date()
    async with UnitOfWork(db, readonly=True) as uow:
        scopes = (
            await uow.session.execute(
                select(Mandate.scopes)
                .join(Wallet, Wallet.client_id == Mandate.client_id)
                .where(
                    Mandate.carer_id == carer_id, Wallet.id == wallet_id, Mandate.in_force(today)
                )
            )
        ).scalar_one_or_none()
    return frozenset(scopes.split()) if scopes else frozenset()


async def grant_mandate(
    db: Database,
    *,
    carer_id: uuid.UUID,
    client_id: uuid.UUID,
    scopes: tuple[str, ...],
    valid_until: date | None = None,
) -> uuid.UUID:
    """Record a mandate in force directly (set-up and tests); people use :func:`set_mandate`."""
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise InvalidInput(f"Unknown scope(s): {', '.join(sorted(unknown))}", slug="invalid-scope")
    async with UnitOfWork(db) as uow:
        m = Mandate(
            carer_id=carer_id,
            client_id=client_id,
            scopes=" ".join(sorted(set(scopes))),
            valid_until=valid_until,
            accepted_at=utcnow(),
        )
        uow.session.add(m)
        await uow.commit()
        return m.id


# What a mandate is now, as people are told: ``pending`` waits for the carer's answer.
MandateStatus = Literal["active", "pending", "declined", "ended"]
ACTIVE: MandateStatus = "active"
PENDING: MandateStatus = "pending"
DECLINED: MandateStatus = "declined"
ENDED: MandateStatus = "ended"


def mandate_status(m: Mandate, today: date) -> MandateStatus:
    """``active``, ``pending`` (the carer has not answered), ``declined`` or ``ended``
    (revoked, withdrawn or past its last day). Mirrors :meth:`Mandate.in_force`."""
    if m.revoked_at is not None:
        return DECLINED if m.declined_at is not None else ENDED
    if m.valid_until is not None and m.valid_until < today:
        return ENDED
    return ACTIVE if m.accepted_at is not None else PENDING


@dataclass(frozen=True)
class MandateView:
    carer_id: uuid.UUID
    carer_name: str
    client_id: uuid.UUID
    client_name: str
    wallet_id: uuid.UUID | None
    scopes: tuple[str, ...]
    valid_until: date | None
    status: MandateStatus

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


async def _client_for_mandates(uow: UnitOfWork, actor: Actor, client_id: uuid.UUID) -> Client:
    """The client, if ``actor`` may manage their mandates: the client or a case manager."""
    client = await uow.session.get(Client, client_id)
    if client is None or client.organizer_id != actor.organizer_id:
        raise NotFound("No such client")
    if actor.role == "case_manager" or (actor.role == "client" and actor.client_id == client_id):
        return client
    raise Forbidden("Only the client or a case manager may manage mandates")


async def _lock_carer(uow: UnitOfWork, actor: Actor, carer_id: uuid.UUID) -> Principal:
    """The carer's row, locked until commit (PostgreSQL; SQLite's writers take turns anyway),
    so a grant and the redemption of an invite for the same carer cannot interleave."""
    carer = (
        await uow.session.execute(
            select(Principal).where(Principal.id == carer_id).with_for_update()
        )
    ).scalar_one_or_none()
    if carer is None or carer.role != "carer" or carer.organizer_id != actor.organizer_id:
        raise NotFound("No such carer")
    return carer


async def set_mandate(
    db: Database,
    actor: Actor,
    *,
    client_id: uuid.UUID,
    carer_id: uuid.UUID,
    scopes: tuple[str, ...] | list[str],
    valid_until: date | None = None,
) -> MandateStatus:
    """Grant a carer a mandate over a client, or change its scopes and end date. By the client
    themself or a case manager; audited. Returns the mandate's status.

    A case manager's grant is in force at once. The client's is a request to an existing
    person: it stays ``pending`` until that carer accepts it (:func:`accept_mandate`), so a
    client cannot bind someone else's account to their wallet. Changing a mandate the carer
    has already accepted needs no new answer; naming the carer again after the mandate was
    revoked or declined does.
    """
    stored = normalise_scopes(scopes)
    today = utcnow().astimezone(HELSINKI).date()
    if valid_until is not None and valid_until < today:
        raise InvalidInput("The end date is in the past")
    staff = actor.role == "case_manager"
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _client_for_mandates(uow, actor, client_id)
        await _lock_carer(uow, actor, carer_id)
        mandate = (
            await s.execute(
                select(Mandate).where(Mandate.carer_id == carer_id, Mandate.client_id == client_id)
            )
        ).scalar_one_or_none()
        now = utcnow()
        if mandate is None:
            mandate = Mandate(carer_id=carer_id, client_id=client_id)
            s.add(mandate)
        accepted = mandate.revoked_at is None and mandate.accepted_at is not None
        if accepted:
            action = "mandate.changed"
        elif staff:
            action, mandate.accepted_at = "mandate.granted", now
        else:
            action, mandate.accepted_at = "mandate.requested", None
        mandate.scopes, mandate.valid_until = stored, valid_until
        mandate.revoked_at = mandate.declined_at = None
        s.add(
            AuditEvent(
                organizer_id=actor.organizer_id,
                actor_id=actor.principal_id,
                action=action,
                subject_client_id=client_id,
                detail=f"carer {carer_id}: {stored}"
                + (f" until {valid_until}" if valid_until else ""),
                created_at=now,
            )
        )
        await s.flush()
        status = mandate_status(mandate, today)
        await uow.commit()
    return status


async def revoke_mandate(
    db: Database, actor: Actor, *, client_id: uuid.UUID, carer_id: uuid.UUID
) -> None:
    """End a carer's mandate at once, or withdraw a request the carer has not answered. By the
    client themself or a case manager; audited."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _client_for_mandates(uow, actor, client_id)
        mandate = (
            await s.execute(
                select(Mandate).where(
                    Mandate.carer_id == carer_id,
                    Mandate.client_id == client_id,
                    Mandate.revoked_at.is_(None),
                )
            )
        ).scalar_one_or_none()
        if mandate is None:
            raise NotFound("No such mandate")
        mandate.revoked_at = utcnow()
        s.add(
            AuditEvent(
                organizer_id=actor.organizer_id,
                actor_id=actor.principal_id,
                action="mandate.revoked" if mandate.accepted_at else "mandate.withdrawn",
                subject_client_id=client_id,
                detail=f"carer {carer_id}",
                created_at=utcnow(),
            )
        )
        await uow.commit()


async def list_mandates(
    db: Database,
    actor: Actor,
    *,
    client_id: uuid.UUID | None = None,
    include_ended: bool = True,
) -> list[MandateView]:
    """Mandates over a client (for the client or a case manager; a staff view is audited), or,
    without ``client_id``, the mandates a carer holds: the clients they can switch between."""
    today = utcnow().astimezone(HELSINKI).date()
    async with UnitOfWork(db) as uow:
        s = uow.session
        stmt = _carers_mandates()
        if client_id is not None:
            await _client_for_mandates(uow, actor, client_id)
            stmt = stmt.where(Mandate.client_id == client_id)
            if actor.role == "case_manager":
                s.add(
                    AuditEvent(
                        organizer_id=actor.organizer_id,
                        actor_id=actor.principal_id,
                        action="mandates.viewed",
                        subject_client_id=client_id,
                        created_at=utcnow(),
                    )
                )
        elif actor.role == "carer":
            stmt = stmt.where(Mandate.carer_id == actor.principal_id)
        else:
            return []
        rows = (await s.execute(stmt.order_by(Principal.display_name))).all()
        await uow.commit()
    out = [_view(m, carer, client, wallet_id, today) for m, carer, client, wallet_id in rows]
    return out if include_ended else [v for v in out if v.active]


def _view(
    m: Mandate, carer: Principal, client: Client, wallet_id: uuid.UUID | None, today: date
) -> MandateView:
    return MandateView(
        carer_id=carer.id,
        carer_name=carer.display_name,
        client_id=client.id,
        client_name=f"{client.first_name} {client.last_name}",
        wallet_id=wallet_id,
        scopes=tuple(m.scopes.split()),
        valid_until=m.valid_until,
        status=mandate_status(m, today),
    )


def _carers_mandates() -> Select[Mandate, Principal, Client, uuid.UUID]:
    return (
        select(Mandate, Principal, Client, Wallet.id)
        .join(Principal, Principal.id == Mandate.carer_id)
        .join(Client, Client.id == Mandate.client_id)
        .outerjoin(Wallet, Wallet.client_id == Client.id)
    )


def _waiting(today: date) -> ColumnElement[bool]:
    """A request the carer can still answer: not accepted, not revoked, not past its end."""
    return and_(
        Mandate.accepted_at.is_(None),
        Mandate.revoked_at.is_(None),
        or_(Mandate.valid_until.is_(None), Mandate.valid_until >= today),
    )


async def pending_mandates(db: Database, actor: Actor) -> list[MandateView]:
    """The mandates that clients have asked this carer to take on and that wait for an answer:
    who asks, and for which scopes."""
    if actor.role != "carer":
        return []
    today = utcnow().astimezone(HELSINKI).date()
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                _carers_mandates()
                .where(Mandate.carer_id == actor.principal_id, _waiting(today))
                .order_by(Client.last_name, Client.first_name, Client.id)
            )
        ).all()
    return [_view(m, carer, client, wallet_id, today) for m, carer, client, wallet_id in rows]


async def _answer(db: Database, actor: Actor, client_id: uuid.UUID, *, accept: bool) -> MandateView:
    today = utcnow().astimezone(HELSINKI).date()
    if actor.role != "carer":
        raise Forbidden("Only the carer named in a mandate may answer it")
    async with UnitOfWork(db) as uow:
        s = uow.session
        row = (
            await s.execute(
                _carers_mandates()
                .where(
                    Mandate.carer_id == actor.principal_id,
                    Mandate.client_id == client_id,
                    Client.organizer_id == actor.organizer_id,
                    _waiting(today),
                )
                .with_for_update(of=Mandate)
            )
        ).first()
        if row is None:
            raise NotFound("No mandate waits for your answer from this client")
        m, carer, client, wallet_id = row
        now = utcnow()
        if accept:
            m.accepted_at = now
        else:
            m.revoked_at = m.declined_at = now
        s.add(
            AuditEvent(
                organizer_id=actor.organizer_id,
                actor_id=actor.principal_id,
                action="mandate.accepted" if accept else "mandate.declined",
                subject_client_id=client_id,
                detail=f"carer {actor.principal_id}: {m.scopes}",
                created_at=now,
            )
        )
        await s.flush()
        view = _view(m, carer, client, wallet_id, today)
        await uow.commit()
    return view


async def accept_mandate(db: Database, actor: Actor, client_id: uuid.UUID) -> MandateView:
    """The carer accepts a client's waiting mandate: from now on it grants its scopes."""
    return await _answer(db, actor, client_id, accept=True)


async def decline_mandate(db: Database, actor: Actor, client_id: uuid.UUID) -> None:
    """The carer declines a client's waiting mandate; the client sees it as declined."""
    await _answer(db, actor, client_id, accept=False)
