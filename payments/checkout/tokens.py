"""Client-presented payment tokens: the QR the client's app shows at the door (issue 4).

A token is 192 random bits, shown once (as a QR) and stored only as its SHA-256; a high-entropy
secret needs no slow hash. It comes with an 8-digit code for when the camera fails; the code is
scoped to the organizer and as short-lived as the token, and the web layer rate-limits failed
tries per provider. Presenting the token is the client's consent, so the provider's charge is
captured at once. ``consume`` runs inside the charge's transaction: the conditional UPDATE
makes it single-use (two providers at once: one wins), and a refused charge rolls it back, so
the client can show the same code again.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.errors import InvalidInput, NotFound, TokenInvalid
from payments.models import PaymentToken, Wallet
from payments.uow import UnitOfWork

TOKEN_PREFIX = "hbp_"  # noqa: S105 (a marker, not a secret)
CODE_DIGITS = 8
MAX_TTL_S = 120


@dataclass(frozen=True)
class IssuedToken:
    token: str
    code: str
    wallet_id: uuid.UUID
    expires_at: datetime


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_hash(organizer_id: uuid.UUID, code: str) -> str:
    return _hash(f"code:{organizer_id}:{code}")


async def issue_token(
    db: Database, *, wallet_id: uuid.UUID, created_by: uuid.UUID, ttl_s: int = MAX_TTL_S
) -> IssuedToken:
    """A fresh token for the wallet, valid ``ttl_s`` seconds (at most 120)."""
    if not 10 <= ttl_s <= MAX_TTL_S:
        raise InvalidInput(f"A payment code lives 10-{MAX_TTL_S} seconds")
    now = utcnow().astimezone(UTC)
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    async with UnitOfWork(db) as uow:
        wallet = await uow.session.get(Wallet, wallet_id)
        if wallet is None:
            raise NotFound("No such wallet")
        uow.session.add(
            PaymentToken(
                organizer_id=wallet.organizer_id,
                wallet_id=wallet_id,
                token_hash=_hash(token),
                code_hash=_code_hash(wallet.organizer_id, code),
                created_by=created_by,
                expires_at=now + timedelta(seconds=ttl_s),
                created_at=now,
            )
        )
        await uow.commit()
    return IssuedToken(token, code, wallet_id, now + timedelta(seconds=ttl_s))


def normalise_code(code: str) -> str:
    digits = "".join(ch for ch in code if ch not in " -")
    if len(digits) != CODE_DIGITS or not digits.isdigit():
        raise TokenInvalid()
    return digits


async def consume(
    s: AsyncSession,
    *,
    organizer_id: uuid.UUID,
    token: str | None,
    code: str | None,
    now: datetime,
) -> uuid.UUID:
    """Use up a live token (or its code) of this organizer; return its wallet.

    Unknown, expired, used and foreign tokens all raise the same ``token-invalid``.
    """
    now = now.astimezone(UTC)
    if token is not None:
        match = PaymentToken.token_hash == _hash(token)
    elif code is not None:
        match = PaymentToken.code_hash == _code_hash(organizer_id, normalise_code(code))
    else:
        raise TokenInvalid()
    result = await s.execute(
        update(PaymentToken)
        .execution_options(synchronize_session=False)
        .where(
            match,
            PaymentToken.organizer_id == organizer_id,
            PaymentToken.used_at.is_(None),
            PaymentToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(PaymentToken.wallet_id)
    )
    rows = result.all()
    # Two live codes alike (one in 10^8 per pair) would be ambiguous: refuse, use neither.
    if len(rows) != 1:
        raise TokenInvalid()
    return uuid.UUID(str(rows[0][0]))


async def purge_tokens(db: Database, *, older_than: timedelta = timedelta(days=1)) -> int:
    """Forget tokens long past their time (the scheduler calls this)."""
    cutoff = utcnow().astimezone(UTC) - older_than
    async with UnitOfWork(db) as uow:
        result = await uow.session.execute(
            delete(PaymentToken).where(
                or_(PaymentToken.expires_at < cutoff, PaymentToken.used_at < cutoff)
            )
        )
        await uow.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
