"""Mandates: a carer's rights over a client's wallet, with scopes (view, approve, manage
trusted providers) and an optional last day.

A client's mandate to an existing carer waits for that carer to accept it (the carer might
otherwise be made to act for someone they never agreed to); a case manager's grant takes
effect at once. Every read that authorizes or notifies uses :meth:`Mandate.in_force`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Literal

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from payments.clock import utcnow
from payments.db import Database
from payments.errors import ClientClosed, Forbidden, InvalidInput, NotFound
from payments.ledger.periods import HELSINKI
from payments.models import AuditEvent, Client, Mandate, Principal, Wallet
from payments.people.access import Actor
from payments.uow import UnitOfWork
from payments.vocabulary import Role

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


def scopes_of(stored: str | None) -> frozenset[str]:
    """A mandate's scopes as stored (space-separated words, as granted): the one place that
    reads them for every check of what a carer may do or see, and for the views of a mandate
    (sorted, as :func:`normalise_scopes` stores them). The access export, a layer below,
    lists the stored words as they are."""
    return frozenset(stored.split()) if stored else frozenset()


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
    return scopes_of(scopes)


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
    if actor.role == Role.CASE_MANAGER or (
        actor.role == Role.CLIENT and actor.client_id == client_id
    ):
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
    if carer is None or carer.role != Role.CARER or carer.organizer_id != actor.organizer_id:
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
    staff = actor.role == Role.CASE_MANAGER
    async with UnitOfWork(db) as uow:
        s = uow.session
        client = await _client_for_mandates(uow, actor, client_id)
        if client.closed_at is not None:  # payments.budgets.closing ended every mandate
            raise ClientClosed()
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
            if actor.role == Role.CASE_MANAGER:
                s.add(
                    AuditEvent(
                        organizer_id=actor.organizer_id,
                        actor_id=actor.principal_id,
                        action="mandates.viewed",
                        subject_client_id=client_id,
                        created_at=utcnow(),
                    )
                )
        elif actor.role == Role.CARER:
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
        scopes=tuple(sorted(scopes_of(m.scopes))),
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
    if actor.role != Role.CARER:
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
    if actor.role != Role.CARER:
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
