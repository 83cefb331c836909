"""Signing people in: invites, passkey credentials, sessions, WebAuthn challenges, rate limits.

This module keeps the state and the rules; the WebAuthn cryptography (py_webauthn) runs in the
web layer, which hands verified facts (credential id, public key, sign counter) to these use
cases. Nothing here imports Litestar.

- **Invites** are one-time codes bound to one principal. A code has 50 bits of entropy; only its
  SHA-256 is stored, redemption is rate-limited, and it expires (7 days by default).
- **Challenges** are random, bound to the browser that asked for them (a hash of a ceremony
  cookie, or of the session), expire in 5 minutes and are deleted when used: a replay finds
  nothing.
- **Sessions** are server-side rows found by the hash of the cookie's token. They end after an
  idle timeout, at an absolute limit, or on sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, column, delete, select, table, update
from sqlalchemy.exc import IntegrityError

from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError, Forbidden, InvalidInput, NotFound
from payments.models import (
    AuditEvent,
    Challenge,
    Invite,
    Mandate,
    Organizer,
    Passkey,
    Principal,
    ProviderOwner,
    WebSession,
)
from payments.people.access import (
    SCOPES,
    Actor,
    forget_api_keys,
    normalise_scopes,
    revoke_api_keys_of,
)
from payments.people.ratelimits import RateLimited
from payments.uow import UnitOfWork

__all__ = ["SCOPES", "RateLimited"]

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_LENGTH = 10  # 50 bits
_CODE_FIXES = str.maketrans({"O": "0", "I": "1", "L": "1"})


# ---------------------------------------------------------------------------------- errors


class InviteInvalid(DomainError):
    status = 404
    slug = "invite-invalid"
    title = "This invite code is not valid"


class InviteExpired(DomainError):
    status = 410
    slug = "invite-expired"
    title = "This invite has expired; ask for a new one"


class InviteUsed(DomainError):
    status = 410
    slug = "invite-used"
    title = "This invite has already been used; ask for a new one"


class InviteWrongPerson(DomainError):
    status = 403
    slug = "invite-wrong-person"
    title = "This invite was made for someone else"


class ChallengeInvalid(DomainError):
    status = 400
    slug = "challenge-invalid"
    title = "The sign-in step is unknown or was already used; start again"


class ChallengeExpired(DomainError):
    status = 400
    slug = "challenge-expired"
    title = "The sign-in step took too long; start again"


class PasskeyUnknown(DomainError):
    status = 401
    slug = "passkey-unknown"
    title = "This passkey is not known here"


class PasskeyRevoked(DomainError):
    status = 401
    slug = "passkey-revoked"
    title = "This passkey has been removed"


class PasskeyExists(DomainError):
    status = 409
    slug = "passkey-exists"
    title = "This passkey is already registered"


class LastPasskey(DomainError):
    status = 409
    slug = "last-passkey"
    title = "You cannot remove your only passkey"


# ---------------------------------------------------------------------------------- helpers


def aware(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back; every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """Accept what people type: lower case, dashes, spaces, O for 0 and I or L for 1."""
    return "".join(ch for ch in code.upper() if ch.isalnum()).translate(_CODE_FIXES)


STALE_INVITE = "This invite may no longer be used; ask your case manager for a new one"


def format_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


def _audit(
    uow: UnitOfWork,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    organizer_id: uuid.UUID | None,
    subject_client_id: uuid.UUID | None = None,
    detail: str | None = None,
) -> None:
    uow.session.add(
        AuditEvent(
            action=action,
            actor_id=actor_id,
            organizer_id=organizer_id,
            subject_client_id=subject_client_id,
            detail=detail,
            created_at=utcnow(),
        )
    )


def actor_of(principal: Principal) -> Actor:
    return Actor(
        principal_id=principal.id,
        organizer_id=principal.organizer_id,
        role=principal.role,
        display_name=principal.display_name,
        client_id=principal.client_id,
        provider_id=principal.provider_id,
    )


# ---------------------------------------------------------------------------------- invites


@dataclass(frozen=True)
class IssuedInvite:
    """An invite as its issuer sees it once: the code is never shown again."""

    invite_id: uuid.UUID
    principal_id: uuid.UUID
    display_name: str
    role: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class InviteInfo:
    invite_id: uuid.UUID
    principal_id: uuid.UUID
    organizer_id: uuid.UUID
    organizer_name: str
    role: str
    display_name: str
    expires_at: datetime


async def _is_provider_owner(uow: UnitOfWork, actor: Actor) -> bool:
    if actor.role != "provider" or actor.provider_id is None:
        return False
    row = await uow.session.get(ProviderOwner, (actor.provider_id, actor.principal_id))
    return row is not None


async def _may_reissue(uow: UnitOfWork, actor: Actor, target: Principal) -> bool:
    """Whether ``actor`` may issue a new invite for the existing person ``target``: staff only.

    A case manager for their organizer's clients and carers; a provider's owner for that
    provider's staff. Never a client, carer or anyone for themself: whoever redeems an invite
    *becomes* its person, with every mandate that person holds (DESIGN.md, "Re-issuing").
    """
    if target.organizer_id != actor.organizer_id or target.id == actor.principal_id:
        return False
    if actor.role == "case_manager":
        return target.role in ("client", "carer")
    if actor.role == "provider" and target.role == "provider":
        return target.provider_id == actor.provider_id and await _is_provider_owner(uow, actor)
    return False


async def _invite_may_be_used(uow: UnitOfWork, invite: Invite, target: Principal) -> bool:
    """Checked again when an invite is looked up and when it is used, under today's rules.

    Staff invites (and the command line's) stand. The only other invite is a client's for a
    new carer (:func:`invite_carer`); it stands while that carer is new and the client's
    alone: no passkey was ever registered for them and no other client's mandate names them.
    So neither an invite that a client issued for an existing carer under the old rules, nor
    one whose carer a case manager has since given to another client, can hand the carer's
    account to the client who holds the code.
    """
    if invite.created_by is None:
        return True
    issuer = await uow.session.get(Principal, invite.created_by)
    if issuer is None:
        return False
    if await _may_reissue(uow, actor_of(issuer), target):
        return True
    if issuer.role != "client" or target.role != "carer" or issuer.client_id is None:
        return False
    s = uow.session
    had_passkey = (
        await s.execute(select(Passkey.id).where(Passkey.principal_id == target.id).limit(1))
    ).first()
    others = (
        await s.execute(
            select(Mandate.id)
            .where(
                Mandate.carer_id == target.id,
                Mandate.client_id != issuer.client_id,
                Mandate.revoked_at.is_(None),
            )
            .limit(1)
        )
    ).first()
    return had_passkey is None and others is None


# Web Push subscriptions are a table of ``notifications``, which ``payments`` may not import
# (the boundary runs the other way). A lost phone must stop receiving pushes in the same
# transaction that revokes its passkeys, so the delete names just that table and the one column
# it needs. tests/identity/test_carer_takeover.py checks them against notifications.models.
PUSH_SUBSCRIPTIONS = table("push_subscriptions", column("principal_id", Uuid()))


@dataclass(frozen=True)
class RevokedCredentials:
    passkeys: int
    sessions: int
    api_key_prefixes: tuple[str, ...]
    push_subscriptions: int

    def describe(self) -> str:
        return (
            f"{self.passkeys} passkey(s), {self.sessions} session(s), "
            f"{len(self.api_key_prefixes)} API key(s), "
            f"{self.push_subscriptions} push subscription(s)"
        )


def _count(result: Any) -> int:
    return int(result.rowcount)


async def _revoke_credentials(uow: UnitOfWork, principal_id: uuid.UUID) -> RevokedCredentials:
    """A lost phone: everything that let a device act or be told as this person ends. The
    caller forgets the API keys in this process's cache after commit."""
    now = utcnow()
    s = uow.session
    passkeys = await s.execute(
        update(Passkey)
        .where(Passkey.principal_id == principal_id, Passkey.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    sessions = await s.execute(
        update(WebSession)
        .where(WebSession.principal_id == principal_id, WebSession.ended_at.is_(None))
        .values(ended_at=now)
    )
    prefixes = await revoke_api_keys_of(s, principal_id, now)
    push = await s.execute(
        delete(PUSH_SUBSCRIPTIONS).where(PUSH_SUBSCRIPTIONS.c.principal_id == principal_id)
    )
    return RevokedCredentials(_count(passkeys), _count(sessions), prefixes, _count(push))


async def _issue(
    uow: UnitOfWork,
    actor: Actor | None,
    target: Principal,
    validity: timedelta,
    action: str = "invite.created",
) -> IssuedInvite:
    now = utcnow()
    # A new invite replaces any earlier unused one for the same person.
    await uow.session.execute(
        update(Invite)
        .where(
            Invite.principal_id == target.id,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    code = new_code()
    invite = Invite(
        organizer_id=target.organizer_id,
        principal_id=target.id,
        code_hash=hash_secret(code),
        created_by=actor.principal_id if actor else None,
        created_at=now,
        expires_at=now + validity,
    )
    uow.session.add(invite)
    await uow.session.flush()
    _audit(
        uow,
        action,
        actor_id=actor.principal_id if actor else None,
        organizer_id=target.organizer_id,
        subject_client_id=target.client_id,
        detail=f"for {target.role} {target.id}",
    )
    return IssuedInvite(
        invite_id=invite.id,
        principal_id=target.id,
        display_name=target.display_name,
        role=target.role,
        code=code,
        expires_at=invite.expires_at,
    )


async def create_invite(
    db: Database,
    actor: Actor,
    *,
    principal_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    validity: timedelta,
    revoke_passkeys: bool = False,
) -> IssuedInvite:
    """Issue a one-time invite for an existing person (a client's first, or a lost phone).

    Staff only (:func:`_may_reissue`): a case manager for their organizer's clients and
    carers, a provider's owner for that provider's staff. A client adds a carer only through
    :func:`invite_carer`, which always creates a new one. Audited as ``invite.created`` for a
    person who never had a passkey, else ``invite.reissued``. With ``revoke_passkeys`` (a lost
    phone) the person's passkeys are revoked, sessions ended, API keys revoked and push
    subscriptions deleted, in the same transaction (``credentials.revoked``).
    """
    async with UnitOfWork(db) as uow:
        s = uow.session
        if client_id is not None:
            target = (
                await s.execute(
                    select(Principal).where(
                        Principal.client_id == client_id, Principal.role == "client"
                    )
                )
            ).scalar_one_or_none()
        elif principal_id is not None:
            target = await s.get(Principal, principal_id)
        else:
            raise InvalidInput("Give principal_id or client_id")
        if target is None or target.organizer_id != actor.organizer_id:
            raise NotFound("No such person")
        if not await _may_reissue(uow, actor, target):
            raise Forbidden("Only staff may issue a new invite for an existing person")
        had_passkey = (
            await s.execute(select(Passkey.id).where(Passkey.principal_id == target.id).limit(1))
        ).first()
        revoked: RevokedCredentials | None = None
        if revoke_passkeys:
            revoked = await _revoke_credentials(uow, target.id)
            _audit(
                uow,
                "credentials.revoked",
                actor_id=actor.principal_id,
                organizer_id=target.organizer_id,
                subject_client_id=target.client_id,
                detail=f"{target.role} {target.id}: {revoked.describe()}",
            )
        action = "invite.created" if had_passkey is None else "invite.reissued"
        issued = await _issue(uow, actor, target, validity, action)
        await uow.commit()
    if revoked is not None:
        forget_api_keys(db, revoked.api_key_prefixes)
    return issued


async def invite_carer(
    db: Database,
    actor: Actor,
    *,
    client_id: uuid.UUID,
    display_name: str,
    scopes: tuple[str, ...],
    valid_until: date | None,
    validity: timedelta,
) -> IssuedInvite:
    """A client (for themself) or a case manager creates a *new* carer with a mandate in force
    and an invite. The only invite a client can issue."""
    name = display_name.strip()
    if not name:
        raise InvalidInput("The carer's name is required")
    normalised = normalise_scopes(scopes)
    async with UnitOfWork(db) as uow:
        s = uow.session
        client_principal = (
            await s.execute(
                select(Principal).where(
                    Principal.client_id == client_id, Principal.role == "client"
                )
            )
        ).scalar_one_or_none()
        if client_principal is None or client_principal.organizer_id != actor.organizer_id:
            raise NotFound("No such client")
        if not (
            actor.role == "case_manager"
            or (actor.role == "client" and actor.client_id == client_id)
        ):
            raise Forbidden("Only the client or a case manager may invite a carer")
        now = utcnow()
        carer = Principal(
            organizer_id=actor.organizer_id, role="carer", display_name=name, created_at=now
        )
        s.add(carer)
        await s.flush()
        # A new person: the carer accepts this mandate by redeeming the invite.
        s.add(
            Mandate(
                carer_id=carer.id,
                client_id=client_id,
                scopes=normalised,
                valid_until=valid_until,
                accepted_at=now,
            )
        )
        _audit(
            uow,
            "mandate.granted",
            actor_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            subject_client_id=client_id,
            detail=f"carer {carer.id}: {normalised}"
            + (f" until {valid_until}" if valid_until else ""),
        )
        issued = await _issue(uow, actor, carer, validity)
        await uow.commit()
    return issued


async def invite_staff(
    db: Database, actor: Actor, *, display_name: str, owner: bool, validity: timedelta
) -> IssuedInvite:
    """A provider's owner adds a staff member (optionally another owner) and invites them."""
    name = display_name.strip()
    if not name:
        raise InvalidInput("The staff member's name is required")
    async with UnitOfWork(db) as uow:
        if not await _is_provider_owner(uow, actor):
            raise Forbidden("Only the provider's owner may invite staff")
        staff = Principal(
            organizer_id=actor.organizer_id,
            role="provider",
            display_name=name,
            provider_id=actor.provider_id,
            created_at=utcnow(),
        )
        uow.session.add(staff)
        await uow.session.flush()
        if owner:
            assert actor.provider_id is not None
            uow.session.add(ProviderOwner(provider_id=actor.provider_id, principal_id=staff.id))
        issued = await _issue(uow, actor, staff, validity)
        await uow.commit()
    return issued


async def lookup_invite(db: Database, code: str) -> InviteInfo:
    """The invite behind a code, if it can still be used (else invalid, expired or used)."""
    normalised = normalise_code(code)
    if len(normalised) != CODE_LENGTH:
        raise InviteInvalid()
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(Invite, Principal, Organizer)
                .join(Principal, Principal.id == Invite.principal_id)
                .join(Organizer, Organizer.id == Invite.organizer_id)
                .where(Invite.code_hash == hash_secret(normalised))
            )
        ).first()
        if row is None:
            raise InviteInvalid()
        invite, principal, organizer = row
        if invite.used_at is not None:
            raise InviteUsed()
        if invite.revoked_at is not None:
            raise InviteInvalid("This invite was replaced by a newer one")
        if aware(invite.expires_at) <= utcnow():
            raise InviteExpired()
        if not await _invite_may_be_used(uow, invite, principal):
            raise InviteInvalid(STALE_INVITE)
    return InviteInfo(
        invite_id=invite.id,
        principal_id=principal.id,
        organizer_id=organizer.id,
        organizer_name=organizer.name,
        role=principal.role,
        display_name=principal.display_name,
        expires_at=aware(invite.expires_at),
    )


# ---------------------------------------------------------------------------------- challenges


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
    if aware(row.expires_at) <= utcnow():
        raise ChallengeExpired()
    return TakenChallenge(
        purpose=row.purpose,
        challenge=row.challenge,
        principal_id=row.principal_id,
        invite_id=row.invite_id,
        user_handle=row.user_handle,
        payload=row.payload,
    )


# ---------------------------------------------------------------------------------- passkeys


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
        if aware(invite.expires_at) <= utcnow():
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
        _audit(
            uow,
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
        _audit(
            uow,
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
            created_at=aware(p.created_at),
            last_used_at=aware(p.last_used_at) if p.last_used_at else None,
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
        _audit(
            uow,
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


# ---------------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SessionInfo:
    """What the PWA needs to warn before a session ends."""

    session_id: uuid.UUID
    csrf_token: str
    idle_timeout_s: int
    idle_expires_at: datetime
    expires_at: datetime

    def seconds_left(self, now: datetime) -> int:
        return max(0, int((min(self.idle_expires_at, self.expires_at) - now).total_seconds()))


@dataclass(frozen=True)
class NewSession:
    token: str
    actor: Actor
    info: SessionInfo


@dataclass(frozen=True)
class SessionLookup:
    """A live session's actor, or ``expired`` when the cookie named an ended session."""

    actor: Actor | None
    info: SessionInfo | None
    expired: bool


def _info(row: WebSession) -> SessionInfo:
    last_seen = aware(row.last_seen_at)
    return SessionInfo(
        session_id=row.id,
        csrf_token=row.csrf_token,
        idle_timeout_s=row.idle_timeout_s,
        idle_expires_at=last_seen + timedelta(seconds=row.idle_timeout_s),
        expires_at=aware(row.expires_at),
    )


async def sign_in(
    db: Database,
    *,
    passkey: StoredPasskey,
    new_sign_count: int,
    idle_timeout: timedelta,
    max_age: timedelta,
    detail: str | None = None,
) -> NewSession:
    """Start a session after a verified assertion. The sign counter is stored; a decrease is
    audited (it may mean a cloned key) but never refused, since synced passkeys send 0."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    async with UnitOfWork(db) as uow:
        s = uow.session
        principal = await s.get(Principal, passkey.principal_id)
        if principal is None:
            raise PasskeyUnknown()
        if new_sign_count < passkey.sign_count and (new_sign_count or passkey.sign_count):
            _audit(
                uow,
                "passkey.counter_decreased",
                actor_id=principal.id,
                organizer_id=principal.organizer_id,
                subject_client_id=principal.client_id,
                detail=f"passkey {passkey.id}: {passkey.sign_count} -> {new_sign_count}",
            )
        await s.execute(
            update(Passkey)
            .where(Passkey.id == passkey.id)
            .values(sign_count=new_sign_count, last_used_at=now)
        )
        row = WebSession(
            token_hash=hash_secret(token),
            principal_id=principal.id,
            passkey_id=passkey.id,
            csrf_token=secrets.token_urlsafe(24),
            idle_timeout_s=int(idle_timeout.total_seconds()),
            created_at=now,
            last_seen_at=now,
            expires_at=now + max_age,
        )
        s.add(row)
        await s.flush()
        _audit(
            uow,
            "signin.succeeded",
            actor_id=principal.id,
            organizer_id=principal.organizer_id,
            subject_client_id=principal.client_id,
            detail=detail or f"passkey {passkey.id}",
        )
        await uow.commit()
        return NewSession(token=token, actor=actor_of(principal), info=_info(row))


async def authenticate_session(
    db: Database, token: str, *, touch: bool = True, touch_every_s: int = 15
) -> SessionLookup:
    """The actor behind a session cookie. Using it (``touch``) restarts the idle clock; the
    row is written at most every ``touch_every_s`` seconds so reads stay cheap."""
    now = utcnow()
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(WebSession, Principal)
                .join(Principal, Principal.id == WebSession.principal_id)
                .where(WebSession.token_hash == hash_secret(token))
            )
        ).first()
    if row is None:
        return SessionLookup(None, None, expired=True)
    session, principal = row
    info = _info(session)
    if session.ended_at is not None or info.seconds_left(now) <= 0:
        return SessionLookup(None, None, expired=True)
    if touch and (now - aware(session.last_seen_at)).total_seconds() >= touch_every_s:
        async with UnitOfWork(db) as uow:
            await uow.session.execute(
                update(WebSession)
                .where(WebSession.id == session.id, WebSession.ended_at.is_(None))
                .values(last_seen_at=now)
            )
            await uow.commit()
        session.last_seen_at = now
        info = _info(session)
    return SessionLookup(actor_of(principal), info, expired=False)


async def end_session(db: Database, session_id: uuid.UUID, actor: Actor) -> None:
    """Sign out: the session ends on the server, whatever the browser keeps."""
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(WebSession)
            .where(WebSession.id == session_id, WebSession.ended_at.is_(None))
            .values(ended_at=utcnow())
        )
        _audit(
            uow,
            "signout",
            actor_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            subject_client_id=actor.client_id,
        )
        await uow.commit()


def csrf_matches(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())
