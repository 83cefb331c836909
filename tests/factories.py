"""A small, realistic organizer to test against: categories, providers, a client, a decision."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from payments import catalogue
from payments.access import create_api_key
from payments.catalogue import DecisionLineInput
from payments.db import Database
from payments.funding import fund_period
from payments.periods import current_period, first_day


@dataclass
class World:
    organizer_id: uuid.UUID
    provider_id: uuid.UUID
    provider_principal: uuid.UUID
    other_provider_id: uuid.UUID
    other_provider_principal: uuid.UUID
    client_id: uuid.UUID
    wallet_id: uuid.UUID
    client_principal: uuid.UUID
    case_manager: uuid.UUID
    phone: str
    period: str


async def seed_world(
    db: Database,
    *,
    monthly_cents: int = 30_000,
    fund: bool = True,
    carry_over: str = "none",
    carry_cap_cents: int = 0,
    valid_from: date | None = None,
    phone: str = "040 123 4567",
) -> World:
    """One county, two providers, one client with a 'cleaning + home help' line.

    Home help 'kotiapu' (hour, cap 45 EUR), cleaning 'siivous' (hour, cap 40 EUR),
    transport 'kuljetus' (trip), carer's leave 'omaishoidon-vapaa' (day).
    """
    period = current_period()
    org = await catalogue.create_organizer(db, slug=f"kainuu-{uuid.uuid4().hex[:6]}", name="Kainuu")
    for code, fi, unit, cap in (
        ("kotiapu", "Kotiapu", "hour", 4500),
        ("siivous", "Siivous", "hour", 4000),
        ("kuljetus", "Kuljetus", "trip", None),
        ("omaishoidon-vapaa", "Omaishoidon vapaa", "day", None),
    ):
        await catalogue.add_category(
            db, organizer_id=org, code=code, names={"fi": fi}, unit=unit, price_cap_cents=cap
        )
    prov, prov_principal = await catalogue.create_provider(
        db,
        organizer_id=org,
        name="Siivouspalvelu Kuura Oy",
        business_id="1234567-1",
        prices={"siivous": 3500, "kotiapu": 3800},
    )
    other, other_principal = await catalogue.create_provider(
        db,
        organizer_id=org,
        name="Taksi Hiltunen",
        business_id="7654321-0",
        prices={"kuljetus": 2500},
    )
    client = await catalogue.create_client(
        db, organizer_id=org, first_name="Aino", last_name="Virtanen", phone=phone
    )
    cm = await catalogue.create_principal(
        db, organizer_id=org, role="case_manager", display_name="Liisa Ohjaaja"
    )
    await catalogue.create_decision(
        db,
        organizer_id=org,
        client_id=client.client_id,
        valid_from=valid_from or first_day(period),
        valid_to=None,
        lines=[DecisionLineInput("Kotiapu ja siivous", monthly_cents, ("kotiapu", "siivous"))],
        carry_over=carry_over,
        carry_over_cap_cents=carry_cap_cents,
    )
    if fund:
        await fund_period(db, period)
    return World(
        organizer_id=org,
        provider_id=prov,
        provider_principal=prov_principal,
        other_provider_id=other,
        other_provider_principal=other_principal,
        client_id=client.client_id,
        wallet_id=client.wallet_id,
        client_principal=client.principal_id,
        case_manager=cm,
        phone=phone,
        period=period,
    )


async def api_key_for(db: Database, principal: uuid.UUID) -> str:
    return await create_api_key(db, principal, name="test")
