"""Case managers' work (clients, budget decisions) and what everyone may ask about themselves."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post

from payments.budgets import catalogue, client_import, closing
from payments.budgets.catalogue import DecisionLineInput
from payments.db import Database
from payments.errors import NotFound
from payments.idempotency import request_fingerprint, validate_key
from payments.marketplace import directory
from payments.people import staff
from payments.people.access import Actor
from wallet_api.auth import roles, session_of, signed_in
from wallet_api.deps import IdempotencyKey, respond
from wallet_api.people import schemas
from wallet_api.problems import language_of
from wallet_api.signin.schemas import session_status

CASE_MANAGER = roles("case_manager")


class ClientController(Controller):
    path = "/api/clients"
    tags = ["clients"]

    @post("/", guards=[CASE_MANAGER], status_code=201)
    async def create_client(
        self, data: schemas.ClientCreate, db: Database, actor: Actor
    ) -> schemas.Client:
        """Create a client with an empty wallet in the case manager's organizer."""
        new = await catalogue.create_client(
            db,
            organizer_id=actor.organizer_id,
            first_name=data.first_name,
            last_name=data.last_name,
            phone=data.phone,
            language=data.language,
            actor_id=actor.principal_id,
        )
        return schemas.Client(client_id=new.client_id, wallet_id=new.wallet_id)

    # A county's whole client list, not a JSON body: its own limit (the app's is 64 KiB).
    @post(
        "/import",
        guards=[CASE_MANAGER],
        status_code=200,
        request_max_body_size=client_import.MAX_BYTES,
    )
    async def import_clients(
        self, request: Request[Any, Any, Any], db: Database, actor: Actor, apply: bool = False
    ) -> schemas.ClientImport:
        """Import clients and decisions from a CSV file sent as the body (``text/csv``; the
        columns of ``wallet import clients``, docs/setup.md), into the case manager's county.
        A dry run unless ``apply=true``: every row checked and reported, nothing written. If
        any row is refused the answer is 400 ``invalid-input`` with ``refused`` (one English
        "line N: why" each) and ``refused_rows`` (the same rows with a code and params each, for
        a person's language; docs/setup.md) and nothing is written. Importing the same file
        again adds nothing."""
        rows = client_import.parse_clients(await request.body())
        result = await client_import.import_clients(
            db,
            organizer_id=actor.organizer_id,
            rows=rows,
            source="the app",
            dry_run=not apply,
            actor_id=actor.principal_id,
        )
        created = client_import.DecisionOutcome.CREATED
        scheduler = getattr(request.app.state, "scheduler", None)
        if apply and result.decisions(created) and scheduler is not None:
            await scheduler.fund_now()
        Out = client_import.ClientOutcome
        return schemas.ClientImport(
            dry_run=result.dry_run,
            clients_created=result.clients(Out.CREATED),
            clients_linked=result.clients(Out.LINKED),
            clients_unchanged=result.clients(Out.UNCHANGED),
            decisions_created=result.decisions(created),
            decisions_unchanged=result.decisions(client_import.DecisionOutcome.UNCHANGED),
            rows=[
                schemas.ImportedRow(
                    line=r.where,
                    client_ref=r.client_ref,
                    client=r.client.value,
                    decision_ref=r.decision_ref,
                    decision=r.decision.value if r.decision else None,
                )
                for r in result.rows
            ],
        )

    @post("/{client_id:uuid}/close", guards=[CASE_MANAGER], status_code=200)
    async def close_client(
        self,
        request: Request[Any, Any, Any],
        client_id: uuid.UUID,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[schemas.ClientClosed]:
        """Close a client's account whose decisions have ended (no body; ``Idempotency-Key``
        required): the money left goes to the county, passkeys, sessions, API keys, push
        subscriptions, mandates, trusted providers and cards end, and no provider can charge
        the client any more. Refusals (``409``, nothing written): ``decision-in-force``,
        ``payments-open`` (an open visit or payment request), ``client-closed``."""
        key = validate_key(idempotency_key)
        outcome = await closing.close_client(
            db,
            case_manager_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            client_id=client_id,
            idempotency_key=key,
            request_hash=request_fingerprint(request.url.path),
        )
        return respond(outcome, schemas.ClientClosed)

    @post("/{client_id:uuid}/decisions", guards=[CASE_MANAGER], status_code=201)
    async def create_decision(
        self,
        request: Request[Any, Any, Any],
        client_id: uuid.UUID,
        data: schemas.DecisionCreate,
        db: Database,
        actor: Actor,
    ) -> schemas.Decision:
        """Grant a budget by decision. Its envelopes are funded for the current month at once
        (pro-rated by days if it starts mid-month) and then at the start of every month."""
        if not await directory.client_in_organizer(db, client_id, actor.organizer_id):
            raise NotFound("No such client")
        decision_id = await catalogue.create_decision(
            db,
            organizer_id=actor.organizer_id,
            client_id=client_id,
            valid_from=data.valid_from,
            valid_to=data.valid_to,
            lines=[
                DecisionLineInput(
                    line.label,
                    line.monthly_amount_cents,
                    tuple(line.categories),
                    voucher_value_cents=line.voucher_value_cents,
                    hours_per_week=line.hours_per_week,
                )
                for line in data.lines
            ],
            carry_over=data.carry_over,
            carry_over_cap_cents=data.carry_over_cap_cents,
            actor_id=actor.principal_id,
        )
        scheduler = getattr(request.app.state, "scheduler", None)
        if scheduler is not None:
            await scheduler.fund_now()
        return schemas.Decision(decision_id=decision_id)


class DecisionHelperController(Controller):
    path = "/api/decision-helper"
    tags = ["clients"]

    @post("/", guards=[CASE_MANAGER], status_code=200)
    async def decision_helper(self, data: schemas.MonthlyAmountCreate) -> schemas.MonthlyAmount:
        """The case manager's calculator: "hours a week x value per hour" as a monthly amount
        (hours x value x 52 / 12, rounded half up to a cent). Writes nothing."""
        monthly, formula = catalogue.monthly_from_weekly_hours(
            data.hours_per_week, data.value_per_hour_cents
        )
        return schemas.MonthlyAmount(monthly_amount_cents=monthly, formula=formula)


class SelfController(Controller):
    tags = ["me"]

    @get("/api/me", guards=[signed_in])
    async def me(
        self, request: Request[Any, Any, Any], db: Database, actor: Actor
    ) -> schemas.MeWithSession:
        """Who is signed in, their role (``admin``: a case manager who manages case managers;
        ``owner``: a provider's owner, who manages its staff) and the wallets they can act on;
        with a passkey session also its time left (warn before it ends) and the CSRF token for
        writes."""
        info = session_of(request)
        return schemas.MeWithSession(
            principal_id=actor.principal_id,
            role=actor.role,
            display_name=actor.display_name,
            organizer_id=actor.organizer_id,
            client_id=actor.client_id,
            provider_id=actor.provider_id,
            wallets=await directory.wallets_for(db, actor),
            admin=actor.role == "case_manager" and actor.admin,
            owner=await staff.is_provider_owner(db, actor),
            session=session_status(info) if info else None,
            csrf_token=info.csrf_token if info else None,
        )

    @get("/api/categories", guards=[signed_in])
    async def categories(
        self, request: Request[Any, Any, Any], db: Database, actor: Actor
    ) -> list[schemas.Category]:
        """The organizer's service catalogue, names in the caller's language."""
        rows = await directory.list_categories(db, actor.organizer_id, language_of(request))
        return [schemas.Category(**row) for row in rows]


ROUTES = [ClientController, DecisionHelperController, SelfController]
