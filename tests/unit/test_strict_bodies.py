"""Money bodies are decoded once, strictly, by their type (``wallet_api.types.StrictBody`` and
the ``StrictBodies`` plugin of ``wallet_api.deps``): ``"3500"`` is never 3500 cents, and a
route cannot forget it, because the route only names the type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import msgspec.inspect as mi
from litestar import post
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.testing import create_test_client

from wallet_api.app import create_app
from wallet_api.deps import StrictBodies, _StrictDTO
from wallet_api.problems import EXCEPTION_HANDLERS
from wallet_api.types import Cents, StrictBody


def money_fields(t: mi.Type, where: str, seen: set[type]) -> Iterator[str]:
    """Where a msgspec type carries an amount of money (a field named ``*_cents``)."""
    if isinstance(t, mi.StructType):
        if t.cls in seen:
            return
        for field in t.fields:
            if field.name.endswith("_cents"):
                yield f"{where}.{field.name}"
            yield from money_fields(field.type, f"{where}.{field.name}", seen | {t.cls})
    elif isinstance(t, mi.UnionType):
        for alt in t.types:
            yield from money_fields(alt, where, seen)
    elif isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        yield from money_fields(t.item_type, f"{where}[]", seen)
    elif isinstance(t, mi.DictType):
        yield from money_fields(t.value_type, f"{where}{{}}", seen)


def test_every_body_that_carries_money_is_decoded_strictly_once() -> None:
    app = create_app()
    lenient, strict = [], 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is None:
                continue
            where = f"{','.join(sorted(handler.http_methods - {'HEAD', 'OPTIONS'}))} {route.path}"
            money = list(money_fields(mi.type_info(data.annotation), "body", set()))
            is_strict = isinstance(data.annotation, type) and issubclass(
                data.annotation, StrictBody
            )
            if money and not is_strict:
                lenient.append(f"{where}: {', '.join(money)}")
            if is_strict:
                strict += 1
                # Decoded by the plugin's DTO, not by Litestar's lenient signature model.
                dto = handler.resolve_data_dto()
                assert dto is not None and issubclass(dto, _StrictDTO), where
    assert strict >= 25, strict
    assert lenient == [], "\n".join(lenient)


class Payment(StrictBody, forbid_unknown_fields=True):
    amount_cents: Cents
    note: str = ""


@post("/pay", status_code=201)
async def pay(data: Payment) -> dict[str, Any]:
    return {"amount_cents": data.amount_cents, "type": type(data).__name__}


def test_a_strict_body_refuses_what_litestar_would_convert() -> None:
    with create_test_client(
        [pay], plugins=[StrictBodies()], exception_handlers=EXCEPTION_HANDLERS
    ) as client:
        ok = client.post("/pay", json={"amount_cents": 3500})
        assert ok.status_code == 201, ok.text
        assert ok.json() == {"amount_cents": 3500, "type": "Payment"}
        for body in (
            {"amount_cents": "3500"},  # Litestar alone converts this to 3500
            {"amount_cents": 3500.0},
            {"amount_cents": True},
            {"amount_cents": 0},  # the type's own constraints still hold
            {"amount_cents": 3500, "extra": 1},
            {},
        ):
            r = client.post("/pay", json=body)
            assert r.status_code == 400, (body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["type"] == "invalid-input", r.text
        for raw in (b"", b"{", b"[]", b'{"amount_cents": 1}{'):
            r = client.post("/pay", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 400, (raw, r.text)

        # The OpenAPI request body is the type's own schema, as without the plugin.
        doc = client.get("/schema/openapi.json").json()
        body = doc["paths"]["/pay"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"] == {"$ref": "#/components/schemas/Payment"}
        assert doc["components"]["schemas"]["Payment"]["properties"]["amount_cents"]["type"] == (
            "integer"
        )


class Line(StrictBody, forbid_unknown_fields=True):
    category: str
    amount_cents: Cents


class Order(StrictBody, forbid_unknown_fields=True):
    lines: list[Line]


@post("/order", status_code=201)
async def order(data: Order) -> dict[str, Any]:
    return {"lines": len(data.lines)}


def test_a_refusal_names_the_field_in_every_language() -> None:
    """fi and sv get the translated title as the detail; ``errors`` still says which field,
    in the shape of Litestar's own validation errors."""
    with create_test_client(
        [order], plugins=[StrictBodies()], exception_handlers=EXCEPTION_HANDLERS
    ) as client:
        cases = [
            ({"lines": [{"category": "a", "amount_cents": "3500"}]}, "lines[0].amount_cents"),
            ({"lines": [{"amount_cents": 3500}]}, "lines[0].category"),
            ({}, "lines"),
            ({"lines": [], "note": "x"}, "note"),
            ([1], "data"),
        ]
        for body, key in cases:
            for lang in ("fi", "sv", "en"):
                r = client.post("/order", json=body, headers={"accept-language": lang})
                assert r.status_code == 400, (body, r.text)
                problem = r.json()
                assert problem["type"] == "invalid-input"
                [error] = problem["errors"]
                assert error["key"] == key and error["source"] == "body", (body, error)
                assert error["message"] and " - at " not in error["message"], error
                if lang == "en":
                    assert problem["detail"].startswith(error["message"]), problem
                else:
                    assert problem["detail"] == problem["title"], problem
        r = client.post(
            "/order", content=b'{"lines": [', headers={"content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["errors"][0]["key"] == "data", r.text


def test_without_the_plugin_litestar_would_have_taken_a_string_for_cents() -> None:
    """What the plugin is for: the same route, decoded by Litestar alone, converts it."""
    with create_test_client([pay], exception_handlers=EXCEPTION_HANDLERS) as client:
        r = client.post("/pay", json={"amount_cents": "3500"})
        assert r.status_code == 201, r.text
        assert msgspec.json.decode(r.content)["amount_cents"] == 3500
