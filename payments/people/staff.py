"""Staff: an organizer's case managers and a provider's staff, managed by their own people.

A case manager with the **admin** right invites new case managers (with or without the admin
right), changes a case manager's admin right and removes a case manager. A provider's
**owner** lists the provider's staff and removes a staff member (inviting one is
:func:`payments.people.invites.invite_staff`). Every check is made here, from the rows as they
are inside the transaction, not from the caller's cached ``Actor``.

Removing someone keeps their row (transfers, decisions and the audit trail name it) and, in the
same transaction, revokes their passkeys, ends their sessions, revokes their API keys and
deletes their push subscriptions; their unused invites can no longer be used
(``invites._invite_may_be_used``). Nobody removes themself, and an organizer keeps at least one
admin (a provider at least one owner): those rows are locked while counted, so two admins
demoting each other at once cannot leave none.

Another organizer's people, and a provider's people to another provider, are rows that do not
exist: ``not-found``, never ``forbidden``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, func, select

from payments.clock import utcnow
from payments.db import Database
from payments.errors import DomainError, Forbidden, InvalidInput, NotFound, Refusal
from payments.models import ApiKey, Invite, Passkey, Principal, ProviderOwner
from payments.people import audit
from payments.people.access import Actor, forget_api_keys
from payments.people.invites import (
    IssuedInvite,
    RevokedCredentials,
    _issue,
    _revoke_credentials,
    owns_provider,
)
from payments.uow import UnitOfWork
from payments.vocabulary import Role


class LastAdmin(DomainError):
    kind = Refusal.CONFLICT
    slug = "last-admin"
    title = "The organizer must keep at least one admin"


class LastOwner(DomainError):
    kind = Refusal.CONFLICT
    slug = "last-owner"
    title = "The provider must keep at least one owner"


class CannotRemoveSelf(DomainError):
    kind = Refusal.CONFLICT
    slug = "staff-remove-self"
    title = "You cannot remove yourself; ask another admin or owner"


class StaffRemoved(DomainError):
    kind = Refusal.CONFLICT
    slug = "staff-removed"
    title = "This person has been removed"


@dataclass(frozen=True)
class StaffMember:
    """One of the organizer's case managers or one of a provider's staff, as their admin or
    owner sees them. ``signed_up``: they have a passkey in use. ``invite_expires_at``: an
    unused invite waits for them until then."""

    principal_id: uuid.UUID
    display_name: str
    admin: bool
    owner: bool
    signed_up: bool
    removed_at: datetime | None
    invite_expires_at: datetime | None
    created_at: datetime


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


async def _admin_row(uow: UnitOfWork, actor: Actor) -> Principal:
    """The actor's own row, if they are a case manager with the admin right today."""
    me = await uow.session.get(Principal, actor.principal_id)
    if (
        me is None
        or me.organizer_id != actor.organizer_id
        or me.role != Role.CASE_MANAGER
        or not me.admin
        or me.removed_at is not None
    ):
        raise Forbidden("Only a case manager with the admin right may manage case managers")
    return me


async def _owner_row(uow: UnitOfWork, actor: Actor) -> Principal:
    """The actor's own row, if they are an owner of their provider today."""
    me = await uow.session.get(Principal, actor.principal_id)
    if (
        me is None
        or me.organizer_id != actor.organizer_id
        or me.role != Role.PROVIDER
        or me.provider_id is None
        or me.removed_at is not None
        or await uow.session.get(ProviderOwner, (me.provider_id, me.id)) is None
    ):
        raise Forbidden("Only the provider's owner may manage its staff")
    return me


async def _case_manager(uow: UnitOfWork, me: Principal, principal_id: uuid.UUID) -> Principal:
    target = await uow.session.get(Principal, principal_id)
    if target is None or target.organizer_id != me.organizer_id or target.role != Role.CASE_MANAGER:
        raise NotFound("No such case manager")
    return target


async def _provider_staff(uow: UnitOfWork, me: Principal, principal_id: uuid.UUID) -> Principal:
    target = await uow.session.get(Principal, principal_id)
    if (
        target is None
        or target.organizer_id != me.organizer_id
        or target.role != Role.PROVIDER
        or target.provider_id != me.provider_id
    ):
        raise NotFound("No such staff member")
    return target


