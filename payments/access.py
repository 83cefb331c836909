"""Principals and API keys: who is acting, and with which rights.

API keys look like ``wk_<prefix>_<secret>``. The secret has 256 bits of entropy, so a SHA-256
of it is enough to store (a slow hash protects low-entropy secrets such as PINs, not these).
The prefix finds the row; the hash is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update

from payments.db import Database
from payments.errors import NotFound
from payments.models import ApiKey, Mandate, Principal, Wallet
from payments.periods import HELSINKI, utcnow
from payments.uow import UnitOfWork

ROLES = ("client", "carer", "provider", "case_manager")


@dataclass(frozen=True)
class Actor:
    """The authenticated principal, as the web layer's guards see it."""

    principal_id: uuid.UUID
    organizer_id: uuid.UUID
    role: str
    display_name: str
    client_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None


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
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def authenticate_api_key(db: Database, token: str) -> Actor | None:
    """The actor behind a presented key, or None for a malformed, unknown or revoked key."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "wk" or len(parts[1]) != 12:
        return None
    prefix, secret = parts[1], parts[2]
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
    return Actor(
        principal_id=principal.id,
        organizer_id=principal.organizer_id,
        role=principal.role,
        display_name=principal.display_name,
        client_id=principal.client_id,
        provider_id=principal.provider_id,
    )


async def mandate_scopes(db: Database, carer_id: uuid.UUID, wallet_id: uuid.UUID) -> frozenset[str]:
    """The scopes a carer holds over a wallet today (empty if none, revoked or ended)."""
    today: date = utcnow().astimezone(HELSINKI).date()
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(Mandate)
                .join(Wallet, Wallet.client_id == Mandate.client_id)
                .where(Mandate.carer_id == carer_id, Wallet.id == wallet_id)
            )
        ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return frozenset()
    if row.valid_until is not None and row.valid_until < today:
        return frozenset()
    return frozenset(row.scopes.split())


async def grant_mandate(
    db: Database,
    *,
    carer_id: uuid.UUID,
    client_id: uuid.UUID,
    scopes: tuple[str, ...],
    valid_until: date | None = None,
) -> uuid.UUID:
    async with UnitOfWork(db) as uow:
        m = Mandate(
            carer_id=carer_id,
            client_id=client_id,
            scopes=" ".join(sorted(set(scopes))),
            valid_until=valid_until,
        )
        uow.session.add(m)
        await uow.commit()
        return m.id
