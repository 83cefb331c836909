"""Staff routes: case managers' client list, a client's file and the monthly funding runs; a
provider's open visits (for check-out on any device); and the people themselves (issue 15):
an admin's case managers (``/api/staff``) and a provider owner's staff
(``/api/providers/staff``).

The reads run over ``payments.reporting.staff_views``, scoped to the caller's organizer (or,
for open visits, to the caller's provider). A client's file holds decisions (which services a
person uses is health-related), so opening it is audited like a wallet view. Staff management
runs over ``payments.people.staff`` (and ``invites.invite_staff``), which checks the admin
right and ownership again from the rows; the invite answers are ``signin``'s ``Invite``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import Parameter

from payments.db import Database
from payments.errors import Forbidden
from payments.people import audit, invites, staff
from payments.people.access import Actor
from payments.reporting import staff_views
from wallet_api.auth import admins_only, roles
from wallet_api.settings import Settings
from wallet_api.signin import schemas as signin_schemas
from wallet_api.signin.invite_view import invite_out
from wallet_api.staff import schemas

CASE_MANAGER = roles("case_manager")
PROVIDER = roles("provider")


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


# --- staff management (issue 15) -------------------------------------------------------------


def _staff_out(members: list[staff.StaffMember]) -> list[schemas.StaffMember]:
    return msgspec.convert(members, list[schemas.StaffMember], from_attributes=True)


@get("/api/staff", guards=[admins_only], tags=["staff"])
async def list_case_managers(db: Database, actor: Actor) -> list[schemas.StaffMember]:
    """The organizer's case managers: the admin right, whether they have signed up (a passkey
    in use) or an invite waits, and who was removed (last)."""
    return _staff_out(await staff.list_case_managers(db, actor))


@post("/api/staff", guards=[admins_only], tags=["staff"], status_code=201)
async def invite_case_manager(
    request: Request[Any, Any, Any], data: schemas.StaffCreate, db: Database, actor: Actor
) -> signin_schemas.Invite:
    """Add a case manager (``admin``: with the admin right) and get their one-time invite:
    the code, the link and its QR code, shown this once. Audited."""
    settings: Settings = request.app.state.settings
    issued = await staff.invite_case_manager(
        db,
        actor,
        display_name=data.display_name,
        admin=data.admin,
        validity=timedelta(seconds=settings.invite_validity_s),
    )
    return invite_out(settings, issued)


@patch("/api/staff/{principal_id:uuid}", guards=[admins_only], tags=["staff"])
async def set_admin(
    principal_id: uuid.UUID, data: schemas.StaffUpdate, db: Database, actor: Actor
) -> schemas.StaffMember:
    """Give or take a case manager's admin right (audited); the organizer keeps at least one
    admin (409 ``last-admin``)."""
    member = await staff.set_admin(db, actor, principal_id, admin=data.admin)
    return msgspec.convert(member, schemas.StaffMember, from_attributes=True)


@delete("/api/staff/{principal_id:uuid}", guards=[admins_only], tags=["staff"])
async def remove_case_manager(principal_id: uuid.UUID, db: Database, actor: Actor) -> None:
    """Remove a case manager: their passkeys, sessions, API keys and push subscriptions end at
    once (audited). Not oneself, not the last admin (409)."""
    await staff.remove_case_manager(db, actor, principal_id)


@post("/api/providers/staff", guards=[PROVIDER], tags=["staff"], status_code=201)
async def invite_provider_staff(
    request: Request[Any, Any, Any], data: schemas.ProviderStaffCreate, db: Database, actor: Actor
) -> signin_schemas.Invite:
    """A provider's owner adds a staff member (``owner``: another owner) and gets their
    one-time invite, shown this once. Audited."""
    settings: Settings = request.app.state.settings
    issued = await invites.invite_staff(
        db,
        actor,
        display_name=data.display_name,
        owner=data.owner,
        validity=timedelta(seconds=settings.invite_validity_s),
    )
    return invite_out(settings, issued)


@get("/api/providers/staff", guards=[PROVIDER], tags=["staff"])
async def list_provider_staff(db: Database, actor: Actor) -> list[schemas.StaffMember]:
    """The provider's staff (owners marked), for its owners."""
    return _staff_out(await staff.list_provider_staff(db, actor))


@delete("/api/providers/staff/{principal_id:uuid}", guards=[PROVIDER], tags=["staff"])
async def remove_provider_staff(principal_id: uuid.UUID, db: Database, actor: Actor) -> None:
    """An owner removes a staff member as a case manager is removed. Not oneself, not the
    last owner (409)."""
    await staff.remove_provider_staff(db, actor, principal_id)


ROUTES = [
    list_clients,
    client_file,
    list_funding_runs,
    list_open_visits,
    list_case_managers,
    invite_case_manager,
    set_admin,
    remove_case_manager,
    invite_provider_staff,
    list_provider_staff,
    remove_provider_staff,
]