async def _admins_left(uow: UnitOfWork, organizer_id: uuid.UUID, without: uuid.UUID) -> int:
    """Admins of the organizer other than ``without``, their rows locked (PostgreSQL) so a
    concurrent change waits and then counts again."""
    rows = (
        await uow.session.execute(
            select(Principal.id)
            .where(
                Principal.organizer_id == organizer_id,
                Principal.role == Role.CASE_MANAGER,
                Principal.admin.is_(True),
                Principal.removed_at.is_(None),
            )
            .with_for_update()
        )
    ).scalars()
    return sum(1 for pid in rows if pid != without)


async def _owners_left(uow: UnitOfWork, provider_id: uuid.UUID, without: uuid.UUID) -> int:
    rows = (
        await uow.session.execute(
            select(Principal.id)
            .join(ProviderOwner, ProviderOwner.principal_id == Principal.id)
            .where(ProviderOwner.provider_id == provider_id, Principal.removed_at.is_(None))
            .with_for_update(of=Principal)
        )
    ).scalars()
    return sum(1 for pid in rows if pid != without)


async def _list(
    uow: UnitOfWork, *where: ColumnElement[bool], provider_id: uuid.UUID | None
) -> list[StaffMember]:
    now = utcnow()
    has_passkey = (
        select(Passkey.id)
        .where(Passkey.principal_id == Principal.id, Passkey.revoked_at.is_(None))
        .exists()
    )
    invite_until = (
        select(func.max(Invite.expires_at))
        .where(
            Invite.principal_id == Principal.id,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .scalar_subquery()
    )
    owner = (
        select(ProviderOwner.principal_id)
        .where(ProviderOwner.principal_id == Principal.id, ProviderOwner.provider_id == provider_id)
        .exists()
        if provider_id is not None
        else false()
    )
    rows = (
        await uow.session.execute(
            select(
                Principal,
                has_passkey.label("signed_up"),
                invite_until.label("invite_until"),
                owner.label("owner"),
            )
            .where(and_(*where))
            .order_by(Principal.removed_at.is_not(None), Principal.display_name, Principal.id)
        )
    ).all()
    return [
        StaffMember(
            principal_id=p.id,
            display_name=p.display_name,
            admin=p.admin,
            owner=bool(row[3]),
            signed_up=bool(row[1]) and p.removed_at is None,
            removed_at=p.removed_at,
            invite_expires_at=row[2] if p.removed_at is None else None,
            created_at=p.created_at,
        )
        for row in rows
        for p in (row[0],)
    ]


# --- an organizer's case managers -------------------------------------------------------------


async def list_case_managers(db: Database, actor: Actor) -> list[StaffMember]:
    """The organizer's case managers, removed ones last. Admins only."""
    async with UnitOfWork(db, readonly=True) as uow:
        me = await _admin_row(uow, actor)
        return await _list(
            uow,
            Principal.organizer_id == me.organizer_id,
            Principal.role == Role.CASE_MANAGER,
            provider_id=None,
        )


async def invite_case_manager(
    db: Database, actor: Actor, *, display_name: str, admin: bool, validity: timedelta
) -> IssuedInvite:
    """An admin adds a case manager (optionally another admin) and gets their one-time invite.
    Audited as ``staff.added`` and ``invite.created``."""
    name = display_name.strip()
    if not name:
        raise InvalidInput("The case manager's name is required")
    async with UnitOfWork(db) as uow:
        me = await _admin_row(uow, actor)
        person = Principal(
            organizer_id=me.organizer_id,
            role=Role.CASE_MANAGER,
            display_name=name,
            admin=admin,
            created_at=utcnow(),
        )
        uow.session.add(person)
        await uow.session.flush()
        audit.add(
            uow.session,
            "staff.added",
            actor_id=me.id,
            organizer_id=me.organizer_id,
            detail=f"case_manager {person.id}, admin: {_yes(admin)}",
        )
        issued = await _issue(uow, actor, person, validity)
        await uow.commit()
    return issued


async def set_admin(
    db: Database, actor: Actor, principal_id: uuid.UUID, *, admin: bool
) -> StaffMember:
    """Give or take a case manager's admin right (``staff.role_changed``, old → new). The
    organizer keeps at least one admin. Setting what is already there changes nothing."""
    prefixes: tuple[str, ...] = ()
    async with UnitOfWork(db) as uow:
        me = await _admin_row(uow, actor)
        target = await _case_manager(uow, me, principal_id)
        if target.removed_at is not None:
            raise StaffRemoved()
        if target.admin != admin:
            if not admin and await _admins_left(uow, me.organizer_id, without=target.id) == 0:
                raise LastAdmin(
                    "The organizer must keep at least one admin; make someone else an admin first"
                )
            audit.add(
                uow.session,
                "staff.role_changed",
                actor_id=me.id,
                organizer_id=me.organizer_id,
                detail=f"case_manager {target.id}: admin {_yes(target.admin)} → {_yes(admin)}",
            )
            target.admin = admin
            # A key this process trusts carries the old right in its Actor: forget it.
            prefixes = tuple(
                (
                    await uow.session.execute(
                        select(ApiKey.prefix).where(
                            ApiKey.principal_id == target.id, ApiKey.revoked_at.is_(None)
                        )
                    )
                ).scalars()
            )
        await uow.session.flush()
        members = await _list(uow, Principal.id == target.id, provider_id=None)
        await uow.commit()
    forget_api_keys(db, prefixes)
    return members[0]


async def _remove(uow: UnitOfWork, me: Principal, target: Principal) -> RevokedCredentials:
    target.removed_at = utcnow()
    revoked = await _revoke_credentials(uow, target.id)
    audit.add(
        uow.session,
        "staff.removed",
        actor_id=me.id,
        organizer_id=me.organizer_id,
        detail=f"{target.role} {target.id}: {revoked.describe()}",
    )
    return revoked


async def remove_case_manager(db: Database, actor: Actor, principal_id: uuid.UUID) -> bool:
    """Remove a case manager: their row stays, everything that let them act ends at once
    (``staff.removed``). Not oneself, not the last admin. False if they were already removed."""
    async with UnitOfWork(db) as uow:
        me = await _admin_row(uow, actor)
        target = await _case_manager(uow, me, principal_id)
        if target.id == me.id:
            raise CannotRemoveSelf()
        if target.removed_at is not None:
            return False
        if target.admin and await _admins_left(uow, me.organizer_id, without=target.id) == 0:
            raise LastAdmin()
        revoked = await _remove(uow, me, target)
        await uow.commit()
    forget_api_keys(db, revoked.api_key_prefixes)
    return True


# --- a provider's staff -----------------------------------------------------------------------


async def is_provider_owner(db: Database, actor: Actor) -> bool:
    """Whether the actor is an owner of their provider (the app shows them its staff)."""
    if actor.role != Role.PROVIDER:
        return False
    async with UnitOfWork(db, readonly=True) as uow:
        return await owns_provider(uow, actor)


async def list_provider_staff(db: Database, actor: Actor) -> list[StaffMember]:
    """The provider's staff, owners marked, removed ones last. Owners only."""
    async with UnitOfWork(db, readonly=True) as uow:
        me = await _owner_row(uow, actor)
        return await _list(
            uow,
            Principal.organizer_id == me.organizer_id,
            Principal.role == Role.PROVIDER,
            Principal.provider_id == me.provider_id,
            provider_id=me.provider_id,
        )


async def remove_provider_staff(db: Database, actor: Actor, principal_id: uuid.UUID) -> bool:
    """A provider's owner removes a staff member, as :func:`remove_case_manager` does. Not
    oneself, not the last owner. False if they were already removed."""
    async with UnitOfWork(db) as uow:
        me = await _owner_row(uow, actor)
        target = await _provider_staff(uow, me, principal_id)
        if target.id == me.id:
            raise CannotRemoveSelf()
        if target.removed_at is not None:
            return False
        assert me.provider_id is not None
        is_owner = await uow.session.get(ProviderOwner, (me.provider_id, target.id)) is not None
        if is_owner and await _owners_left(uow, me.provider_id, without=target.id) == 0:
            raise LastOwner()
        revoked = await _remove(uow, me, target)
        await uow.commit()
    forget_api_keys(db, revoked.api_key_prefixes)
    return True
