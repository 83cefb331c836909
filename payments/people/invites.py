"""Invites: one-time codes that let a person register a passkey.

A code has 50 bits of entropy (Crockford base32, typed forgivingly); only its SHA-256 is
stored, redemption is rate-limited by the web layer, and it expires (7 days by default). A new
invite for someone who already had a passkey is a re-issue (a lost phone): staff only, and
with ``revoke_passkeys`` it ends everything that let a device act or be told as that person.
A client's own invite only ever creates a new carer.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, column, delete, select, table, update

from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError, Forbidden, InvalidInput, NotFound, Refusal
from payments.models import (
    Invite,
    Mandate,
    Organizer,
    Passkey,
    Principal,
    ProviderOwner,
    WebSession,
)
from payments.people import audit
from payments.people.access import Actor, actor_of, forget_api_keys, revoke_api_keys_of
from payments.people.mandates import normalise_scopes
from payments.people.secrets import hash_secret
from payments.uow import UnitOfWork
from payments.vocabulary import Role

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
CODE_LENGTH = 10  # 50 bits
_CODE_FIXES = str.maketrans({"O": "0", "I": "1", "L": "1"})


class InviteInvalid(DomainError):
    kind = Refusal.NOT_FOUND
    slug = "invite-invalid"
    title = "This invite code is not valid"


class InviteExpired(DomainError):
    kind = Refusal.GONE
    slug = "invite-expired"
    title = "This invite has expired; ask for a new one"


class InviteUsed(DomainError):
    kind = Refusal.GONE
    slug = "invite-used"
    title = "This invite has already been used; ask for a new one"


class InviteWrongPerson(DomainError):
    kind = Refusal.FORBIDDEN
    slug = "invite-wrong-person"
    title = "This invite was made for someone else"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """Accept what people type: lower case, dashes, spaces, O for 0 and I or L for 1."""
    return "".join(ch for ch in code.upper() if ch.isalnum()).translate(_CODE_FIXES)


STALE_INVITE = "This invite may no longer be used; ask your case manager for a new one"


def format_code(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


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


async def owns_provider(uow: UnitOfWork, actor: Actor) -> bool:
    """Whether the actor is an owner of their provider (may invite and remove its staff)."""
    if actor.role != Role.PROVIDER or actor.provider_id is None:
        return False
    row = await uow.session.get(ProviderOwner, (actor.provider_id, actor.principal_id))
    return row is not None


async def _may_reissue(uow: UnitOfWork, actor: Actor, target: Principal) -> bool:
    """Whether ``actor`` may issue a new invite for the existing person ``target``: staff only.

    A case manager for their organizer's clients and carers, and one with the admin right
    for its case managers; a provider's owner for that provider's staff. Never a client, carer
    or anyone for themself: whoever redeems an invite *becomes* its person, with every mandate
    that person holds (DESIGN.md, "Re-issuing"). Nobody removed, on either side; the admin
    right is read from the issuer's row as it is now.
    """
    if target.organizer_id != actor.organizer_id or target.id == actor.principal_id:
        return False
    if target.removed_at is not None:
        return False
    issuer = await uow.session.get(Principal, actor.principal_id)
    if issuer is None or issuer.removed_at is not None:
        return False
    if actor.role == Role.CASE_MANAGER:
        if target.role == Role.CASE_MANAGER:
            return issuer.admin
        return target.role in (Role.CLIENT, Role.CARER)
    if actor.role == Role.PROVIDER and target.role == Role.PROVIDER:
        return target.provider_id == actor.provider_id and await owns_provider(uow, actor)
    return False


async def _invite_may_be_used(uow: UnitOfWork, invite: Invite, target: Principal) -> bool:
    """Checked again when an invite is looked up and when it is used, under today's rules.

    Staff invites (and the command line's) stand. The only other invite is a client's for a
    new carer (:func:`invite_carer`); it stands while that carer is new and the client's
    alone: no passkey was ever registered for them and no other client's mandate names them.
    So neither an invite that a client issued for an existing carer under the old rules, nor
    one whose carer a case manager has since given to another client, can hand the carer's
    account to the client who holds the code. A removed person's invites never stand.
    """
    if target.removed_at is not None:
        return False
    if invite.created_by is None:
        return True
    issuer = await uow.session.get(Principal, invite.created_by)
    if issuer is None:
        return False
    if await _may_reissue(uow, actor_of(issuer), target):
        return True
    if issuer.role != Role.CLIENT or target.role != Role.CARER or issuer.client_id is None:
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
    audit.add(
        uow.session,
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
                        Principal.client_id == client_id, Principal.role == Role.CLIENT
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
            audit.add(
                uow.session,
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


async def issue_invite_for(
    db: Database, principal_id: uuid.UUID, validity: timedelta
) -> IssuedInvite:
    """An invite issued by no one: for the command line and ``wallet demo`` only, never a
    web route (whoever runs them already holds the database). Any person of any role,
    including a case manager or a provider's staff member, whom no web path may invite.
    Replaces the person's earlier unused invite; audited as ``invite.created`` (or
    ``invite.reissued`` for someone who had a passkey) with no actor. A removed person is
    refused."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        target = await s.get(Principal, principal_id)
        if target is None:
            raise NotFound("No such person")
        if target.removed_at is not None:
            raise Forbidden("This person has been removed")
        had_passkey = (
            await s.execute(select(Passkey.id).where(Passkey.principal_id == target.id).limit(1))
        ).first()
        action = "invite.created" if had_passkey is None else "invite.reissued"
        issued = await _issue(uow, None, target, validity, action)
        await uow.commit()
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
                    Principal.client_id == client_id, Principal.role == Role.CLIENT
                )
            )
        ).scalar_one_or_none()
        if client_principal is None or client_principal.organizer_id != actor.organizer_id:
            raise NotFound("No such client")
        if not (
            actor.role == Role.CASE_MANAGER
            or (actor.role == Role.CLIENT and actor.client_id == client_id)
        ):
            raise Forbidden("Only the client or a case manager may invite a carer")
        now = utcnow()
        carer = Principal(
            organizer_id=actor.organizer_id, role=Role.CARER, display_name=name, created_at=now
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
        audit.add(
            uow.session,
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
        if not await owns_provider(uow, actor):
            raise Forbidden("Only the provider's owner may invite staff")
        staff = Principal(
            organizer_id=actor.organizer_id,
            role=Role.PROVIDER,
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
        if invite.expires_at <= utcnow():
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
        expires_at=invite.expires_at,
    )


async def invite_first_staff(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    display_name: str,
    admin: bool,
    validity: timedelta,
) -> IssuedInvite:
    """A new case manager (an admin with ``admin``) for an organizer, and their one-time invite.

    For the operator at the command line (``wallet invite``): no one signed in issues it, so
    the invite's ``created_by`` is None like every command-line invite. This is how a county's
    first admin gets in; later staff are invited in the app. Audited as ``staff.created`` and
    ``invite.created``.
    """
    name = display_name.strip()
    if not name:
        raise InvalidInput("The person's name is required")
    if len(name) > 200:
        raise InvalidInput("A name has at most 200 characters")
    unfit = "\x7f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # and below 0x20
    if any(ord(ch) < 0x20 or ch in unfit for ch in name):
        raise InvalidInput("A name may not contain control or text-direction characters")
    if not timedelta(0) < validity <= timedelta(days=30):
        raise InvalidInput("An invite is valid for more than 0 and at most 30 days")
    async with UnitOfWork(db) as uow:
        if await uow.session.get(Organizer, organizer_id) is None:
            raise NotFound("No such organizer")
        person = Principal(
            organizer_id=organizer_id,
            role=Role.CASE_MANAGER,
            display_name=name,
            admin=admin,
            created_at=utcnow(),
        )
        uow.session.add(person)
        await uow.session.flush()
        audit.add(
            uow.session,
            "staff.created",
            actor_id=None,
            organizer_id=organizer_id,
            detail=f"case_manager {person.id}"
            + (" (admin)" if admin else "")
            + " from the command line",
        )
        issued = await _issue(uow, None, person, validity)
        await uow.commit()
    return issued
