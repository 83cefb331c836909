"""Issue 13, item 8: a quantity is ASCII digits with at most one decimal point.

``Decimal`` reads far more than that: ``Decimal("٣")`` is 3 (an Arabic-Indic digit),
``Decimal(" 1e3 ")`` is 1000, ``Decimal("1_000")`` is 1000, and a JSON ``1e3`` was taken too.
Every route that takes charge lines now refuses anything but a JSON string such as ``"1.5"``
(or a whole JSON number such as ``2``): 400 problem+json ``invalid-input`` naming the quantity,
and nothing written. The domain applies the same rule to whatever its callers pass (the parser
on its own: ``tests/unit/test_quantities.py``).
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from payments.checkout.charges import ChargeLineInput, Customer, capture_charge
from payments.db import Database
from payments.errors import InvalidInput
from payments.models import AuditEvent, ChargeLine, Hold, PaymentRequest
from payments.uow import UnitOfWork
from tests.factories import row_counts
from tests.support.api import auth

REFUSED = [
    '"\u0663"',  # ٣, ARABIC-INDIC DIGIT THREE
    '"\uff11"',  # １, FULLWIDTH DIGIT ONE
    '"1e3"',
    "1e3",
    "1E3",
    "1.5e1",
    '" 1"',
    '"1 "',
    '"1\\n"',
    '"\\t1"',
    '"1.2.3"',
    '"1,5"',  # the PWA turns a Finnish comma into "."; the API takes "." only
    '"NaN"',
    '"Infinity"',
    '"-1"',
    '"+1"',
    '"0"',
    '"0.000"',
    '"1_000"',
    '"0x10"',
    '".5"',
    '"1."',
    '"1.2345"',
    '"1001"',
    '""',
    "-1",
    "0",
    "1.5",  # a JSON fraction is a binary float in most clients: send "1.5"
    "1001",
    "true",
    "null",
    "[1]",
]

LINE = {"category": "siivous", "quantity": "__Q__", "unit_price_cents": 3500}


def _body(template: dict[str, Any], literal: str) -> bytes:
    return json.dumps(template).replace('"__Q__"', literal).encode()


async def _counts(db: Database) -> dict[str, int]:
    counts = await row_counts(db)
    async with UnitOfWork(db, readonly=True) as uow:
        for model in (Hold, PaymentRequest, AuditEvent):
            counts[model.__tablename__] = int(
                (await uow.session.execute(select(func.count()).select_from(model))).scalar_one()
            )
    return counts


async def _hold(client, key: str) -> str:
    r = await client.post(
        "/api/holds",
        json={"phone": "040 123 4567", "lines": [{**LINE, "quantity": "2"}]},
        headers=auth(key, **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# Every route that takes lines, with a body that is valid but for the quantity.
ROUTES: dict[str, tuple[str | None, dict[str, Any]]] = {
    "charge": ("/api/charges", {"phone": "040 123 4567", "lines": [LINE]}),
    "checkout-phone": ("/api/checkout/phone", {"phone": "040 123 4567", "lines": [LINE]}),
    "checkout-token": ("/api/checkout/token", {"code": "12345678", "lines": [LINE]}),
    "checkout-card": (
        "/api/checkout/card",
        {"card_number": "1234", "pin": "1234", "lines": [LINE]},
    ),
    "hold": ("/api/holds", {"phone": "040 123 4567", "lines": [LINE]}),
    "hold-capture": (None, {"lines": [LINE]}),
    "qr-request": ("/api/payment-requests", {"lines": [LINE]}),
}


@pytest.mark.parametrize("route", list(ROUTES))
async def test_routes_refuse_quantities_that_are_not_plain_ascii_decimals(
    client, db, world, keys, route
):
    url, template = ROUTES[route]
    if url is None:
        url = f"/api/holds/{await _hold(client, keys.provider)}/capture"
    before = await _counts(db)
    for literal in REFUSED:
        r = await client.post(
            url,
            content=_body(template, literal),
            headers=auth(
                keys.provider,
                **{
                    "Idempotency-Key": uuid.uuid4().hex,
                    "Content-Type": "application/json",
                    "Accept-Language": "en",  # English details name the field
                },
            ),
        )
        assert r.status_code == 400, (literal, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["type"].endswith("invalid-input"), (literal, problem)
        assert "quantity" in json.dumps(problem), (literal, problem)
    assert await _counts(db) == before


@pytest.mark.parametrize(
    "literal,stored",
    [('"1"', "1"), ('"1.5"', "1.5"), ('"0.25"', "0.25"), ('"1000"', "1000"), ("2", "2")],
)
async def test_plain_quantities_are_taken_and_stored_as_written(
    client, db, world, keys, literal, stored
):
    line = {**LINE, "unit_price_cents": 10}
    r = await client.post(
        "/api/charges",
        content=_body({"phone": "040 123 4567", "lines": [line]}, literal),
        headers=auth(
            keys.provider,
            **{"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"},
        ),
    )
    assert r.status_code == 201, r.text
    assert r.json()["lines"][0]["quantity"] == stored
    async with UnitOfWork(db, readonly=True) as uow:
        assert (await uow.session.execute(select(ChargeLine.quantity))).scalar_one() == stored


async def test_the_schema_documents_the_quantity(client):
    spec = (await client.get("/schema/openapi.json")).json()
    line = spec["components"]["schemas"]["ChargeLineCreate"]["properties"]["quantity"]
    text = json.dumps(line)
    assert "pattern" in text and "^[0-9]{1,4}(\\\\.[0-9]{1,3})?$" in text
    assert "1000" in text


# --- the domain does not trust its callers ------------------------------------------------------


async def test_capture_charge_refuses_a_bad_quantity_from_any_caller(db, world):
    before = await row_counts(db)
    for bad in ("\u0663", "1e3", " 1", Decimal("NaN")):
        with pytest.raises(InvalidInput):
            await capture_charge(
                db,
                provider_id=world.provider_id,
                customer=Customer(phone_e164="+358401234567"),
                lines=[ChargeLineInput("siivous", bad, 3500)],
                idempotency_key=uuid.uuid4().hex,
                request_hash=uuid.uuid4().hex,
            )
    assert await row_counts(db) == before
