"""What each mandate scope lets a carer do, route by route.

A carer with only ``view`` reads everything about the wallet (balances, history, statements,
pending requests, trusted providers, a charge, who looked) and moves nothing: no payment code,
no approval or decline, no trusted provider. ``approve`` adds the payment code and answering
requests; ``manage-providers`` adds the trusted providers. Each refusal is a 403 ``forbidden``
that writes nothing, and the same call by the carer who holds the scope succeeds, so the
refusal is the scope's doing and not a broken path.
"""

from __future__ import annotations

import uuid
from typing import Any

from payments.models import PaymentToken, TrustedProvider
from tests.checkout.helpers import (
    CLEANING_2H,
    assert_books_ok,
    balance,
    charges,
    post,
    request_status,
)
from tests.factories import World, count, row_counts
from tests.support.api import Keys, auth

FULL = 30_000


async def pending_request(client: Any, keys: Keys) -> str:
    """A payment request for 70 EUR, held on the wallet (the provider is not trusted)."""
    r = await post(
        client,
        "/api/checkout/phone",
        keys.provider,
        {"phone": "040 123 4567", "lines": CLEANING_2H},
    )
    assert r.status_code == 202 and r.json()["outcome"] == "pending", r.text
    return str(r.json()["request"]["id"])


async def captured_charge(client: Any, keys: Keys, world: World) -> str:
    """A charge captured with the client's own payment code."""
    tok = await client.post(
        f"/api/wallets/{world.wallet_id}/payment-tokens", json={}, headers=auth(keys.client)
    )
    assert tok.status_code == 201, tok.text
    body = {"code": tok.json()["code"], "lines": CLEANING_2H}
    r = await post(client, "/api/checkout/token", keys.provider, body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def trusted_count(db: Any) -> int:
    return await count(db, TrustedProvider)


async def test_view_only_carer_reads_every_wallet_route(client, db, world, keys):
    charge_id = await captured_charge(client, keys, world)
    request_id = await pending_request(client, keys)
    w = f"/api/wallets/{world.wallet_id}"
    h = auth(keys.carer_view)

    wallet = await client.get(w, headers=h)
    assert wallet.status_code == 200, wallet.text
    assert wallet.json()["envelopes"][0]["balance_cents"] == FULL - 7000 - 7000
    history = await client.get(w + "/transactions", headers=h)
    assert history.status_code == 200 and history.json()["items"], history.text
    months = await client.get(w + "/statements", headers=h)
    assert months.status_code == 200 and months.json(), months.text
    month = await client.get(w + f"/statements/{world.period}", headers=h)
    assert month.status_code == 200, month.text
    chart = await client.get(w + "/chart.svg", headers=h)
    assert chart.status_code == 200 and "<svg" in chart.text
    waiting = await client.get(w + "/payment-requests", headers=h)
    assert waiting.status_code == 200 and [x["id"] for x in waiting.json()] == [request_id]
    trusted = await client.get(w + "/trusted-providers", headers=h)
    assert trusted.status_code == 200 and trusted.json() == []
    req = await client.get(f"/api/payment-requests/{request_id}", headers=h)
    assert req.status_code == 200 and req.json()["status"] == "pending", req.text
    charge = await client.get(f"/api/charges/{charge_id}", headers=h)
    assert charge.status_code == 200 and charge.json()["total_cents"] == 7000
    looked = await client.get(f"/api/clients/{world.client_id}/views", headers=h)
    assert looked.status_code == 200, looked.text
    me = await client.get("/api/me", headers=h)
    assert me.json()["wallets"] == [str(world.wallet_id)]


async def test_view_only_carer_cannot_make_a_payment_code(client, db, world, keys):
    url = f"/api/wallets/{world.wallet_id}/payment-tokens"
    before = await count(db, PaymentToken)
    r = await client.post(url, json={}, headers=auth(keys.carer_view))
    assert r.status_code == 403 and r.json()["type"] == "forbidden", r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await count(db, PaymentToken) == before
    # The same call with 'approve' is a payment code: the refusal above is the scope's.
    ok = await client.post(url, json={}, headers=auth(keys.carer_approve))
    assert ok.status_code == 201 and len(ok.json()["code"]) == 8, ok.text
    assert await count(db, PaymentToken) == before + 1
    r = await client.post(url, json={}, headers=auth(keys.carer_providers))
    assert r.status_code == 403, "'manage-providers' is not 'approve'"


async def test_view_only_carer_cannot_approve_or_decline(client, db, world, keys):
    request_id = await pending_request(client, keys)
    url = f"/api/payment-requests/{request_id}"
    before = await row_counts(db)
    for who in (keys.carer_view, keys.carer_providers):
        for answer in ("approve", "decline"):
            r = await client.post(f"{url}/{answer}", json={}, headers=auth(who))
            assert r.status_code == 403 and r.json()["type"] == "forbidden", (answer, r.text)
    assert await row_counts(db) == before
    assert await request_status(db, uuid.UUID(request_id)) == "pending"
    assert await balance(db, world) == FULL - 7000  # still held, not captured nor returned
    assert await charges(db) == 0

    ok = await client.post(url + "/approve", json={}, headers=auth(keys.carer_approve))
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    assert await charges(db) == 1 and await balance(db, world) == FULL - 7000

    second = await pending_request(client, keys)
    no = await client.post(
        f"/api/payment-requests/{second}/decline", json={}, headers=auth(keys.carer_approve)
    )
    assert no.status_code == 200 and no.json()["status"] == "declined", no.text
    assert await balance(db, world) == FULL - 7000
    await assert_books_ok(db)


async def test_view_only_carer_cannot_approve_a_providers_qr_request(client, db, world, keys):
    """A provider-presented QR request names no wallet: the carer names it, and still needs
    ``approve`` over it."""
    qr = await post(client, "/api/payment-requests", keys.provider, {"lines": CLEANING_2H})
    assert qr.status_code == 201, qr.text
    url = f"/api/payment-requests/{qr.json()['id']}/approve"
    body = {"wallet_id": str(world.wallet_id)}
    before = await row_counts(db)
    r = await client.post(url, json=body, headers=auth(keys.carer_view))
    assert r.status_code == 403 and r.json()["type"] == "forbidden", r.text
    assert await row_counts(db) == before
    assert await request_status(db, uuid.UUID(qr.json()["id"])) == "pending"
    ok = await client.post(url, json=body, headers=auth(keys.carer_approve))
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    assert await balance(db, world) == FULL - 7000
    await assert_books_ok(db)


async def test_only_manage_providers_carer_changes_trusted_providers(client, db, world, keys):
    url = f"/api/wallets/{world.wallet_id}/trusted-providers/{world.provider_id}"
    caps = {"per_charge_cap_cents": 8000, "monthly_cap_cents": 15_000}
    for who in (keys.carer_view, keys.carer_approve):
        r = await client.put(url, json=caps, headers=auth(who))
        assert r.status_code == 403 and r.json()["type"] == "forbidden", r.text
    assert await trusted_count(db) == 0

    ok = await client.put(url, json=caps, headers=auth(keys.carer_providers))
    assert ok.status_code == 200 and ok.json()["per_charge_cap_cents"] == 8000, ok.text
    assert await trusted_count(db) == 1

    for who in (keys.carer_view, keys.carer_approve):
        r = await client.delete(url, headers=auth(who))
        assert r.status_code == 403 and r.json()["type"] == "forbidden", r.text
    assert await trusted_count(db) == 1
    gone = await client.delete(url, headers=auth(keys.carer_providers))
    assert gone.status_code == 204, gone.text
    assert await trusted_count(db) == 0


async def test_view_only_carer_manages_no_mandates_and_no_cards(client, db, world, keys):
    """People's rights over the client stay with the client and the case manager."""
    c = f"/api/clients/{world.client_id}"
    h = auth(keys.carer_view)
    assert (await client.get(c + "/mandates", headers=h)).status_code == 403
    r = await client.put(
        c + "/mandates", json={"carer_id": str(uuid.uuid4()), "scopes": ["view"]}, headers=h
    )
    assert r.status_code == 403
    r = await client.post(c + "/carers", json={"display_name": "X", "scopes": ["view"]}, headers=h)
    assert r.status_code == 403
    r = await client.post(f"/api/wallets/{world.wallet_id}/cards", json={"pin": "4826"}, headers=h)
    assert r.status_code == 403


async def test_view_mandate_granted_by_the_client_and_accepted_stays_view_only(
    client, db, world, keys
):
    """The client's own grant of ``view`` to an existing carer, once the carer accepts, lets
    them read and nothing more (before accepting, not even that)."""
    from payments.budgets import catalogue
    from tests.factories import api_key_for

    carer = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Naapuri"
    )
    key = await api_key_for(db, carer)
    asked = await client.put(
        f"/api/clients/{world.client_id}/mandates",
        json={"carer_id": str(carer), "scopes": ["view"]},
        headers=auth(keys.client),
    )
    assert asked.status_code == 200, asked.text
    (mine,) = [m for m in asked.json() if m["carer_id"] == str(carer)]
    assert mine["status"] == "pending" and mine["scopes"] == ["view"]
    w = f"/api/wallets/{world.wallet_id}"
    assert (await client.get(w, headers=auth(key))).status_code == 403
    accepted = await client.post(
        f"/api/me/mandates/{world.client_id}/accept", json={}, headers=auth(key)
    )
    assert accepted.status_code == 200 and accepted.json()["scopes"] == ["view"], accepted.text
    assert (await client.get(w, headers=auth(key))).status_code == 200

    request_id = await pending_request(client, keys)
    r = await client.post(f"/api/payment-requests/{request_id}/approve", json={}, headers=auth(key))
    assert r.status_code == 403, r.text
    r = await client.post(w + "/payment-tokens", json={}, headers=auth(key))
    assert r.status_code == 403, r.text
    assert await request_status(db, uuid.UUID(request_id)) == "pending"
