"""The providers' marketplace: onboarding, the directory and settlements.

Path ids are declared as ``str`` and parsed here (a malformed id is ``not-found``), so every
route's guard answers first: an anonymous caller gets 401 whatever the id looks like.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from payments.db import Database
from payments.errors import Forbidden, InvalidInput, NoPayingAccount, NotFound
from payments.marketplace import prices, providers, settlements
from payments.models import PROVIDER_STATUSES
from payments.people.access import Actor
from wallet_api.auth import roles, signed_in
from wallet_api.deps import respond
from wallet_api.marketplace import schemas as ms
from wallet_api.problems import language_of
from wallet_api.types import DAY

CASE_MANAGER = roles("case_manager")
PROVIDER = roles("provider")
PROVIDER_OR_CASE_MANAGER = roles("provider", "case_manager")


def _uuid(text: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as exc:
        raise NotFound(f"No such {what}") from exc


def _own_provider(actor: Actor) -> uuid.UUID:
    if actor.provider_id is None:
        raise Forbidden("This principal acts for no provider")
    return actor.provider_id


def _provider_out(p: providers.ProviderSummary) -> ms.Provider:
    return ms.Provider(
        provider_id=p.provider_id,
        name=p.name,
        business_id=p.business_id,
        status=p.status,
        iban=p.iban,
        bic=p.bic,
        contact_name=p.contact_name,
        contact_email=p.contact_email,
        contact_phone=p.contact_phone,
        languages=p.languages,
        municipalities=p.municipalities,
        prices=[msgspec.convert(x, ms.ProviderPrice) for x in p.prices],
        decision_reason=p.decision_reason,
        created_at=p.created_at,
    )


class ProviderOnboardingController(Controller):
    path = "/api/providers"
    tags = ["providers"]

    @post(
        "/applications",
        opt={"public": True, "per_address_limit": "rate_applications"},
        status_code=201,
    )
    async def apply(
        self, request: Request[Any, Any, Any], data: ms.ApplicationCreate, db: Database
    ) -> ms.Application:
        """Apply to become a provider (public, or signed in). Nothing is written unless every
        field is valid: business id (Y-tunnus), IBAN and BIC, contact, languages, service area
        and prices within the county's caps. The status is ``applied`` until a case manager
        decides. ``possible_duplicates`` warns when an earlier application of the county has
        the same bank account (``iban``) or contact person (``contact``)."""
        user = request.scope.get("user")
        if data.organizer:
            organizer_id = await providers.organizer_by_slug(db, data.organizer)
        elif isinstance(user, Actor):
            organizer_id = user.organizer_id
        else:
            raise InvalidInput("Name the county: organizer")
        applied = await providers.apply_provider(
            db,
            organizer_id=organizer_id,
            application=data.to_domain(),
            actor_id=user.principal_id if isinstance(user, Actor) else None,
        )
        return ms.Application(
            provider_id=applied.provider_id,
            status=applied.status,
            possible_duplicates=list(applied.possible_duplicates),
        )

    @get("/apply/counties", opt={"public": True})
    async def counties(self, db: Database) -> list[ms.County]:
        """The counties a provider may apply to (public): slug and name, for the application
        form's choice."""
        return [ms.County(organizer=o.slug, name=o.name) for o in await providers.counties(db)]

    @get("/me", guards=[PROVIDER])
    async def me(self, db: Database, actor: Actor) -> ms.OwnProvider:
        """The signed-in provider's own standing: ``applied`` (waiting for the county's
        decision), ``approved``, ``rejected`` or ``suspended``, and the decision's reason."""
        return msgspec.convert(
            asdict(await providers.own_provider(db, _own_provider(actor))), ms.OwnProvider
        )

    @get("/me/prices", guards=[PROVIDER])
    async def my_prices(
        self, request: Request[Any, Any, Any], db: Database, actor: Actor
    ) -> list[ms.PriceListEntry]:
        """The provider's own price list: per service the price in force today (Helsinki),
        the changes announced for later dates, and whether the county approved the service."""
        rows = await prices.price_list(
            db, provider_id=_own_provider(actor), language=language_of(request)
        )
        return [msgspec.convert(asdict(r), ms.PriceListEntry) for r in rows]

    @post("/me/prices", guards=[PROVIDER], status_code=201)
    async def publish_price(
        self,
        data: ms.PriceVersionCreate,
        db: Database,
        actor: Actor,
    ) -> Response[ms.PriceVersion]:
        """Publish a new price for one of the provider's services, in force from
        ``effective_from`` (today or later, Helsinki). Past prices and charges never change.
        The same version sent again answers 200 and writes nothing; a different price for a
        date that already has one is ``price-version-exists`` (409); above the county's cap
        is ``price-above-cap`` (422)."""
        outcome = await prices.publish_price(
            db,
            provider_id=_own_provider(actor),
            category=data.category,
            unit_price_cents=data.unit_price_cents,
            effective_from=data.effective_from,
            actor_id=actor.principal_id,
        )
        return respond(outcome, ms.PriceVersion)

    @get("/applications", guards=[CASE_MANAGER])
    async def list_applications(
        self,
        db: Database,
        actor: Actor,
        status: Annotated[str | None, Parameter(max_length=20)] = "applied",
    ) -> list[ms.Provider]:
        """Providers of the case manager's county by status (default: waiting for a
        decision; ``status=all`` lists every one)."""
        wanted = None if status in (None, "all") else status
        if wanted is not None and wanted not in PROVIDER_STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(PROVIDER_STATUSES)} or all")
        rows = await providers.list_providers(db, organizer_id=actor.organizer_id, status=wanted)
        return [_provider_out(p) for p in rows]

    async def _decide(
        self,
        db: Database,
        actor: Actor,
        provider_id: str,
        action: str,
        reason: str | None = None,
        categories: list[str] | None = None,
    ) -> ms.ProviderStatus:
        pid = _uuid(provider_id, "provider")
        status = await providers.decide_provider(
            db,
            organizer_id=actor.organizer_id,
            provider_id=pid,
            action=action,
            actor_id=actor.principal_id,
            reason=reason,
            categories=categories,
        )
        return ms.ProviderStatus(provider_id=pid, status=status)

    @post("/{provider_id:str}/approve", guards=[CASE_MANAGER], status_code=200)
    async def approve(
        self, provider_id: str, data: ms.ProviderApprovalCreate, db: Database, actor: Actor
    ) -> ms.ProviderStatus:
        """Approve an applied provider for the given services (default: all it applied for)."""
        cats = list(data.categories) if data.categories is not None else None
        return await self._decide(db, actor, provider_id, "approve", categories=cats)

    @post("/{provider_id:str}/reject", guards=[CASE_MANAGER], status_code=200)
    async def reject(
        self, provider_id: str, data: ms.ProviderStatusUpdate, db: Database, actor: Actor
    ) -> ms.ProviderStatus:
        """Reject an application; the reason is required and kept."""
        return await self._decide(db, actor, provider_id, "reject", reason=data.reason)

    @post("/{provider_id:str}/suspend", guards=[CASE_MANAGER], status_code=200)
    async def suspend(
        self, provider_id: str, data: ms.ProviderStatusUpdate, db: Database, actor: Actor
    ) -> ms.ProviderStatus:
        """Suspend an approved provider: it can no longer charge."""
        return await self._decide(db, actor, provider_id, "suspend", reason=data.reason)

    @post("/{provider_id:str}/reinstate", guards=[CASE_MANAGER], status_code=200)
    async def reinstate(
        self, provider_id: str, data: ms.ProviderStatusUpdate, db: Database, actor: Actor
    ) -> ms.ProviderStatus:
        """Reinstate a suspended provider."""
        return await self._decide(db, actor, provider_id, "reinstate", reason=data.reason)


