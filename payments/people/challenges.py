"""WebAuthn challenges: random, bound to the browser that asked for them (a hash of a ceremony
cookie, or of the session), valid for 5 minutes and deleted when used, so a replay finds
nothing. The cryptography runs in the web layer (py_webauthn)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError, Refusal
from payments.models import (
    Challenge,
)
from payments.people.secrets import hash_secret
from payments.uow import UnitOfWork


class ChallengeInvalid(DomainError):
    kind = Refusal.INVALID
    slug = "challenge-invalid"
    title = "The sign-in step is unknown or was already used; start again"


class ChallengeExpired(DomainError):
    kind = Refusal.INVALID
    slug = "challenge-expired"
    title = "The sign-in step took too long; start again"


@dataclass(frozen=True)
class TakenChallenge:
    purpose: str
    challenge: str
    principal_id: uuid.UUID | None
    invite_id: uuid.UUID | None
    user_handle: str | None
    payload: dict[str, Any] | None


async def save_challenge(
    db: Database,
    *,
    binding: str,
    purpose: str,
    challenge: str,
    ttl: timedelta,
    principal_id: uuid.UUID | None = None,
    invite_id: uuid.UUID | None = None,
    user_handle: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Keep a ceremony's challenge until it is used or expires (old ones are swept here)."""
    now = utcnow()
    async with UnitOfWork(db) as uow:
        await uow.session.execute(delete(Challenge).where(Challenge.expires_at < now))
        uow.session.add(
            Challenge(
                binding_hash=hash_secret(binding),
                purpose=purpose,
                challenge=challenge,
                principal_id=principal_id,
                invite_id=invite_id,
                user_handle=user_handle,
                payload=payload,
                created_at=now,
                expires_at=now + ttl,
            )
        )
        await uow.commit()


async def take_challenge(
    db: Database, *, binding: str, purpose: str, challenge: str
) -> TakenChallenge:
    """Use a challenge once. Unknown, replayed or asked for by another browser: invalid."""
    async with UnitOfWork(db) as uow:
        row = (
            await uow.session.execute(
                select(Challenge).where(
                    Challenge.binding_hash == hash_secret(binding),
                    Challenge.purpose == purpose,
                    Challenge.challenge == challenge,
                )
            )
        ).scalar_one_or_none()
        if row is None:
            raise ChallengeInvalid()
        deleted = await uow.session.execute(delete(Challenge).where(Challenge.id == row.id))
        if deleted.rowcount != 1:  # type: ignore[attr-defined]
            raise ChallengeInvalid()
        await uow.commit()
    if row.expires_at <= utcnow():
        raise ChallengeExpired()
    return TakenChallenge(
        purpose=row.purpose,
        challenge=row.challenge,
        principal_id=row.principal_id,
        invite_id=row.invite_id,
        user_handle=row.user_handle,
        payload=row.payload,
    )
