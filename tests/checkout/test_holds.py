"""Visit holds: hold at check-in, capture at most that at check-out, release the rest; void;
expiry; races; and a release after the month has closed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from payments.budgets.funding import fund_period
from payments.checkout.visits import expire_holds
from payments.ledger.periods import next_period
from payments.models import Hold
from tests.checkout.helpers import (
    HOME_HELP_1_5H,
    HOME_HELP_2H,
    assert_books_ok,
    balance,
    charges,
    hold_status,
    post,
    set_expiry,
    transfer_kinds,
)
from tests.support.api import auth
from tests.support.money import post_refund
from wallet_api.scheduler import Scheduler


async def token_of(client, keys, world):
    r = await client.post(
        f"/api/wallets/{world.wallet_id}/payment-tokens", json={}, headers=auth(keys.client)
    )
    return r.json()["token"]


async def new_hold(client, keys, world, lines=HOME_HELP_2H):
    body = {"token": await token_of(client, keys, world), "lines": lines}
    r = await post(client, "/api/holds", keys.provider, body)
    assert r.status_code == 201, r.text
    return r.json()


async def test_hold_capture_less_releases_the_rest(client, db, world, keys):
    hold = await new_hold(client, keys, world)
    assert hold["status"] == "held" and hold["amount_cents"] == 7600
    assert await balance(db, world) == 30_000 - 7600
    await assert_books_ok(db)
    url = f"/api/holds/{hold['id']}"
    assert (await client.get(url, headers=auth(keys.other_provider))).status_code == 404
    stolen = await post(client, url + "/capture", keys.other_provider, {"lines": HOME_HELP_1_5H})
    assert stolen.status_code == 404

    too_much = [{"category": "kotiapu", "quantity": "3", "unit_price_cents": 3800}]
    r = await post(client, url + "/capture", keys.provider, {"lines": too_much})
    assert r.status_code == 422 and r.json()["type"] == "capture-exceeds-hold"
    r = await post(
        client, url + "/capture", keys.provider, {"lines": HOME_HELP_1_5H}, idem_key="c1"
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "captured" and r.json()["captured_cents"] == 5700
    assert r.json()["charge"]["total_cents"] == 5700
    again = await post(
        client, url + "/capture", keys.provider, {"lines": HOME_HELP_1_5H}, idem_key="c1"
    )
    assert again.status_code == 200 and again.json() == r.json()
    other = await post(client, url + "/capture", keys.provider, {"lines": HOME_HELP_1_5H})
    assert other.status_code == 409 and other.json()["type"] == "hold-not-open"
    void = await client.post(url + "/void", json={}, headers=auth(keys.provider))
    assert void.status_code == 409
    assert await balance(db, world) == 30_000 - 5700
    assert await charges(db) == 1
    assert "hold_release" in await transfer_kinds(db)
    # The captured charge is an ordinary charge: it can be refunded to the envelope.
    refund = await post_refund(client, keys.provider, r.json()["charge_id"])
    assert refund.status_code == 201, refund.text
    assert await balance(db, world) == 30_000
    await assert_books_ok(db)


async def test_void_is_safe_to_retry(client, db, world, keys):
    hold = await new_hold(client, keys, world)
    url = f"/api/holds/{hold['id']}/void"
    first = await client.post(url, json={}, headers=auth(keys.provider))
    second = await client.post(url, json={}, headers=auth(keys.provider))
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "voided"
    assert await balance(db, world) == 30_000
    await assert_books_ok(db)


async def test_two_captures_and_capture_vs_void_race(client, db, world, keys):
    one_h = [{"category": "kotiapu", "quantity": "1", "unit_price_cents": 3800}]
    half_h = [{"category": "kotiapu", "quantity": "0.5", "unit_price_cents": 3800}]
    for _ in range(3):
        hold = await new_hold(client, keys, world, lines=one_h)
        url = f"/api/holds/{hold['id']}"
        results = await asyncio.gather(
            post(client, url + "/capture", keys.provider, {"lines": half_h}),
            post(client, url + "/capture", keys.provider, {"lines": one_h}),
        )
        assert sorted(r.status_code for r in results) == [200, 409]
        hold = await new_hold(client, keys, world, lines=one_h)
        url = f"/api/holds/{hold['id']}"
        results = await asyncio.gather(
            post(client, url + "/capture", keys.provider, {"lines": half_h}),
            client.post(url + "/void", json={}, headers=auth(keys.provider)),
        )
        assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
        await assert_books_ok(db)
    assert await charges(db) in range(3, 7)


async def test_expired_hold_is_released_and_cannot_be_captured(client, db, world, keys):
    hold = await new_hold(client, keys, world)
    hid = uuid.UUID(hold["id"])
    await set_expiry(db, Hold, hid, datetime.now(UTC) - timedelta(seconds=1))
    r = await post(client, f"/api/holds/{hid}/capture", keys.provider, {"lines": HOME_HELP_1_5H})
    assert r.status_code == 409 and r.json()["type"] == "hold-not-open"
    # The scheduler's expiry job: (requests, holds) released; a rerun releases nothing.
    assert await Scheduler(db).expire_now() == (0, 1)
    assert await expire_holds(db) == 0
    assert await hold_status(db, hid) == "expired"
    assert await balance(db, world) == 30_000
    await assert_books_ok(db)


async def test_phone_hold_only_for_trusted_provider(client, db, world, keys):
    body = {"phone": world.phone, "lines": HOME_HELP_2H}
    r = await post(client, "/api/holds", keys.provider, body)
    assert r.status_code == 403 and r.json()["type"] == "consent-required"
    await client.put(
        f"/api/wallets/{world.wallet_id}/trusted-providers/{world.provider_id}",
        json={"per_charge_cap_cents": 8000},
        headers=auth(keys.client),
    )
    r = await post(client, "/api/holds", keys.provider, body)
    assert r.status_code == 201, r.text
    await assert_books_ok(db)


async def test_release_after_month_closed_goes_to_expired(client, db, world, keys):
    hold = await new_hold(client, keys, world)
    # Month end: funding closes this month (its remainder expires) and funds the next.
    await fund_period(db, next_period(world.period))
    void = await client.post(f"/api/holds/{hold['id']}/void", json={}, headers=auth(keys.provider))
    assert void.status_code == 200, void.text
    kinds = await transfer_kinds(db)
    assert "hold_expired" in kinds and "hold_release" not in kinds
    await assert_books_ok(db)