class DirectoryController(Controller):
    path = "/api/directory"
    tags = ["providers"]

    @get("/", guards=[signed_in])
    async def directory(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        actor: Actor,
        category: Annotated[str | None, Parameter(max_length=40)] = None,
        municipality: Annotated[str | None, Parameter(max_length=100)] = None,
        language: Annotated[str | None, Parameter(max_length=10)] = None,
    ) -> list[ms.DirectoryEntry]:
        """Approved providers of the caller's county per service, cheapest first, with unit,
        service area and languages. Filter by category, municipality and language."""
        rows = await providers.provider_directory(
            db,
            organizer_id=actor.organizer_id,
            category=category,
            municipality=municipality,
            language=language,
            display_language=language_of(request),
        )
        return [ms.DirectoryEntry(**vars(r)) for r in rows]


def _settlement_out(v: settlements.SettlementView) -> ms.Settlement:
    return ms.Settlement(**vars(v))


def _settlement_scope(actor: Actor) -> uuid.UUID | None:
    """A provider sees only its own settlements; a case manager all of the county's."""
    if actor.role == "provider":
        if actor.provider_id is None:
            raise Forbidden("This principal acts for no provider")
        return actor.provider_id
    return None


class SettlementController(Controller):
    path = "/api/settlements"
    tags = ["settlements"]

    @get("/", guards=[PROVIDER_OR_CASE_MANAGER])
    async def list_settlements(
        self,
        db: Database,
        actor: Actor,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    ) -> list[ms.Settlement]:
        """Settlements, newest first: a provider's own, or all of a case manager's county."""
        rows = await settlements.list_settlements(
            db,
            organizer_id=actor.organizer_id,
            provider_id=_settlement_scope(actor),
            limit=limit,
        )
        return [_settlement_out(v) for v in rows]

    @get("/files", guards=[CASE_MANAGER], response_model=None)
    async def settlement_files(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        actor: Actor,
        until: Annotated[str, Parameter(pattern=DAY)],
        format: Literal["csv", "pain001"] = "csv",
        execution_date: Annotated[str | None, Parameter(pattern=DAY)] = None,
    ) -> Response[bytes]:
        """The county's files for the settlements up to ``until``: the CSV for the books, or the
        SEPA credit transfer (pain.001.001.03) for the bank, paid from the county's account
        (``WALLET_SETTLEMENT_DEBTOR_*``) on ``execution_date`` (default: today)."""
        try:
            day = date.fromisoformat(until)
            pay_on = date.fromisoformat(execution_date) if execution_date else date.today()
        except ValueError as exc:
            raise InvalidInput("Dates are YYYY-MM-DD") from exc
        ids = await settlements.settlement_ids_until(db, organizer_id=actor.organizer_id, until=day)
        if not ids:
            raise NotFound(f"No settlements up to {day.isoformat()}")
        items = await settlements.payouts(db, ids)
        stem = f"settlement-{day.isoformat()}"
        if format == "csv":
            return Response(
                settlements.payouts_csv(items),
                media_type="text/csv",  # Litestar adds "; charset=utf-8"
                headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
            )
        config = request.app.state.settings
        if not (config.settlement_debtor_iban and config.settlement_debtor_bic):
            raise NoPayingAccount()
        debtor = settlements.Debtor(
            name=config.settlement_debtor_name or "Hyvinvointialue",
            iban=config.settlement_debtor_iban,
            bic=config.settlement_debtor_bic,
        )
        return Response(
            settlements.pain001(debtor, items, pay_on),
            media_type="application/xml",
            headers={"Content-Disposition": f'attachment; filename="{stem}.pain001.xml"'},
        )

    @get("/{settlement_id:str}", guards=[PROVIDER_OR_CASE_MANAGER])
    async def get_settlement(
        self, settlement_id: str, db: Database, actor: Actor
    ) -> ms.SettlementDetail:
        """One settlement with the charges and refunds it covers (+ charged, - refunded)."""
        view, lines = await settlements.get_settlement(
            db,
            _uuid(settlement_id, "settlement"),
            organizer_id=actor.organizer_id,
            provider_id=_settlement_scope(actor),
        )
        return ms.SettlementDetail(
            settlement=_settlement_out(view),
            lines=[ms.SettlementLine(**vars(ln)) for ln in lines],
        )


ROUTES = [
    ProviderOnboardingController,
    DirectoryController,
    SettlementController,
]
