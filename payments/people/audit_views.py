"""Reading the audit trail: a case manager's view of their organizer, and a client's view of
who looked at their data.

A case manager's entries carry names, so the screen can say what happened in words: the
client it concerns, and the provider, the other person (a carer, a case manager) or the QR card
that its ``detail`` names by id or number (``provider <id>``, ``carer <id>``, ``card <n>``).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.errors import Forbidden, NotFound
from payments.ledger.periods import HELSINKI
from payments.models import AuditEvent, Client, Mandate, Principal, Provider
from payments.people.access import Actor
from payments.people.mandates import scopes_of
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
    client_name: str | None = None
    provider_name: str | None = None
    person_name: str | None = None
    person_role: str | None = None
    card_number: str | None = None


# "provider 0b9c…", "carer 0b9c…", "for case_manager 0b9c…": who else an entry concerns.
_NAMED_ID = re.compile(
    r"\b(provider|carer|case_manager|client)\s+"
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"
)
_CARD = re.compile(r"\bcard\s+([0-9A-Za-z-]{4,40})\b")


async def _with_names(s: AsyncSession, entries: list[AuditEntry]) -> list[AuditEntry]:
    """Fill in the names of the client, provider, other person and card each entry concerns
    (one query per kind for the whole page)."""
    clients = {e.subject_client_id for e in entries if e.subject_client_id}
    provider_ref: dict[int, uuid.UUID] = {}
    person_ref: dict[int, uuid.UUID] = {}
    for e in entries:
        for kind, raw in _NAMED_ID.findall(e.detail or ""):
            (provider_ref if kind == "provider" else person_ref).setdefault(e.id, uuid.UUID(raw))
    provider_ids = set(provider_ref.values())
    # A provider's staff member is "provider <principal id>" in some details: a "provider" id
    # that is no provider is looked up among the people.
    person_ids = set(person_ref.values()) | provider_ids
    client_names: dict[uuid.UUID, str] = {}
    if clients:
        client_names = {
            cid: f"{first} {last}"
            for cid, first, last in (
                await s.execute(
                    select(Client.id, Client.first_name, Client.last_name).where(
                        Client.id.in_(clients)
                    )
                )
            ).all()
        }
    providers: dict[uuid.UUID, str] = {}
    if provider_ids:
        rows = await s.execute(
            select(Provider.id, Provider.name).where(Provider.id.in_(provider_ids))
        )
        providers = {pid: name for pid, name in rows.all()}
    people: dict[uuid.UUID, tuple[str, str]] = {}
    if person_ids:
        people = {
            pid: (name, role)
            for pid, name, role in (
                await s.execute(
                    select(Principal.id, Principal.display_name, Principal.role).where(
                        Principal.id.in_(person_ids)
                    )
                )
            ).all()
        }
    out = []
    for e in entries:
        provider = providers.get(provider_ref[e.id]) if e.id in provider_ref else None
        person = people.get(person_ref[e.id]) if e.id in person_ref else None
        if person is None and provider is None and e.id in provider_ref:
            person = people.get(provider_ref[e.id])
        card = _CARD.search(e.detail or "") if e.action.startswith("card.") else None
        out.append(
            replace(
                e,
                client_name=client_names.get(e.subject_client_id) if e.subject_client_id else None,
                provider_name=provider,
                person_name=person[0] if person else None,
                person_role=person[1] if person else None,
                card_number=card.group(1) if card else None,
            )
        )
    return out


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
        return await _with_names(uow.session, _entries([(e, p) for e, p in rows], detail=True))


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
            allowed = mandate is not None and "view" in scopes_of(mandate.scopes)
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
