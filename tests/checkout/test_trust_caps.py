"""A trusted provider's monthly cap counts every way money leaves for it (issue 13, item 4).

Before: only charges by phone number or wallet id counted. A trusted provider could hold and
capture past the client's monthly cap, payments with the client's QR token, card or approval
were invisible to the total, and a refund never lowered it. Each test names the path it covers:
direct charge, hold, capture, visit, request, refund. Through the real app on both engines.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from payments.checkout.visits import expire_holds
from payments.models import Hold
from tests.checkout.helpers import (
    CLEANING_2H,
    HOME_HELP_1_5H,
    HOME_HELP_2H,
    assert_books_ok,
    balance,
    charges,
    post,
    set_expiry,
)
from tests.checkout.test_cards_and_declines import issue
from tests.checkout.test_holds import token_of
from tests.factories import count, row_counts
from tests.support.api import auth
from tests.support.money import post_charge, post_refund


async def trust(client, keys, world, per_charge: int = 8000, monthly: int | None = None) -> None:
    r = await client.put(
        f"/api/wallets/{world.wallet_id}/trusted-providers/{world.provider_id}",
        json={"per_charge_cap_cents": per_charge, "monthly_cap_cents": monthly},
        headers=auth(keys.client),
    )
    assert r.status_code == 200, r.text


async def spent(client, keys, world) -> int:
    """This month's total for the trusted provider, as the client's screen shows it."""
    r = await client.get(
        f"/api/wallets/{world.wallet_id}/trusted-providers", headers=auth(keys.client)
    )
    assert r.status_code == 200, r.text
    (row,) = [x for x in r.json() if x["provider_id"] == str(world.provider_id)]
    return int(row["month_spent_cents"])


async def phone(client, keys, world, lines=CLEANING_2H):
    return await post(
        client, "/api/checkout/phone", keys.provider, {"phone": world.phone, "lines": lines}
    )


async def phone_hold(client, keys, world, lines=HOME_HELP_2H):
    return await post(client, "/api/holds", keys.provider, {"phone": world.phone, "lines": lines})


# --- direct charge ------------------------------------------------------------------------


async def test_direct_charge_by_qr_token_and_card_counts_toward_the_monthly_cap(
    client, db, world, keys
):
    """The client's QR token and card + PIN are consent, so the cap never refuses them; but
    the money went to the trusted provider, so it counts, and the provider may then take less
    by phone or wallet id without asking."""
    await trust(client, keys, world, per_charge=4000, monthly=10_500)
    one_hour = [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}]
    by_token = await post(
        client,
        "/api/checkout/token",
        keys.provider,
        {"token": await token_of(client, keys, world), "lines": one_hour},
    )
    assert by_token.status_code == 201, by_token.text
    assert await spent(client, keys, world) == 3500
    card = await issue(client, keys, world)
    by_card = await post(
        client,
        "/api/checkout/card",
        keys.provider,
        {"card_number": card["card_number"], "pin": "2468", "lines": one_hour},
    )
    assert by_card.status_code == 201, by_card.text
    assert await spent(client, keys, world) == 7000
    by_wallet = {"wallet_id": str(world.wallet_id), "lines": one_hour}
    first = await post_charge(client, keys.provider, by_wallet)
    assert first.status_code == 201, first.text
    assert await spent(client, keys, world) == 10_500
    # The month is used up: by phone the provider has to ask now, by wallet id it is refused
    # (how it is refused is the lookup's business; that nothing moves is the cap's).
    assert (await phone(client, keys, world, lines=one_hour)).status_code == 202
    made = await charges(db)
    again = await post_charge(client, keys.provider, by_wallet)
    assert again.status_code in (403, 422), again.text
    assert await charges(db) == made
    # Consent still pays past the cap, and still counts.
    past = await post(
        client,
        "/api/checkout/token",
        keys.provider,
        {"token": await token_of(client, keys, world), "lines": one_hour},
    )
    assert past.status_code == 201, past.text
    assert await spent(client, keys, world) == 14_000
    await assert_books_ok(db)


# --- hold ---------------------------------------------------------------------------------


async def test_phone_hold_counts_and_is_refused_past_the_monthly_cap(client, db, world, keys):
    await trust(client, keys, world, per_charge=8000, monthly=15_000)
    first = await phone_hold(client, keys, world)
    assert first.status_code == 201, first.text
    assert await spent(client, keys, world) == 7600
    before_rows, before_holds = await row_counts(db), await count(db, Hold)
    second = await phone_hold(client, keys, world)  # 15,200 would pass 15,000
    # The same answer an untrusted provider or an unknown number gets: the number tells nothing.
    assert second.status_code == 403 and second.json()["type"] == "consent-required", second.text
    assert await row_counts(db) == before_rows and await count(db, Hold) == before_holds
    assert await spent(client, keys, world) == 7600
    assert await balance(db, world) == 30_000 - 7600
    # A phone charge after the hold sees the hold in the month's total: 7,600 + 7,000 > 14,000.
    await trust(client, keys, world, per_charge=8000, monthly=14_000)
    assert (await phone(client, keys, world)).status_code == 202
    await assert_books_ok(db)


# --- capture ------------------------------------------------------------------------------


async def test_capture_counts_what_was_captured_and_gives_back_the_rest(client, db, world, keys):
    await trust(client, keys, world, per_charge=8000, monthly=13_000)
    hold = (await phone_hold(client, keys, world)).json()
    assert await spent(client, keys, world) == 7600
    # While 7,600 is held, a 7,000 charge would pass 13,000: the provider must ask.
    asked = await phone(client, keys, world)
    assert asked.status_code == 202, asked.text
    cancel = await client.post(
        f"/api/payment-requests/{asked.json()['request']['id']}/cancel",
        json={},
        headers=auth(keys.provider),
    )
    assert cancel.status_code == 200, cancel.text
    captured = await post(
        client, f"/api/holds/{hold['id']}/capture", keys.provider, {"lines": HOME_HELP_1_5H}
    )
    assert captured.status_code == 200 and captured.json()["captured_cents"] == 5700
    # 1,900 was not used: it no longer counts. 5,700 + 7,000 fits in 13,000.
    assert await spent(client, keys, world) == 5700
    now_fits = await phone(client, keys, world)
    assert now_fits.status_code == 201, now_fits.text
    assert await spent(client, keys, world) == 12_700
    await assert_books_ok(db)


# --- visit --------------------------------------------------------------------------------


async def test_visit_hold_void_and_expiry_give_the_month_back(client, db, world, keys):
    await trust(client, keys, world, per_charge=8000, monthly=15_000)
    by_phone = (await phone_hold(client, keys, world)).json()
    # A visit hold with the client's QR token is consent: never refused, but it counts.
    by_token = await post(
        client,
        "/api/holds",
        keys.provider,
        {"token": await token_of(client, keys, world), "lines": HOME_HELP_2H},
    )
    assert by_token.status_code == 201, by_token.text
    assert await spent(client, keys, world) == 15_200
    void = await client.post(
        f"/api/holds/{by_phone['id']}/void", json={}, headers=auth(keys.provider)
    )
    assert void.status_code == 200, void.text
    assert await spent(client, keys, world) == 7600
    # Voiding again (a safe retry) gives nothing back twice.
    again = await client.post(
        f"/api/holds/{by_phone['id']}/void", json={}, headers=auth(keys.provider)
    )
    assert again.status_code == 200
    assert await spent(client, keys, world) == 7600
    hid = uuid.UUID(by_token.json()["id"])
    await set_expiry(db, Hold, hid, datetime.now(UTC) - timedelta(seconds=1))
    assert await expire_holds(db) == 1
    assert await spent(client, keys, world) == 0
    assert await balance(db, world) == 30_000
    await assert_books_ok(db)


# --- request ------------------------------------------------------------------------------


async def test_approved_request_counts_even_past_the_cap_and_a_declined_one_does_not(
    client, db, world, keys
):
    await trust(client, keys, world, per_charge=8000, monthly=10_000)
    assert (await phone(client, keys, world)).status_code == 201
    assert await spent(client, keys, world) == 7000
    asked = await phone(client, keys, world)  # 14,000 would pass 10,000: a request
    assert asked.status_code == 202, asked.text
    # Pending, it does not count: nobody has agreed to it yet.
    assert await spent(client, keys, world) == 7000
    url = f"/api/payment-requests/{asked.json()['request']['id']}"
    ok = await client.post(url + "/approve", json={}, headers=auth(keys.client))
    # The client agreed: the cap never refuses an approval, it only adds to the total.
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    assert await spent(client, keys, world) == 14_000
    declined = await phone(client, keys, world)
    assert declined.status_code == 202
    no = await client.post(
        f"/api/payment-requests/{declined.json()['request']['id']}/decline",
        json={},
        headers=auth(keys.carer_approve),
    )
    assert no.status_code == 200, no.text
    assert await spent(client, keys, world) == 14_000
    # A provider's QR request approved by the client counts too.
    qr = await post(client, "/api/payment-requests", keys.provider, {"lines": CLEANING_2H})
    assert qr.status_code == 201, qr.text
    paid = await client.post(
        f"/api/payment-requests/{qr.json()['id']}/approve", json={}, headers=auth(keys.client)
    )
    assert paid.status_code == 200, paid.text
    assert await spent(client, keys, world) == 21_000
    assert await charges(db) == 3
    await assert_books_ok(db)


# --- refund -------------------------------------------------------------------------------


async def test_refund_lowers_the_months_total(client, db, world, keys):
    await trust(client, keys, world, per_charge=8000, monthly=14_000)
    first = await phone(client, keys, world)
    assert (await phone(client, keys, world)).status_code == 201
    assert await spent(client, keys, world) == 14_000
    assert (await phone(client, keys, world)).status_code == 202  # the month is used up
    charge_id = first.json()["charge"]["id"]
    part = await post_refund(client, keys.provider, charge_id, {"amount_cents": 3000})
    assert part.status_code == 201, part.text
    assert await spent(client, keys, world) == 11_000
    rest = await post_refund(client, keys.provider, charge_id)
    assert rest.status_code == 201 and rest.json()["amount_cents"] == 4000, rest.text
    assert await spent(client, keys, world) == 7000
    # The month has room again for one more charge without asking.
    assert (await phone(client, keys, world)).status_code == 201
    assert await spent(client, keys, world) == 14_000
    await assert_books_ok(db)


async def test_refund_of_a_captured_visit_hold_lowers_the_total(client, db, world, keys):
    await trust(client, keys, world, per_charge=8000, monthly=15_000)
    hold = (await phone_hold(client, keys, world)).json()
    captured = await post(
        client, f"/api/holds/{hold['id']}/capture", keys.provider, {"lines": HOME_HELP_1_5H}
    )
    assert captured.status_code == 200, captured.text
    assert await spent(client, keys, world) == 5700
    refund = await post_refund(client, keys.provider, captured.json()["charge_id"])
    assert refund.status_code == 201, refund.text
    assert await spent(client, keys, world) == 0
    await assert_books_ok(db)


async def test_refund_never_takes_the_total_below_zero(client, db, world, keys):
    """Removing a provider forgets its total; a refund of an older charge then finds less
    counted than it returns, and the total stops at zero (the CHECK would refuse below)."""
    await trust(client, keys, world, per_charge=8000, monthly=14_000)
    first = await phone(client, keys, world)
    gone = await client.delete(
        f"/api/wallets/{world.wallet_id}/trusted-providers/{world.provider_id}",
        headers=auth(keys.client),
    )
    assert gone.status_code == 204
    await trust(client, keys, world, per_charge=8000, monthly=14_000)
    small = [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}]
    assert (await phone(client, keys, world, lines=small)).status_code == 201
    assert await spent(client, keys, world) == 3500
    refund = await post_refund(client, keys.provider, first.json()["charge"]["id"])
    assert refund.status_code == 201, refund.text
    assert await spent(client, keys, world) == 0
    await assert_books_ok(db)
