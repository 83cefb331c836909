"""Staff read routes: case managers' client list, a client's file and the monthly funding runs;
a provider's open visits (for check-out on any device).

Read-only routes over ``payments.reporting.staff_views``, scoped to the caller's organizer (or, for
open visits, to the caller's provider). A
client's file holds decisions (which services a person uses is health-related), so opening it
is audited like a wallet view.
"""

from __future__ import annotations

import uuid
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
from wallet_api.staff import schemas

CASE_MANAGER = roles("case_manager")


# Plain handlers, not a Controller: people.ClientController already owns /api/clients (POST),
# and Litestar merges a plain GET into that route where a second controller would clash.
@get("/api/clients", guards=[CASE_MANAGER], tags=["clients"])
async def list_clients(
    db: Database,
    actor: Actor,
    q: Annotated[str | None, Parameter(max_length=100, description="Name or phone")] = None,
    cursor: Annotated[str | None, Parameter(max_length=400)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
) -> schemas.ClientList:
    """The organizer's clients by name; ``q`` finds a part of the name or phone number.
    Pages with ``next_cursor``."""
    page = await staff_views.list_clients(
        db, actor.organizer_id, query=q, cursor=cursor, limit=limit
    )
    return msgspec.convert(page, schemas.ClientList, from_attributes=True)


@get("/api/clients/{client_id:uuid}", guards=[CASE_MANAGER], tags=["clients"])
async def client_file(client_id: uuid.UUID, db: Database, actor: Actor) -> schemas.ClientFile:
    """A client's file: decisions with their lines, QR cards and invites (audited)."""
    found = await staff_views.client_file(db, actor.organizer_id, client_id)
    await audit.record(
        db,
        action="client.viewed",
        actor_id=actor.principal_id,
        organizer_id=actor.organizer_id,
        subject_client_id=client_id,
    )
    return msgspec.convert(found, schemas.ClientFile, from_attributes=True)


@get("/api/funding-runs", guards=[CASE_MANAGER], tags=["funding"])
async def list_funding_runs(
    db: Database,
    actor: Actor,
    limit: Annotated[int, Parameter(ge=1, le=120)] = 24,
) -> list[schemas.FundingRun]:
    """Monthly funding of the organizer's envelopes, newest month first, from the ledger:
    envelopes funded and the amount, what expired at the month's close, when the run wrote
    its first and last transfer, and how many envelopes had a decision valid that month."""
    runs = await staff_views.funding_runs(db, actor.organizer_id, limit=limit)
    return msgspec.convert(runs, list[schemas.FundingRun], from_attributes=True)


# A plain handler beside checkout.HoldController (POST /api/holds), merged into its route.
@get("/api/holds", guards=[roles("provider")], tags=["checkout"])
async def list_open_visits(
    db: Database,
    actor: Actor,
    limit: Annotated[int, Parameter(ge=1, le=200)] = 100,
) -> list[schemas.OpenVisit]:
    """The provider's own visit holds waiting for check-out, newest first."""
    if actor.provider_id is None:
        raise Forbidden("This principal acts for no provider")
    visits = await staff_views.open_visits(db, actor.provider_id, limit=limit)
    return msgspec.convert(visits, list[schemas.OpenVisit], from_attributes=True)


ROUTES = [list_clients, client_file, list_funding_runs, list_open_visits]
