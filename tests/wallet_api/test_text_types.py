"""One text rule for every request body (issue 13, item 7), end to end on both engines: a NUL in
free text is a 400 that writes nothing. The walk over every body's schema, so that a new schema
cannot forget the rule, is in ``tests/unit/test_text_types.py``."""

from __future__ import annotations

import pytest

from tests.factories import row_counts
from tests.support.api import auth

# Strings that are not text anyone reads: the browser's WebAuthn credential is a JSON object
# that py_webauthn parses and checks (keys and values of a fixed form), never stored as typed.


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
