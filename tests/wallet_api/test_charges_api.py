"""The charge and refund API on both engines: happy paths, every refusal, nothing written."""

from __future__ import annotations

import asyncio

import pytest

from payments.books import check_books
from tests.factories import row_counts
from tests.support.api import auth
from tests.support.money import post_charge, post_refund

CLEANING_2H = {
    "phone": "040 123 4567",
    "lines": [{"category": "siivous", "quantity": "2", "unit_price_cents": 3500}],
}


async def balance(client, keys, world) -> int:
    r = await client.get(f"/api/wallets/{world.wallet_id}", headers=auth(keys.client))
    assert r.status_code == 200, r.text
    return r.json()["envelopes"][0]["balance_cents"]


async def test_health_and_openapi(client):
    r = await client.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    spec = (await client.get("/schema/openapi.json")).json()
    assert "/api/charges" in spec["paths"]
    assert "/api/charges/{charge_id}/refunds" in spec["paths"]


async def test_charge_refund_and_history(client, db, world, keys):
    r = await post_charge(client, keys.provider, CLEANING_2H)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["total_cents"] == 7000 and body["status"] == "captured"
    assert await balance(client, keys, world) == 30_000 - 7000

    r = await post_refund(
        client,
        keys.provider,
        body["id"],
        {"amount_cents": 1750, "reason": "half an hour less"},
        idem="refund-1",
    )
    assert r.status_code == 201, r.text
    assert r.json()["returned_to"] == "envelope"
    assert await balance(client, keys, world) == 30_000 - 7000 + 1750

    hist = await client.get(
        f"/api/wallets/{world.wallet_id}/transactions", headers=auth(keys.client)
    )
    kinds = [t["kind"] for t in hist.json()["items"]]
    assert kinds == ["refund", "charge", "funding"]
    amounts = [t["amount_cents"] for t in hist.json()["items"]]
    assert amounts == [1750, -7000, 30_000]

    mine = await client.get("/api/charges", headers=auth(keys.provider))
    assert [c["id"] for c in mine.json()["items"]] == [body["id"]]
    theirs = await client.get("/api/charges", headers=auth(keys.other_provider))
    assert theirs.json()["items"] == []
    assert (await check_books(db)).ok


async def test_history_pagination_and_filters(client, world, keys):
    for _ in range(5):
        assert (await post_charge(client, keys.provider, _line())).status_code == 201
    seen = []
    cursor = None
    while True:
        url = f"/api/wallets/{world.wallet_id}/transactions?limit=2"
        if cursor:
            url += f"&cursor={cursor}"
        page = (await client.get(url, headers=auth(keys.client))).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 6 and seen == sorted(seen, reverse=True)
    only = await client.get(
        f"/api/wallets/{world.wallet_id}/transactions?kind=funding", headers=auth(keys.client)
    )
    assert [t["kind"] for t in only.json()["items"]] == ["funding"]
    bad = await client.get(
        f"/api/wallets/{world.wallet_id}/transactions?cursor=%%%", headers=auth(keys.client)
    )
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")


def _line(**kw):
    line = {"category": "siivous", "quantity": "1", "unit_price_cents": 3500}
    line.update(kw)
    return {"phone": "040 123 4567", "lines": [line]}


REFUSALS = [
    # (name, body, status, type)
    ("overspend", _line(quantity="9"), 422, "insufficient-funds"),
    (
        "not in budget",
        _line(category="kuljetus", unit_price_cents=2500),
        403,
        "provider-not-approved",
    ),
    ("above list", _line(unit_price_cents=3600), 422, "price-above-list"),
    ("unknown category", _line(category="hieronta"), 422, "unknown-category"),
    ("zero quantity", _line(quantity="0"), 400, "invalid-input"),
    ("negative quantity", _line(quantity="-1"), 400, "invalid-input"),
    ("nan quantity", _line(quantity="NaN"), 400, "invalid-input"),
    ("too precise", _line(quantity="1.0001"), 400, "invalid-input"),
    ("zero price", _line(unit_price_cents=0), 400, "invalid-input"),
    ("negative price", _line(unit_price_cents=-5), 400, "invalid-input"),
    ("float price", _line(unit_price_cents=35.5), 400, "invalid-input"),
    ("string price", _line(unit_price_cents="3500"), 400, "invalid-input"),
    ("huge price", _line(unit_price_cents=2**63), 400, "invalid-input"),
    ("huge quantity", _line(quantity="1e30"), 400, "invalid-input"),
    ("no lines", {"phone": "040 123 4567", "lines": []}, 400, "invalid-input"),
    ("bad phone", {**_line(), "phone": "12ab"}, 400, "invalid-phone"),
    # A control character is refused by the one text type before any phone rule runs.
    ("control chars phone", {**_line(), "phone": "040\x00123"}, 400, "invalid-input"),
    ("no customer", {"lines": _line()["lines"]}, 400, "invalid-input"),
    ("unknown field", {**_line(), "tip": 5}, 400, "invalid-input"),
    # A number that finds no client who trusts the provider: the answer an untrusted
    # provider gets for a client's number too (issue 13), so a number reveals nothing.
    ("unknown phone", {**_line(), "phone": "040 999 9999"}, 403, "consent-required"),
]


