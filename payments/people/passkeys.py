"""Passkey credentials: the verified facts the web layer hands over after a WebAuthn ceremony
(credential id, public key, sign counter), a person's list of passkeys, redeeming an invite
with a new one, and removing one (never the last)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError, NotFound, Refusal
from payments.models import (
    Invite,
    Passkey,
    Principal,
    WebSession,
)
from payments.people import audit
from payments.people.access import Actor
from payments.people.invites import (
    STALE_INVITE,
    InviteExpired,
    InviteInvalid,
    InviteUsed,
    InviteWrongPerson,
    _invite_may_be_used,
)
from payments.uow import UnitOfWork


class PasskeyUnknown(DomainError):
    kind = Refusal.UNAUTHENTICATED
    slug = "passkey-unknown"
    title = "This passkey is not known here"


class PasskeyRevoked(DomainError):
    kind = Refusal.UNAUTHENTICATED
    slug = "passkey-revoked"
    title = "This passkey has been removed"


class PasskeyExists(DomainError):
    kind = Refusal.CONFLICT
    slug = "passkey-exists"
    title = "This passkey is already registered"


class LastPasskey(DomainError):
    kind = Refusal.CONFLICT
    slug = "last-passkey"
    title = "You cannot remove your only passkey"


@dataclass(frozen=True)
class NewCredential:
    """A credential that the web layer has verified (attestation, origin, RP id, UV)."""

    credential_id: str
    public_key: bytes
    sign_count: int
    name: str
    transports: str | None = None
    backed_up: bool = False


@dataclass(frozen=True)
class PasskeyInfo:
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool


@dataclass(frozen=True)
class StoredPasskey:
    id: uuid.UUID
    principal_id: uuid.UUID
    public_key: bytes
    sign_count: int


def _add_passkey(uow: UnitOfWork, principal_id: uuid.UUID, cred: NewCredential) -> Passkey:
    name = cred.name.strip()[:100] or "Passkey"
    passkey = Passkey(
        principal_id=principal_id,
        credential_id=cred.credential_id,
        public_key=cred.public_key,
        sign_count=cred.sign_count,
        name=name,
        transports=cred.transports,
        backed_up=cred.backed_up,
        created_at=utcnow(),
    )
    uow.session.add(passkey)
    return passkey


async def _flush_passkey(uow: UnitOfWork) -> None:
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise PasskeyExists() from exc


async def add_first_passkey(uow: UnitOfWork, principal_id: uuid.UUID, cred: NewCredential) -> None:
    """Give a principal created in ``uow`` its first passkey (a provider applying in the app)."""
    _add_passkey(uow, principal_id, cred)
    await _flush_passkey(uow)


async def redeem_invite(
    db: Database, *, invite_id: uuid.UUID, principal_id: uuid.UUID, credential: NewCredential
) -> uuid.UUID:
    """Use an invite once: the verified passkey becomes its person's. Returns the passkey id."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        invite = await s.get(Invite, invite_id)
        if invite is None or invite.principal_id != principal_id:
            raise InviteWrongPerson()
        if invite.revoked_at is not None:
            raise InviteInvalid("This invite was replaced by a newer one")
        if invite.expires_at <= utcnow():
            raise InviteExpired()
        used = await s.execute(
            update(Invite)
            .where(Invite.id == invite_id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
            .values(used_at=utcnow())
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise InviteUsed()
        # Locked until commit, so a case manager's grant to this carer cannot slip in between
        # the check below and the passkey (PostgreSQL; SQLite's writers take turns anyway).
        principal = (
            await s.execute(select(Principal).where(Principal.id == principal_id).with_for_update())
        ).scalar_one()
        if not await _invite_may_be_used(uow, invite, principal):
            raise InviteInvalid(STALE_INVITE)
        passkey = _add_passkey(uow, principal_id, credential)
        await _flush_passkey(uow)
        audit.add(
            uow.session,
            "invite.redeemed",
            actor_id=principal_id,
            organizer_id=principal.organizer_id,
            subject_client_id=principal.client_id,
            detail=f"passkey {passkey.id}",
        )
        await uow.commit()
        return passkey.id


async def add_passkey(db: Database, actor: Actor, credential: NewCredential) -> uuid.UUID:
    """A signed-in person adds another passkey (a second phone, a security key)."""
    async with UnitOfWork(db) as uow:
        passkey = _add_passkey(uow, actor.principal_id, credential)
        await _flush_passkey(uow)
        audit.add(
            uow.session,
            "passkey.added",
            actor_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            subject_client_id=actor.client_id,
            detail=f"passkey {passkey.id}",
        )
        await uow.commit()
        return passkey.id


async def list_passkeys(db: Database, principal_id: uuid.UUID) -> list[PasskeyInfo]:
    """A person's active passkeys, oldest first."""
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            (
                await uow.session.execute(
                    select(Passkey)
                    .where(Passkey.principal_id == principal_id, Passkey.revoked_at.is_(None))
                    .order_by(Passkey.created_at, Passkey.id)
                )
            )
            .scalars()
            .all()
        )
    return [
        PasskeyInfo(
            id=p.id,
            name=p.name,
            created_at=p.created_at,
            last_used_at=p.last_used_at if p.last_used_at else None,
            backed_up=p.backed_up,
        )
        for p in rows
    ]


async def remove_passkey(db: Database, actor: Actor, passkey_id: uuid.UUID) -> None:
    """Remove one of your own passkeys; the last one stays (ask for an invite instead)."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        passkey = await s.get(Passkey, passkey_id)
        if passkey is None or passkey.principal_id != actor.principal_id or passkey.revoked_at:
            raise NotFound("No such passkey")
        active = (
            (
                await s.execute(
                    select(Passkey.id).where(
                        Passkey.principal_id == actor.principal_id, Passkey.revoked_at.is_(None)
                    )
                )
            )
            .scalars()
            .all()
        )
        if len(active) <= 1:
            raise LastPasskey()
        passkey.revoked_at = utcnow()
        await s.execute(
            update(WebSession)
            .where(WebSession.passkey_id == passkey_id, WebSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
        audit.add(
            uow.session,
            "passkey.removed",
            actor_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            subject_client_id=actor.client_id,
            detail=f"passkey {passkey_id}",
        )
        await uow.commit()


async def find_passkey(db: Database, credential_id: str) -> StoredPasskey:
    """The stored passkey for a credential id (unknown and revoked ones are refused)."""
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(select(Passkey).where(Passkey.credential_id == credential_id))
        ).scalar_one_or_none()
    if row is None:
        raise PasskeyUnknown()
    if row.revoked_at is not None:
        raise PasskeyRevoked()
    return StoredPasskey(row.id, row.principal_id, row.public_key, row.sign_count)
