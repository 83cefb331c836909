"""Small reads for the people using the app: the catalogue, and the wallets one may act on."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from payments.clock import utcnow
from payments.db import Database
from payments.errors import NotFound
from payments.ledger.periods import HELSINKI
from payments.models import Client, Mandate, Organizer, ServiceCategory, Wallet
from payments.people.access import Actor
from payments.uow import UnitOfWork
from payments.vocabulary import Role


async def county_for_applicants(db: Database, slug: str, language: str) -> dict[str, Any]:
    """What a provider needs to fill in an application: the county's name and its services
    with their units and price caps (public: nothing in it is about a person)."""
    async with UnitOfWork(db, readonly=True) as uow:
        org = (
            await uow.session.execute(select(Organizer).where(Organizer.slug == slug))
        ).scalar_one_or_none()
    if org is None:
        raise NotFound("No such organizer")
    return {
        "organizer": org.slug,
        "name": org.name,
        "services": await list_categories(db, org.id, language),
    }


async def list_categories(
    db: Database, organizer_id: uuid.UUID, language: str
) -> list[dict[str, Any]]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            (
                await uow.session.execute(
                    select(ServiceCategory)
                    .where(ServiceCategory.organizer_id == organizer_id)
                    .order_by(ServiceCategory.code)
                )
            )
            .scalars()
            .all()
        )
    name = {"fi": "name_fi", "sv": "name_sv", "en": "name_en"}.get(language, "name_fi")
    return [
        {
            "code": c.code,
            "name": getattr(c, name),
            "unit": c.unit,
            "price_cap_cents": c.price_cap_cents,
            "groups": c.groups.split(),
        }
        for c in rows
    ]


async def wallets_for(db: Database, actor: Actor) -> list[uuid.UUID]:
    """The wallets this person may act on: their own, or those they hold a live mandate for."""
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        if actor.role == Role.CLIENT:
            stmt = select(Wallet.id).where(Wallet.client_id == actor.client_id)
        elif actor.role == Role.CARER:
            today = utcnow().astimezone(HELSINKI).date()
            stmt = (
                select(Wallet.id)
                .join(Mandate, Mandate.client_id == Wallet.client_id)
                .where(Mandate.carer_id == actor.principal_id, Mandate.in_force(today))
                # One order every reader shares (the mandate in force longest first): /api/me
                # lists these, and /api/me/wallet answers the first, which the app matches.
                .order_by(Mandate.accepted_at, Wallet.id)
            )
        else:
            return []
        return list((await s.execute(stmt)).scalars().all())


async def client_in_organizer(db: Database, client_id: uuid.UUID, organizer_id: uuid.UUID) -> bool:
    async with UnitOfWork(db, readonly=True) as uow:
        found = (
            await uow.session.execute(
                select(Client.id).where(Client.id == client_id, Client.organizer_id == organizer_id)
            )
        ).first()
    return found is not None
