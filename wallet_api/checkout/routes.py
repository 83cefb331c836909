"""Checkout at the door: phone number, client QR, card + PIN, visit holds, payment requests,
trusted providers and cards (issue 4). Thin controllers over ``payments``.

Path ids other than ``wallet_id`` are declared as strings and parsed here, so a malformed id is
a 404 problem after the guards ran (not a router 404 before them).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post

from payments.checkout import cards, requests, tokens, visits
from payments.checkout.charges import ChargeLineInput, Customer, capture_charge
from payments.checkout.lookups import LookupKind
from payments.checkout.phone import create_qr_request, phone_checkout
from payments.db import Database
from payments.errors import InvalidInput, NotFound
from payments.idempotency import validate_key
from payments.people.access import Actor
from payments.people.phones import to_e164
from payments.results import Outcome
from wallet_api import qr
from wallet_api.auth import roles
from wallet_api.charges.schemas import Charge
from wallet_api.checkout import schemas as cs
from wallet_api.checkout.card_routes import (
    CardController,
    TrustedProviderController,
    WalletCardController,
    _id,
    ensure_may_act,
)
from wallet_api.checkout.lookup import customer_lookup, provider_of
from wallet_api.deps import IdempotencyKey, fingerprint, respond
from wallet_api.metrics import counted, declined_by_client

REQUEST_QR_PREFIX = "hbpay:request:"


def _lines(data: Any) -> list[ChargeLineInput]:
    return [ChargeLineInput(x.category, x.quantity, x.unit_price_cents) for x in data.lines]


async def _verify_card(db: Database, actor: Actor, number: str, pin: str | None) -> uuid.UUID:
    """The wallet behind a card and its PIN, looked up through the gate."""
    async with customer_lookup(db, actor, LookupKind.CARD):
        return await cards.verify_card(
            db,
            organizer_id=actor.organizer_id,
            provider_id=provider_of(actor),
            card_number=number,
            pin=pin or "",
        )


class CheckoutController(Controller):
    path = "/api/checkout"
    tags = ["checkout"]

    @post("/phone", guards=[roles("provider")], status_code=201)
    async def by_phone(
        self,
        request: Request[Any, Any, Any],
        data: cs.PhoneCheckoutCreate,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[cs.CheckoutResult]:
        """Charge by the client's phone number: 201 ``captured`` for a trusted provider within
        its caps, else 202 ``pending`` with a payment request (the money is held). An unknown
        number and "no budget for this" give the same ``not-in-budget``. Rate-limited (429 with
        Retry-After) and audited."""
        key = validate_key(idempotency_key)
        phone = to_e164(data.phone)
        # Even "not enough money" tells the provider the number is a client's: all count.
        async with customer_lookup(db, actor, LookupKind.PHONE, discloses=True) as lookup:
            outcome = await counted(
                phone_checkout(
                    db,
                    provider_id=provider_of(actor),
                    phone_e164=phone,
                    lines=_lines(data),
                    idempotency_key=key,
                    request_hash=fingerprint(request, data),
                )
            )
            lookup.outcome = str(outcome.body.get("outcome"))
        return respond(outcome, cs.CheckoutResult)

    @post("/token", guards=[roles("provider")], status_code=201)
    async def by_token(
        self,
        request: Request[Any, Any, Any],
        data: cs.TokenCheckoutCreate,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Charge]:
        """Charge with the client's QR token (or its 8-digit code): presenting it is consent,
        so the charge is captured at once. Used, expired or foreign tokens: ``token-invalid``."""
        key = validate_key(idempotency_key)
        if (data.token is None) == (data.code is None):
            raise InvalidInput("Give either token or code")
        async with customer_lookup(db, actor, LookupKind.CODE):
            outcome = await counted(
                capture_charge(
                    db,
                    provider_id=provider_of(actor),
                    customer=Customer(token=data.token, token_code=data.code),
                    lines=_lines(data),
                    idempotency_key=key,
                    request_hash=fingerprint(request, data),
                )
            )
        return respond(outcome, Charge)

    @post("/card", guards=[roles("provider")], status_code=201)
    async def by_card(
        self,
        request: Request[Any, Any, Any],
        data: cs.CardCheckoutCreate,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Charge]:
        """Charge with a QR card and the PIN the client types. Five wrong PINs lock the card
        (``card-locked``); a wrong PIN says ``card-invalid`` with ``attempts_left``."""
        key = validate_key(idempotency_key)
        wallet_id = await _verify_card(db, actor, data.card_number, data.pin)
        outcome = await counted(
            capture_charge(
                db,
                provider_id=provider_of(actor),
                customer=Customer(wallet_id=wallet_id, card_verified=True),
                lines=_lines(data),
                idempotency_key=key,
                request_hash=fingerprint(request, data),
            )
        )
        return respond(outcome, Charge)


class HoldController(Controller):
    path = "/api/holds"
    tags = ["checkout"]

    @post("/", guards=[roles("provider")], status_code=201)
    async def create_hold(
        self,
        request: Request[Any, Any, Any],
        data: cs.HoldCreate,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[cs.Hold]:
        """Hold the expected price at check-in (default 12 h)."""
        key = validate_key(idempotency_key)
        given = [data.token or data.code, data.card_number, data.phone]
        if sum(x is not None for x in given) != 1:
            raise InvalidInput("Identify the client by token, code, card_number + pin, or phone")

        async def hold(customer: Customer, *, trusted_only: bool = False) -> Outcome:
            return await visits.create_visit_hold(
                db,
                provider_id=provider_of(actor),
                customer=customer,
                lines=_lines(data),
                idempotency_key=key,
                request_hash=fingerprint(request, data),
                ttl=timedelta(minutes=data.ttl_minutes),
                trusted_only=trusted_only,
            )

        if data.card_number is not None:
            wallet_id = await _verify_card(db, actor, data.card_number, data.pin)
            outcome = await hold(Customer(wallet_id=wallet_id, card_verified=True))
        elif data.phone is not None:
            # By phone number only a provider the client trusts may hold.
            phone = to_e164(data.phone)
            async with customer_lookup(db, actor, LookupKind.PHONE):
                outcome = await hold(Customer(phone_e164=phone), trusted_only=True)
        else:
            async with customer_lookup(db, actor, LookupKind.CODE):
                outcome = await hold(Customer(token=data.token, token_code=data.code))
        return respond(outcome, cs.Hold)

    @get("/{hold_id:str}", guards=[roles("provider")])
    async def get_hold(self, hold_id: str, db: Database, actor: Actor) -> cs.Hold:
        """One of the provider's own holds."""
        view = await visits.get_hold(db, provider_id=provider_of(actor), hold_id=_id(hold_id))
        return msgspec.convert(view, cs.Hold)

    @post("/{hold_id:str}/capture", guards=[roles("provider")], status_code=200)
    async def capture(
        self,
        request: Request[Any, Any, Any],
        hold_id: str,
        data: cs.HoldCaptureCreate,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[cs.Hold]:
        """Capture what was delivered (at most what was held); the rest goes back."""
        key = validate_key(idempotency_key)
        outcome = await visits.capture_hold(
            db,
            provider_id=provider_of(actor),
            hold_id=_id(hold_id),
            lines=_lines(data),
            idempotency_key=key,
            request_hash=fingerprint(request, data),
        )
        return respond(outcome, cs.Hold)

    @post("/{hold_id:str}/void", guards=[roles("provider")], status_code=200)
    async def void(self, hold_id: str, db: Database, actor: Actor) -> Response[cs.Hold]:
        """Release the whole hold. Safe to retry."""
        outcome = await visits.void_hold(db, provider_id=provider_of(actor), hold_id=_id(hold_id))
        return respond(outcome, cs.Hold)


def _with_qr(view: dict[str, Any]) -> dict[str, Any]:
    if view.get("wallet_id") is None and view["status"] == "pending":
        payload = REQUEST_QR_PREFIX + view["id"]
        return {**view, "qr_payload": payload, "qr_svg": qr.svg(payload)}
    return view


async def _approver_wallet(
    db: Database, actor: Actor, request_id: uuid.UUID, data: cs.RequestApprovalCreate
) -> uuid.UUID:
    """The wallet an approval or decline is for, once the actor may act on it."""
    parties = await requests.request_parties(db, request_id)
    if parties is None or parties[0] != actor.organizer_id:
        raise NotFound("No such payment request")
    wallet_id = parties[2] or data.wallet_id
    if wallet_id is None:
        if actor.role != "client" or actor.client_id is None:
            raise InvalidInput("Name the wallet_id you approve for")
        wallet_id = await requests.wallet_of_client(db, actor.client_id)
    assert wallet_id is not None
    await ensure_may_act(db, actor, wallet_id, "approve", case_manager=False)
    return wallet_id


class PaymentRequestController(Controller):
    path = "/api/payment-requests"
    tags = ["checkout"]

    @post("/", guards=[roles("provider")], status_code=201)
    async def create_qr_request(
        self,
        request: Request[Any, Any, Any],
        data: cs.QrRequestCreate,
        db: Database,
        actor: Actor,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[cs.PaymentRequest]:
        """A request the provider shows as a QR (``qr_svg``); the client scans and approves."""
        key = validate_key(idempotency_key)
        outcome = await create_qr_request(
            db,
            provider_id=provider_of(actor),
            lines=_lines(data),
            idempotency_key=key,
            request_hash=fingerprint(request, data),
        )
        return respond(outcome, cs.PaymentRequest, _with_qr(outcome.body))

    @get("/{request_id:str}", guards=[roles("provider", "client", "carer", "case_manager")])
    async def get_request(self, request_id: str, db: Database, actor: Actor) -> cs.PaymentRequest:
        """A request: for its provider (poll it for the outcome), for whoever may see the
        wallet, and, while pending, for a client or carer who scanned a provider's QR."""
        rid = _id(request_id)
        parties = await requests.request_parties(db, rid)
        if parties is None or parties[0] != actor.organizer_id:
            raise NotFound("No such payment request")
        _org, provider_id, wallet_id = parties
        view = await requests.get_request(db, rid)
        if actor.role == "provider":
            if actor.provider_id != provider_id:
                raise NotFound("No such payment request")
        elif wallet_id is not None:
            await ensure_may_act(db, actor, wallet_id, "view", case_manager=True)
        elif actor.role not in ("client", "carer") or view["status"] != "pending":
            raise NotFound("No such payment request")
        return msgspec.convert(_with_qr(view), cs.PaymentRequest)

    @post("/{request_id:str}/approve", guards=[roles("client", "carer")], status_code=200)
    async def approve(
        self,
        request_id: str,
        data: cs.RequestApprovalCreate,
        db: Database,
        actor: Actor,
    ) -> Response[cs.PaymentRequest]:
        """Approve: the held money is captured (one tap). Safe to retry."""
        rid = _id(request_id)
        wallet_id = await _approver_wallet(db, actor, rid, data)
        outcome = await counted(
            requests.approve_request(
                db, request_id=rid, wallet_id=wallet_id, actor_id=actor.principal_id
            )
        )
        return respond(outcome, cs.PaymentRequest)

    @post("/{request_id:str}/decline", guards=[roles("client", "carer")], status_code=200)
    async def decline(
        self,
        request_id: str,
        data: cs.RequestApprovalCreate,
        db: Database,
        actor: Actor,
    ) -> Response[cs.PaymentRequest]:
        """Decline: the held money goes back to the budget. Safe to retry."""
        rid = _id(request_id)
        wallet_id = await _approver_wallet(db, actor, rid, data)
        outcome = declined_by_client(
            await requests.decline_request(
                db, request_id=rid, wallet_id=wallet_id, actor_id=actor.principal_id
            )
        )
        return respond(outcome, cs.PaymentRequest)

    @post("/{request_id:str}/cancel", guards=[roles("provider")], status_code=200)
    async def cancel(
        self, request_id: str, db: Database, actor: Actor
    ) -> Response[cs.PaymentRequest]:
        """The provider withdraws its pending request; held money goes back."""
        outcome = await requests.cancel_request(
            db, request_id=_id(request_id), provider_id=provider_of(actor)
        )
        return respond(outcome, cs.PaymentRequest)


class WalletCheckoutController(Controller):
    path = "/api/wallets/{wallet_id:uuid}"
    tags = ["checkout"]

    @post("/payment-tokens", guards=[roles("client", "carer")], status_code=201)
    async def new_token(
        self,
        wallet_id: uuid.UUID,
        data: cs.PaymentTokenCreate,
        db: Database,
        actor: Actor,
    ) -> cs.PaymentToken:
        """A single-use payment QR (SVG and PNG) and its 8-digit code, valid up to 120 s.
        Showing it is consent, so the client or a carer with ``approve`` asks for it."""
        await ensure_may_act(db, actor, wallet_id, "approve", case_manager=False)
        issued = await tokens.issue_token(
            db, wallet_id=wallet_id, created_by=actor.principal_id, ttl_s=data.ttl_seconds
        )
        return cs.PaymentToken(
            token=issued.token,
            code=issued.code,
            wallet_id=wallet_id,
            expires_at=issued.expires_at.isoformat(),
            qr_svg=qr.svg(issued.token),
            qr_png=qr.png_data_url(issued.token),
        )

    @get("/payment-requests", guards=[roles("client", "carer", "case_manager")])
    async def pending(
        self, wallet_id: uuid.UUID, db: Database, actor: Actor
    ) -> list[cs.PaymentRequest]:
        """Requests waiting for this wallet's answer."""
        await ensure_may_act(db, actor, wallet_id, "view", case_manager=True)
        return msgspec.convert(
            await requests.pending_for_wallet(db, wallet_id), list[cs.PaymentRequest]
        )


ROUTES = [
    CheckoutController,
    HoldController,
    PaymentRequestController,
    WalletCheckoutController,
    TrustedProviderController,
    WalletCardController,
    CardController,
]