@pytest.mark.parametrize("name,body,status,slug", REFUSALS, ids=[r[0] for r in REFUSALS])
async def test_refusals_write_nothing(client, db, world, keys, name, body, status, slug):
    before = await row_counts(db)
    r = await post_charge(client, keys.provider, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == slug and problem["status"] == status and problem["title"]
    assert await row_counts(db) == before
    assert await balance(client, keys, world) == 30_000


async def test_an_empty_or_cut_body_says_what_is_wrong_and_writes_nothing(client, db, keys):
    before = await row_counts(db)
    headers = auth(
        keys.provider,
        **{"Content-Type": "application/json", "Accept-Language": "en", "Idempotency-Key": "e"},
    )
    r = await client.post("/api/charges", content=b"", headers=headers)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == "invalid-input"
    assert problem["detail"] == "This request needs a JSON body"
    assert problem["errors"] == [{"key": "data", "source": "body", "message": "missing"}]
    r = await client.post("/api/charges", content=b'{"phone": ', headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "invalid-input"
    assert "truncated" in r.json()["detail"], r.text
    assert await row_counts(db) == before


async def test_unknown_phone_and_no_budget_answer_alike(client, db, world, keys):
    """The taxi is approved for transport; the client has no transport budget and does not
    trust the taxi. An unknown number must get exactly the same answer, so who has a budget
    does not leak (and the taxi is told to ask instead)."""
    r = await client.delete(
        f"/api/wallets/{world.wallet_id}/trusted-providers/{world.other_provider_id}",
        headers=auth(keys.client),
    )
    assert r.status_code == 204
    taxi = {"lines": [{"category": "kuljetus", "quantity": "1", "unit_price_cents": 2500}]}
    known = await post_charge(client, keys.other_provider, {**taxi, "phone": "040 123 4567"})
    unknown = await post_charge(client, keys.other_provider, {**taxi, "phone": "040 999 9999"})
    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()
    assert known.json()["type"] == "consent-required"


async def test_wrong_content_type_and_missing_key(client, db, world, keys):
    before = await row_counts(db)
    r = await client.post(
        "/api/charges",
        content=b"phone=0401234567",
        headers=auth(
            keys.provider,
            **{"Idempotency-Key": "k", "Content-Type": "application/x-www-form-urlencoded"},
        ),
    )
    assert r.status_code == 415 and r.json()["type"] == "unsupported-media-type"
    r = await client.post("/api/charges", json=CLEANING_2H, headers=auth(keys.provider))
    assert r.status_code == 400 and r.json()["type"] == "idempotency-key-missing"
    r = await client.post(
        "/api/charges",
        content=b'{"phone": ',
        headers=auth(
            keys.provider, **{"Idempotency-Key": "k2", "Content-Type": "application/json"}
        ),
    )
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem")
    deep = b'{"phone":' + b"[" * 5000 + b"]" * 5000 + b"}"
    r = await client.post(
        "/api/charges",
        content=deep,
        headers=auth(
            keys.provider, **{"Idempotency-Key": "k3", "Content-Type": "application/json"}
        ),
    )
    assert r.status_code == 400
    big = b'{"phone": "' + b"1" * 200_000 + b'"}'
    r = await client.post(
        "/api/charges",
        content=big,
        headers=auth(
            keys.provider, **{"Idempotency-Key": "k4", "Content-Type": "application/json"}
        ),
    )
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem")
    assert await row_counts(db) == before


async def test_idempotent_replay_and_reuse(client, db, world, keys):
    first = await post_charge(client, keys.provider, CLEANING_2H, idem="same")
    again = await post_charge(client, keys.provider, CLEANING_2H, idem="same")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    before = await row_counts(db)
    other = await post_charge(client, keys.provider, _line(quantity="1"), idem="same")
    assert other.status_code == 409 and other.json()["type"] == "idempotency-key-reused"
    assert await row_counts(db) == before
    assert await balance(client, keys, world) == 30_000 - 7000


async def test_concurrent_duplicates_through_http(client, db, world, keys):
    results = await asyncio.gather(
        *(post_charge(client, keys.provider, CLEANING_2H, idem="race") for _ in range(20))
    )
    assert {r.status_code for r in results} == {201}
    assert len({r.text for r in results}) == 1
    counts = await row_counts(db)
    assert counts["charges"] == 1
    assert await balance(client, keys, world) == 30_000 - 7000
    assert (await check_books(db)).ok


async def test_other_providers_charge_is_not_theirs(client, db, world, keys):
    r = await post_charge(client, keys.provider, CLEANING_2H)
    cid = r.json()["id"]
    before = await row_counts(db)
    got = await client.get(f"/api/charges/{cid}", headers=auth(keys.other_provider))
    assert got.status_code == 404
    refund = await post_refund(client, keys.other_provider, cid, idem="steal")
    assert refund.status_code == 404 and refund.json()["type"] == "not-found"
    assert await row_counts(db) == before
    # The charged client and their carer may see it; another client may not.
    assert (await client.get(f"/api/charges/{cid}", headers=auth(keys.client))).status_code == 200
    assert (
        await client.get(f"/api/charges/{cid}", headers=auth(keys.carer_view))
    ).status_code == 200
    assert (
        await client.get(f"/api/charges/{cid}", headers=auth(keys.other_client))
    ).status_code == 403


async def test_refund_limits(client, db, world, keys):
    cid = (await post_charge(client, keys.provider, CLEANING_2H)).json()["id"]
    too_much = await post_refund(client, keys.provider, cid, {"amount_cents": 7001}, idem="a")
    assert too_much.status_code == 422 and too_much.json()["type"] == "refund-exceeds-charge"
    whole = await post_refund(client, keys.provider, cid, idem="b")
    assert whole.status_code == 201 and whole.json()["amount_cents"] == 7000
    again = await post_refund(client, keys.provider, cid, idem="c")
    assert again.status_code == 422
    assert await balance(client, keys, world) == 30_000
    zero = await post_refund(client, keys.provider, cid, {"amount_cents": 0}, idem="d")
    assert zero.status_code == 400
    assert (await check_books(db)).ok


async def test_case_manager_creates_client_and_decision(client, db, world, keys):
    r = await client.post(
        "/api/clients",
        json={"first_name": "Helmi", "last_name": "Nieminen", "phone": "050 555 1234"},
        headers=auth(keys.case_manager),
    )
    assert r.status_code == 201, r.text
    new = r.json()
    dup = await client.post(
        "/api/clients",
        json={"first_name": "Helmi", "last_name": "N", "phone": "+358505551234"},
        headers=auth(keys.case_manager),
    )
    assert dup.status_code == 409
    r = await client.post(
        f"/api/clients/{new['client_id']}/decisions",
        json={
            "valid_from": world.period + "-01",
            "lines": [
                {"label": "Siivous", "monthly_amount_cents": 5000, "categories": ["siivous"]}
            ],
        },
        headers=auth(keys.case_manager),
    )
    assert r.status_code == 201, r.text
    # Helmi puts the cleaner on her trusted list (here her case manager does it for her).
    r = await client.put(
        f"/api/wallets/{new['wallet_id']}/trusted-providers/{world.provider_id}",
        json={"per_charge_cap_cents": 5000},
        headers=auth(keys.case_manager),
    )
    assert r.status_code in (200, 201), r.text
    # Funded at once: the provider can charge right away.
    ok = await post_charge(client, keys.provider, {**_line(), "phone": "050 555 1234"})
    assert ok.status_code == 201, ok.text
    view = await client.get(f"/api/wallets/{new['wallet_id']}", headers=auth(keys.case_manager))
    assert view.json()["envelopes"][0]["balance_cents"] == 5000 - 3500
    foreign = await client.get(
        f"/api/wallets/{new['wallet_id']}", headers=auth(keys.foreign_case_manager)
    )
    assert foreign.status_code == 404  # another organizer: no such wallet
    bad = await client.post(
        f"/api/clients/{new['client_id']}/decisions",
        json={
            "valid_from": "2026-01-01",
            "lines": [{"label": "x", "monthly_amount_cents": 100, "categories": ["hieronta"]}],
        },
        headers=auth(keys.case_manager),
    )
    assert bad.status_code == 422 and bad.json()["type"] == "unknown-category"
    assert (await check_books(db)).ok


async def test_phone_or_wallet_id_is_not_consent(client, db, keys):
    """Only a provider the client trusts, within the caps, may charge by phone or wallet id;
    anyone else must send a payment request or use the client's payment code."""
    from tests.factories import api_key_for, seed_world, trust_provider

    w = await seed_world(db, phone="040 222 3333", trusted=False)
    key = await api_key_for(db, w.provider_principal)
    body = {**_line(), "phone": "040 222 3333"}
    before = await row_counts(db)
    for who in (body, {"wallet_id": str(w.wallet_id), "lines": body["lines"]}):
        r = await post_charge(client, key, who)
        assert r.status_code == 403, r.text
        assert r.json()["type"] == "consent-required"
    assert await row_counts(db) == before

    await trust_provider(db, w.wallet_id, w.provider_id, per_charge_cap_cents=3000)
    over_cap = await post_charge(client, key, body)  # 35.00 EUR > the 30.00 EUR cap
    assert over_cap.status_code == 403 and over_cap.json()["type"] == "consent-required"
    assert await row_counts(db) == before

    await trust_provider(db, w.wallet_id, w.provider_id, per_charge_cap_cents=5000)
    assert (await post_charge(client, key, body)).status_code == 201
    assert (await check_books(db)).ok
