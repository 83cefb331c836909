"""Phone-number checkout: trusted providers capture at once, others ask; approve, decline,
expire (and their races), provider-presented QR requests, and who may do what."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from payments.checkout.requests import approve_request, expire_requests
from payments.models import Hold, PaymentRequest
from tests.checkout.helpers import (
    CLEANING_2H,
    assert_books_ok,
    balance,
    charges,
    hold_status,
    post,
    request_status,
    set_expiry,
    transfer_kinds,
)
from tests.factories import count
from tests.support.api import auth


async def phone(client, key, lines=CLEANING_2H, number="040 123 4567", **h):
    return await post(client, "/api/checkout/phone", key, {"phone": number, "lines": lines}, **h)


async def test_untrusted_phone_holds_then_client_approves(client, db, world, keys):
    r = await phone(client, keys.provider, idem_key="p1")
    assert r.status_code == 202, r.text
    req = r.json()["request"]
    assert r.json()["outcome"] == "pending" and req["status"] == "pending"
    assert req["total_cents"] == 7000 and req["provider_name"] == "Siivouspalvelu Kuura Oy"
    # The money is held at once, so the approval cannot fail later.
    assert await balance(db, world) == 30_000 - 7000
    await assert_books_ok(db)

    async def spent_and_held() -> tuple[int, int]:
        got = await client.get(f"/api/wallets/{world.wallet_id}", headers=auth(keys.client))
        (env,) = got.json()["envelopes"]
        return env["spent_cents"], env["held_cents"]

    # Not yet approved: reserved, not spent (issue 22: money not yet spent is not "spent").
    assert await spent_and_held() == (0, 7000)
    again = await phone(client, keys.provider, idem_key="p1")
    assert again.status_code == 202 and again.json() == r.json()

    listed = await client.get(
        f"/api/wallets/{world.wallet_id}/payment-requests", headers=auth(keys.client)
    )
    assert [x["id"] for x in listed.json()] == [req["id"]]

    url = f"/api/payment-requests/{req['id']}"
    for who in (keys.provider, keys.case_manager, keys.other_provider):
        denied = await client.post(url + "/approve", json={}, headers=auth(who))
        assert denied.status_code in (403, 404), denied.text
    for who in (keys.other_client, keys.carer_none):
        denied = await client.post(url + "/approve", json={}, headers=auth(who))
        assert denied.status_code in (403, 404), denied.text

    ok = await client.post(url + "/approve", json={}, headers=auth(keys.client))
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["charge_id"]
    retry = await client.post(url + "/approve", json={}, headers=auth(keys.client))
    assert retry.status_code == 200 and retry.json()["charge_id"] == ok.json()["charge_id"]
    seen = await client.get(url, headers=auth(keys.provider))
    assert seen.json()["status"] == "approved"
    charge = await client.get(f"/api/charges/{ok.json()['charge_id']}", headers=auth(keys.provider))
    assert charge.status_code == 200 and charge.json()["total_cents"] == 7000
    assert await balance(db, world) == 30_000 - 7000
    assert await spent_and_held() == (7000, 0)
    assert await charges(db) == 1
    assert (await transfer_kinds(db)).count("hold") == 1
    late = await client.post(url + "/decline", json={}, headers=auth(keys.client))
    assert late.status_code == 409 and late.json()["type"] == "request-not-pending"
    await assert_books_ok(db)


async def test_carer_with_approve_declines_and_money_returns(client, db, world, keys):
    r = await phone(client, keys.provider)
    url = f"/api/payment-requests/{r.json()['request']['id']}"
    d = await client.post(url + "/decline", json={}, headers=auth(keys.carer_approve))
    assert d.status_code == 200 and d.json()["status"] == "declined", d.text
    assert await balance(db, world) == 30_000
    a = await client.post(
        url + "/approve", json={}, headers=auth(keys.client, **{"Accept-Language": "en"})
    )
    assert a.status_code == 409 and a.json()["type"] == "request-declined"
    assert await charges(db) == 0
    await assert_books_ok(db)


async def test_trusted_provider_within_caps_captures_at_once(client, db, world, keys):
    url = f"/api/wallets/{world.wallet_id}/trusted-providers/{world.provider_id}"
    bad = await client.put(url, json={"per_charge_cap_cents": 8000}, headers=auth(keys.provider))
    assert bad.status_code == 403
    bad = await client.put(
        url, json={"per_charge_cap_cents": 8000}, headers=auth(keys.carer_approve)
    )
    assert bad.status_code == 403  # 'approve' is not 'manage-providers'
    t = await client.put(
        url,
        json={"per_charge_cap_cents": 8000, "monthly_cap_cents": 15_000},
        headers=auth(keys.client),
    )
    assert t.status_code == 200, t.text
    first = await phone(client, keys.provider)
    assert first.status_code == 201 and first.json()["outcome"] == "captured", first.text
    assert first.json()["charge"]["total_cents"] == 7000
    second = await phone(client, keys.provider)
    assert second.status_code == 201  # 14,000 of 15,000 this month
    third = await phone(client, keys.provider)
    assert third.status_code == 202  # would pass the monthly cap: ask the client
    big = await phone(
        client,
        keys.provider,
        lines=[{"category": "siivous", "quantity": "2.5", "unit_price_cents": 3500}],
    )
    assert big.status_code == 202  # above the per-charge cap
    listed = await client.get(
        f"/api/wallets/{world.wallet_id}/trusted-providers", headers=auth(keys.case_manager)
    )
    assert listed.json()[0]["month_spent_cents"] == 14_000
    gone = await client.delete(url, headers=auth(keys.case_manager))
    assert gone.status_code == 204
    small = [{"category": "siivous", "quantity": "0.05", "unit_price_cents": 3500}]
    assert (await phone(client, keys.provider, lines=small)).status_code == 202
    await assert_books_ok(db)


async def test_trusted_caps_hold_under_concurrency(client, db, world, keys):
    url = f"/api/wallets/{world.wallet_id}/trusted-providers/{world.provider_id}"
    await client.put(
        url,
        json={"per_charge_cap_cents": 8000, "monthly_cap_cents": 14_000},
        headers=auth(keys.client),
    )
    results = await asyncio.gather(*(phone(client, keys.provider) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [201, 201, 202, 202]
    await assert_books_ok(db)


async def test_expiry_releases_and_approve_after_expiry_is_refused(client, db, world, keys):
    r = await phone(client, keys.provider)
    rid = uuid.UUID(r.json()["request"]["id"])
    await set_expiry(db, PaymentRequest, rid, datetime.now(UTC) - timedelta(seconds=1))
    a = await client.post(
        f"/api/payment-requests/{rid}/approve", json={}, headers=auth(keys.client)
    )
    assert a.status_code == 409 and a.json()["type"] == "request-expired"
    assert await expire_requests(db) == 1
    assert await expire_requests(db) == 0
    assert await request_status(db, rid) == "expired"
    assert await balance(db, world) == 30_000
    seen = await client.get(f"/api/payment-requests/{rid}", headers=auth(keys.provider))
    assert seen.json()["status"] == "expired"
    await assert_books_ok(db)


async def test_approve_races_expiry_exactly_one_wins(client, db, world, keys):
    for _ in range(4):
        r = await phone(client, keys.provider)
        rid = uuid.UUID(r.json()["request"]["id"])
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        await set_expiry(db, PaymentRequest, rid, deadline)
        results = await asyncio.gather(
            approve_request(
                db,
                request_id=rid,
                wallet_id=world.wallet_id,
                actor_id=world.client_principal,
                now=deadline - timedelta(seconds=1),
            ),
            expire_requests(db, now=deadline + timedelta(seconds=1)),
            return_exceptions=True,
        )
        status = await request_status(db, rid)
        approved = not isinstance(results[0], BaseException)
        assert (status == "approved") == approved and (results[1] == 1) != approved, results
        await assert_books_ok(db)
    total_held = await count(db, Hold)
    assert total_held == 4
    assert await balance(db, world) == 30_000 - 7000 * await charges(db)


async def test_provider_qr_request_is_paid_by_whoever_approves(client, db, world, keys):
    r = await post(client, "/api/payment-requests", keys.provider, {"lines": CLEANING_2H})
    assert r.status_code == 201, r.text
    req = r.json()
    assert (
        req["wallet_id"] is None
        and req["qr_payload"].endswith(req["id"])
        and "<svg" in req["qr_svg"]
    )
    url = f"/api/payment-requests/{req['id']}"
    seen = await client.get(url, headers=auth(keys.client))
    assert seen.status_code == 200 and seen.json()["total_cents"] == 7000
    assert (await client.get(url, headers=auth(keys.other_provider))).status_code == 404
    ok = await client.post(url + "/approve", json={}, headers=auth(keys.client))
    assert ok.status_code == 200 and ok.json()["wallet_id"] == str(world.wallet_id), ok.text
    assert await balance(db, world) == 30_000 - 7000
    # Now bound to that wallet: nobody else sees or pays it.
    assert (await client.get(url, headers=auth(keys.other_client))).status_code == 403
    again = await client.post(url + "/approve", json={}, headers=auth(keys.other_client))
    assert again.status_code in (403, 404)
    await assert_books_ok(db)


async def test_provider_cancels_pending_request(client, db, world, keys):
    r = await phone(client, keys.provider)
    rid = r.json()["request"]["id"]
    bad = await client.post(
        f"/api/payment-requests/{rid}/cancel", json={}, headers=auth(keys.other_provider)
    )
    assert bad.status_code == 404
    c = await client.post(
        f"/api/payment-requests/{rid}/cancel", json={}, headers=auth(keys.provider)
    )
    assert c.status_code == 200 and c.json()["status"] == "cancelled"
    assert await balance(db, world) == 30_000
    hold_id = None
    assert hold_id is None or await hold_status(db, hold_id) == "voided"
    await assert_books_ok(db)
