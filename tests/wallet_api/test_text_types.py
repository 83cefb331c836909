"""One text rule for every request body (issue 13, item 7): walk the OpenAPI document, and
every string a body carries must refuse control characters by its schema (a pattern), so a
new schema cannot forget; and the rule holds end to end on both engines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec.inspect as mi
import pytest

from tests.wallet_api.conftest import auth, row_counts
from wallet_api.app import create_app

CONTROLS = ["\x00", "\x1b[2J", "\x07", "\x7f", "\x9b", "\r", "\t"]


def bodies() -> Iterator[tuple[str, Any]]:
    """(route, body type) of every route of the app that takes a JSON body."""
    from litestar.handlers.http_handlers import HTTPRouteHandler

    for route in create_app().routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                methods = ",".join(sorted(handler.http_methods - {"HEAD", "OPTIONS"}))
                yield f"{methods} {route.path}", data.annotation


def strings(t: mi.Type, where: str, seen: set[type]) -> Iterator[tuple[str, mi.StrType]]:
    """Every string inside a msgspec type, with where it is (the types msgspec enforces, not
    their OpenAPI rendering, which drops the constraints of list items)."""
    if isinstance(t, mi.StrType):
        yield where, t
    elif isinstance(t, mi.StructType):
        if t.cls in seen:
            return
        seen = seen | {t.cls}
        for field in t.fields:
            yield from strings(field.type, f"{where}.{field.name}", seen)
    elif isinstance(t, mi.UnionType):
        for alt in t.types:
            yield from strings(alt, where, seen)
    elif isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        yield from strings(t.item_type, f"{where}[]", seen)
    elif isinstance(t, mi.DictType):
        yield from strings(t.key_type, f"{where}{{key}}", seen)
        yield from strings(t.value_type, f"{where}{{}}", seen)


# Strings that are not text anyone reads: the browser's WebAuthn credential is a JSON object
# that py_webauthn parses and checks (keys and values of a fixed form), never stored as typed.
NOT_TEXT = {"credential{key}"}


def test_every_string_in_every_request_body_refuses_control_characters():
    missing = []
    walked = 0
    for route, body in bodies():
        for where, node in strings(mi.type_info(body), f"{route} body", set()):
            walked += 1
            if any(where.endswith(f"body.{n}") for n in NOT_TEXT):
                continue
            pattern = node.pattern
            let_through = [c for c in CONTROLS if pattern is None or re.search(pattern, f"a{c}b")]
            if let_through:
                missing.append(f"{where}: pattern {pattern!r} lets {let_through!r} through")
            elif pattern.endswith("$") and not pattern.endswith("\\$"):
                # re.search's "$" matches before a final newline too: "fi\n" would pass.
                missing.append(f"{where}: pattern {pattern!r} ends in $; use types.whole()")
    assert walked > 30, walked
    assert missing == [], "\n".join(missing)


NUL_INPUTS = [
    # (name, role, method, path, body)
    ("refund reason", "provider", "POST", "/api/charges/{charge}/refunds",
     {"amount_cents": 1, "reason": "x\x00y"}),
    ("decision line label", "case_manager", "POST", "/api/clients/{client}/decisions",
     {"valid_from": "2026-12-01",
      "lines": [{"label": "x\x00y", "categories": ["siivous"], "monthly_amount_cents": 100}]}),
    ("carer display name", "client", "POST", "/api/clients/{client}/carers",
     {"display_name": "Matti\x00", "scopes": ["view"]}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "role", "method", "path", "body"), NUL_INPUTS, ids=[n[0] for n in NUL_INPUTS]
)
async def test_a_nul_in_free_text_is_a_400_that_writes_nothing(
    client, db, world, keys, name, role, method, path, body
):
    charge = await client.post(
        "/api/charges",
        json={
            "phone": world.phone,
            "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
        },
        headers=auth(keys.provider, **{"Idempotency-Key": "text-types"}),
    )
    assert charge.status_code == 201, charge.text
    key = {"client": keys.client, "provider": keys.provider, "case_manager": keys.case_manager}
    before = await row_counts(db)
    url = path.format(charge=charge.json()["id"], client=world.client_id)
    r = await client.request(
        method, url, json=body, headers=auth(key[role], **{"Idempotency-Key": name})
    )
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "invalid-input"
    assert await row_counts(db) == before
