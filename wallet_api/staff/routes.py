"""Staff read routes: case managers' client list, a client's file and the monthly funding runs;
a provider's open visits (for check-out on any device).

Read-only routes over ``payments.reporting.staff_views``, scoped to the caller's organizer (or, for
open visits, to the caller's provider). A
client's file holds decisions (which services a person uses is health-related), so opening it
is audited like a wallet view.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from litestar import get
from litestar.params import Parameter

from payments.db import Database
from payments.errors import Forbidden
from payments.people import audit
from payments.people.access import Actor
from payments.reporting import staff_views
from wallet_api.auth import roles

CASE_MANAGER = roles("case_manager")


class ClientSummary(msgspec.Struct):
    client_id: uuid.UUID
    wallet_id: uuid.UUID
    first_name: str
    last_name: str
    phone: str
    language: str
    created_at: datetime
    has_passkey: bool


class ClientList(msgspec.Struct):
    items: list[ClientSummary]
    next_cursor: str | None


class DecisionLineOut(msgspec.Struct):
    label: str
    monthly_amount_cents: int
    categories: list[str]


class DecisionOut(msgspec.Struct):
    decision_id: uuid.UUID
    valid_from: date
    valid_to: date | None
    carry_over: str
    carry_over_cap_cents: int
    created_at: datetime
    lines: list[DecisionLineOut]


class CardOut(msgspec.Struct):
    card_id: uuid.UUID
    card_number: str
    status: str
    has_pin: bool
    failed_attempts: int
    created_at: datetime


class InviteOut(msgspec.Struct):
    created_at: datetime
    expires_at: datetime
    status: str


class ClientFileOut(msgspec.Struct):
    client: ClientSummary
    decisions: list[DecisionOut]
    cards: list[CardOut]
    invites: list[InviteOut]


class FundingRunOut(msgspec.Struct):
    period: str
    funded_envelopes: int
    funded_cents: int
    expired_envelopes: int
    expired_cents: int
    started_at: datetime | None
    finished_at: datetime | None
    envelopes_eligible: int


# Plain handlers, not a Controller: people.ClientController already owns /api/clients (POST),
# and Litestar merges a plain GET into that route where a second controller would clash.
@get("/api/clients", guards=[CASE_MANAGER], tags=["clients"])
async def list_clients(
    db: Database,
    actor: Actor,
    q: Annotated[str | None, Parameter(max_length=100, description="Name or phone")] = None,
    cursor: Annotated[str | None, Parameter(max_length=400)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
) -> ClientList:
    """The organizer's clients by name; ``q`` finds a part of the name or phone number.
    Pages with ``next_cursor``."""
    page = await staff_views.list_clients(
        db, actor.organizer_id, query=q, cursor=cursor, limit=limit
    )
    return msgspec.convert(page, ClientList, from_attributes=True)


@get("/api/clients/{client_id:uuid}", guards=[CASE_MANAGER], tags=["clients"])
async def client_file(client_id: uuid.UUID, db: Database, actor: Actor) -> ClientFileOut:
    """A client's file: decisions with their lines, QR cards and invites (audited)."""
    found = await staff_views.client_file(db, actor.organizer_id, client_id)
    await audit.record(
        db,
        action="client.viewed",
        actor_id=actor.principal_id,
        organizer_id=actor.organizer_id,
        subject_client_id=client_id,
    )
    return msgspec.convert(found, ClientFileOut, from_attributes=True)


@get("/api/funding-runs", guards=[CASE_MANAGER], tags=["funding"])
async def list_funding_runs(
    db: Database,
    actor: Actor,
    limit: Annotated[int, Parameter(ge=1, le=120)] = 24,
) -> list[FundingRunOut]:
    """Monthly funding of the organizer's envelopes, newest month first, from the ledger:
    envelopes funded and the amount, what expired at the month's close, when the run wrote
    its first and last transfer, and how many envelopes had a decision valid that month."""
    runs = await staff_views.funding_runs(db, actor.organizer_id, limit=limit)
    return msgspec.convert(runs, list[FundingRunOut], from_attributes=True)


class OpenVisitLineOut(msgspec.Struct):
    category: str
    quantity: str | None
    unit_price_cents: int | None
    amount_cents: int


class OpenVisitOut(msgspec.Struct):
    hold_id: uuid.UUID
    amount_cents: int
    created_at: datetime
    expires_at: datetime
    lines: list[OpenVisitLineOut]


# A plain handler beside checkout.HoldController (POST /api/holds), merged into its route.
@get("/api/holds", guards=[roles("provider")], tags=["checkout"])
async def list_open_visits(
    db: Database,
    actor: Actor,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 100,
) -> list[OpenVisitOut]:
    """The provider's own visit holds waiting for check-out, newest first."""
    if actor.provider_id is None:
        raise Forbidden("This principal acts for no provider")
    visits = await staff_views.open_visits(db, actor.provider_id, limit=limit)
    return msgspec.convert(visits, list[OpenVisitOut], from_attributes=True)


ROUTES = [list_clients, client_file, list_funding_runs, list_open_visits]
