"""Reading the audit trail: a case manager's view of their organizer, and a client's view of
who looked at their data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from payments.clock import utcnow
from payments.db import Database
from payments.errors import Forbidden, NotFound
from payments.ledger.periods import HELSINKI
from payments.models import AuditEvent, Client, Mandate, Principal
from payments.people.access import Actor
from payments.uow import UnitOfWork
from payments.vocabulary import Role


@dataclass(frozen=True)
class AuditEntry:
    id: int
    created_at: datetime
    action: str
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    subject_client_id: uuid.UUID | None
    detail: str | None


def _entries(rows: list[tuple[AuditEvent, Principal | None]], *, detail: bool) -> list[AuditEntry]:
    return [
        AuditEntry(
            id=e.id,
            created_at=e.created_at,
            action=e.action,
            actor_id=e.actor_id,
            actor_name=p.display_name if p else None,
            actor_role=p.role if p else None,
            subject_client_id=e.subject_client_id,
            detail=e.detail if detail else None,
        )
        for e, p in rows
    ]


async def organizer_audit(
    db: Database,
    actor: Actor,
    *,
    client_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """A case manager's query of their organizer's audit trail, newest first.

    Filter by the client it concerns, who acted, or the action (an exact name, or a prefix
    ending in ``.`` such as ``mandate.``); page with ``before_id``.
    """
    if actor.role != Role.CASE_MANAGER:
        raise Forbidden("Only case managers may read the audit trail")
    stmt = (
        select(AuditEvent, Principal)
        .outerjoin(Principal, Principal.id == AuditEvent.actor_id)
        .where(AuditEvent.organizer_id == actor.organizer_id)
    )
    if client_id is not None:
        stmt = stmt.where(AuditEvent.subject_client_id == client_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if action:
        if action.endswith("."):
            stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == action)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(stmt.order_by(AuditEvent.id.desc()).limit(limit))).all()
    return _entries([(e, p) for e, p in rows], detail=True)


async def views_of_client(
    db: Database,
    actor: Actor,
    client_id: uuid.UUID,
    *,
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Who else looked at a client's data, newest first. For the client, and for carers who
    hold ``view`` over them. Details (internal ids) are left out."""
    today = utcnow().astimezone(HELSINKI).date()
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        client = await s.get(Client, client_id)
        if client is None or client.organizer_id != actor.organizer_id:
            raise NotFound("No such client")
        allowed = actor.role == Role.CLIENT and actor.client_id == client_id
        if actor.role == Role.CARER:
            mandate = (
                await s.execute(
                    select(Mandate).where(
                        Mandate.carer_id == actor.principal_id,
                        Mandate.client_id == client_id,
                        Mandate.in_force(today),
                    )
                )
            ).scalar_one_or_none()
            allowed = mandate is not None and "view" in mandate.scopes.split()
        if not allowed:
            raise Forbidden("You may not see who looked at this client's data")
        own = select(Principal.id).where(Principal.client_id == client_id)
        stmt = (
            select(AuditEvent, Principal)
            .outerjoin(Principal, Principal.id == AuditEvent.actor_id)
            .where(
                AuditEvent.subject_client_id == client_id,
                AuditEvent.action.like("%.viewed"),
                or_(AuditEvent.actor_id.is_(None), AuditEvent.actor_id.not_in(own)),
            )
        )
        if before_id is not None:
            stmt = stmt.where(AuditEvent.id < before_id)
        rows = (await s.execute(stmt.order_by(AuditEvent.id.desc()).limit(limit))).all()
    return _entries([(e, p) for e, p in rows], detail=False)
