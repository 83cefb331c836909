"""Charges and refunds: providers take payment at the door and give money back."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from payments.checkout.charges import (
    ChargeLineInput,
    Customer,
    capture_charge,
    refund_charge,
)
from payments.checkout.lookups import Looker, LookupKind
from payments.db import Database
from payments.errors import InvalidInput
from payments.idempotency import validate_key
from payments.people.access import Actor
from payments.people.phones import to_e164
from payments.people.ratelimits import RateLimited
from payments.reporting import wallet_views
from payments.results import Outcome
from wallet_api.auth import ensure_charge_visible, roles, signed_in
from wallet_api.charges import schemas
from wallet_api.checkout.lookup import provider_of
from wallet_api.deps import IdempotencyKey, fingerprint, respond
from wallet_api.metrics import LOOKUPS_REFUSED, counted


class ChargeController(Controller):
    path = "/api/charges"
    tags = ["charges"]

    @post("/", guards=[roles("provider")], status_code=201)
    async def create_charge(
        self,
        request: Request[Any, Any, Any],
        data: schemas.ChargeCreate,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[schemas.Charge]:
        """Charge a client's budget and capture it at once.

        Identify the customer by phone number or wallet id: only a provider the client trusts,
        within the caps they set, is captured this way. Anyone else (and any number or id that
        finds no such client) gets one answer, ``consent-required``: send a payment request
        (``POST /api/checkout/phone``) or charge the client's payment code. Phone numbers go
        through the lookup gate (limited, audited). Other refusals are problem+json with
        ``type`` ``insufficient-funds``, ``not-in-budget``, ``provider-not-approved``,
        ``price-above-list``, ``unknown-category`` or ``idempotency-key-reused``.
        """
        key = validate_key(idempotency_key)
        if (data.phone is None) == (data.wallet_id is None):
            raise InvalidInput("Give either phone or wallet_id")

        async def charge(customer: Customer, looker: Looker | None = None) -> Outcome:
            assert actor.provider_id is not None
            return await counted(
                capture_charge(
                    db,
                    provider_id=actor.provider_id,
                    customer=customer,
                    lines=[
                        ChargeLineInput(line.category, line.quantity, line.unit_price_cents)
                        for line in data.lines
                    ],
                    idempotency_key=key,
                    request_hash=fingerprint(request, data),
                    looker=looker,
                )
            )

        if data.phone is None:
            outcome = await charge(Customer(wallet_id=data.wallet_id))
        else:
            # The lookup gate (limited, audited) runs inside the charge's own transaction:
            # charges by phone number go many to a transaction (payments.checkout.pipeline).
            looker = Looker(provider_of(actor), actor.principal_id, actor.organizer_id)
            try:
                outcome = await charge(Customer(phone_e164=to_e164(data.phone)), looker)
            except RateLimited:
                LOOKUPS_REFUSED.labels(str(LookupKind.PHONE)).inc()
                raise
        return respond(outcome, schemas.Charge)

    @get("/", guards=[roles("provider")])
    async def list_charges(
        self,
        db: Database,
        actor: Actor,
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
    ) -> schemas.ChargePage:
        """The provider's own charges, newest first."""
        assert actor.provider_id is not None
        page = await wallet_views.provider_charges(
            db, actor.provider_id, cursor=cursor, limit=limit
        )
        return msgspec.convert(page, schemas.ChargePage)

    @get("/{charge_id:uuid}", guards=[signed_in])
    async def get_charge(self, charge_id: uuid.UUID, db: Database, actor: Actor) -> schemas.Charge:
        """One charge: for its provider, and for whoever may see the charged wallet."""
        await ensure_charge_visible(db, actor, charge_id)
        return msgspec.convert(await wallet_views.get_charge(db, charge_id), schemas.Charge)

    @post("/{charge_id:uuid}/refunds", guards=[roles("provider")], status_code=201)
    async def create_refund(
        self,
        request: Request[Any, Any, Any],
        charge_id: uuid.UUID,
        data: schemas.RefundCreate,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[schemas.Refund]:
        """Refund part or all of a charge, back to the envelope it came from."""
        key = validate_key(idempotency_key)
        assert actor.provider_id is not None
        outcome = await refund_charge(
            db,
            provider_id=actor.provider_id,
            charge_id=charge_id,
            amount_cents=data.amount_cents,
            reason=data.reason,
            idempotency_key=key,
            request_hash=fingerprint(request, data),
        )
        return respond(outcome, schemas.Refund)


ROUTES = [ChargeController]
