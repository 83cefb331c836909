"""Charges and refunds for the tests: the one set of helpers every test uses to move money.

Through the payments use cases (``charge``, ``charged``, ``refund``) and through the API
(``post_charge``, ``post_refund``). Nothing here is mocked: each call is the real use case or
route, so a helper can only set up money the way production moves it.

Idempotency: a key is fresh unless given; the request fingerprint is made from what is asked
for, as the API makes it, so the same key with the same request replays and with another
request is refused. Pass ``request_hash`` to pin it. ``charge`` and ``refund`` answer what the
use case answers; ``charged`` is the one place that reads a new charge's id out of it.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from payments.checkout.charges import ChargeLineInput, Customer, capture_charge, refund_charge
from payments.db import Database
from payments.idempotency import request_fingerprint
from payments.results import Happened
from tests.factories import World
from tests.support.api import auth

PHONE = "+358401234567"  # seed_world's client, 040 123 4567


def line(category: str, quantity: str | int | Decimal, unit_price_cents: int) -> ChargeLineInput:
    return ChargeLineInput(category, Decimal(quantity), unit_price_cents)


def cleaning(hours: str | int | Decimal = 2, cents: int = 3500) -> list[ChargeLineInput]:
    """Cleaning ('siivous') at the seeded provider's list price: two hours are 70 EUR."""
    return [line("siivous", hours, cents)]


def home_help(hours: str | int | Decimal = 1, cents: int = 3800) -> list[ChargeLineInput]:
    """Home help ('kotiapu') at the seeded provider's list price: an hour is 38 EUR."""
    return [line("kotiapu", hours, cents)]


def exactly(cents: int, category: str = "siivous") -> list[ChargeLineInput]:
    """One line of exactly ``cents``: cents/100 units at 1 EUR."""
    return [ChargeLineInput(category, Decimal(cents) / 100, 100)]


def by_phone(phone: str = PHONE) -> Customer:
    return Customer(phone_e164=phone)


def by_wallet(w: World | uuid.UUID) -> Customer:
    return Customer(wallet_id=w.wallet_id if isinstance(w, World) else w)


def fingerprint(customer: Customer, lines: list[ChargeLineInput]) -> str:
    """A charge request's fingerprint: the customer and every line."""
    parts = [str(customer.phone_e164), str(customer.wallet_id)]
    for ln in lines:
        parts += [ln.category, str(ln.quantity), str(ln.unit_price_cents)]
    return request_fingerprint(*parts)


async def charge(
    db: Database,
    w: World | None,
    lines: list[ChargeLineInput] | None = None,
    *,
    provider_id: uuid.UUID | None = None,
    customer: Customer | None = None,
    key: str | None = None,
    request_hash: str | None = None,
    **kw: Any,
) -> Any:
    """``capture_charge`` by ``w``'s provider for ``w``'s client, by phone (two hours of
    cleaning unless ``lines`` says otherwise). ``kw`` goes to the use case (``now``).

    Without a world, give ``provider_id`` and ``customer``."""
    lines = cleaning() if lines is None else lines
    customer = customer or by_phone()
    if provider_id is None:
        assert w is not None, "a charge needs a world or a provider_id"
        provider_id = w.provider_id
    return await capture_charge(
        db,
        provider_id=provider_id,
        customer=customer,
        lines=lines,
        idempotency_key=key or uuid.uuid4().hex,
        request_hash=request_hash or fingerprint(customer, lines),
        **kw,
    )


async def charged(
    db: Database, w: World | None, lines: list[ChargeLineInput] | None = None, **kw: Any
) -> uuid.UUID:
    """:func:`charge`, expecting a new captured charge; its id."""
    out = await charge(db, w, lines, **kw)
    assert out.what is Happened.CREATED and not out.replayed, out
    return uuid.UUID(str(out.body["id"]))


async def refund(
    db: Database,
    w: World | None,
    charge_id: str | uuid.UUID,
    amount: int | None = None,
    *,
    provider_id: uuid.UUID | None = None,
    key: str | None = None,
    request_hash: str | None = None,
    reason: str | None = "test",
    **kw: Any,
) -> Any:
    """``refund_charge`` of ``amount`` cents (all that is left with None) by ``w``'s provider.
    ``kw`` goes to the use case (``now``)."""
    if provider_id is None:
        assert w is not None, "a refund needs a world or a provider_id"
        provider_id = w.provider_id
    return await refund_charge(
        db,
        provider_id=provider_id,
        charge_id=uuid.UUID(str(charge_id)),
        amount_cents=amount,
        reason=reason,
        idempotency_key=key or uuid.uuid4().hex,
        request_hash=request_hash or request_fingerprint(str(charge_id), str(amount)),
        **kw,
    )


# --- through the API ---------------------------------------------------------------------------


async def post_charge(client: Any, key: str, body: Any, idem: str | None = None) -> Any:
    """``POST /api/charges`` as the holder of API key ``key`` (any httpx-style client)."""
    headers = auth(key, **{"Idempotency-Key": idem or str(uuid.uuid4())})
    return await client.post("/api/charges", json=body, headers=headers)


async def post_refund(
    client: Any, key: str, charge_id: str | uuid.UUID, body: Any = None, idem: str | None = None
) -> Any:
    """``POST /api/charges/{id}/refunds`` (all that is left unless ``body`` says otherwise)."""
    headers = auth(key, **{"Idempotency-Key": idem or str(uuid.uuid4())})
    body = {} if body is None else body
    return await client.post(f"/api/charges/{charge_id}/refunds", json=body, headers=headers)
