"""Client-presented QR: issue, charge at once, single use, expiry, and a two-provider race."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from payments.models import PaymentToken
from tests.checkout.helpers import CLEANING_2H, assert_books_ok, balance, charges, post, set_expiry
from tests.factories import give_price
from tests.support.api import auth


async def new_token(client, key, wallet_id):
    r = await client.post(f"/api/wallets/{wallet_id}/payment-tokens", json={}, headers=auth(key))
    assert r.status_code == 201, r.text
    return r.json()


async def test_token_issue_charge_replay_and_reuse(client, db, world, keys):
    tok = await new_token(client, keys.client, world.wallet_id)
    assert tok["token"].startswith("hbp_") and len(tok["token"]) >= 4 + 32
    assert len(tok["code"]) == 8 and tok["code"].isdigit()
    assert tok["qr_svg"].lstrip().startswith("<?xml") and "<svg" in tok["qr_svg"]
    assert tok["qr_png"].startswith("data:image/png;base64,")
    expires = datetime.fromisoformat(tok["expires_at"])
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(seconds=120)

    body = {"token": tok["token"], "lines": CLEANING_2H}
    first = await post(client, "/api/checkout/token", keys.provider, body, idem_key="t1")
    assert first.status_code == 201, first.text
    assert first.json()["total_cents"] == 7000 and first.json()["wallet_id"] == str(world.wallet_id)
    # A retry of the same request replays; the token is not asked again.
    again = await post(client, "/api/checkout/token", keys.provider, body, idem_key="t1")
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    # A new charge with the used token is refused.
    reuse = await post(client, "/api/checkout/token", keys.provider, body, idem_key="t2")
    assert reuse.status_code == 422 and reuse.json()["type"] == "token-invalid"
    assert await balance(db, world) == 30_000 - 7000
    assert await charges(db) == 1
    await assert_books_ok(db)


async def test_code_entry_and_refused_charge_keeps_token(client, db, world, keys):
    tok = await new_token(client, keys.client, world.wallet_id)
    too_much = [{"category": "siivous", "quantity": "10", "unit_price_cents": 3500}]  # 350 EUR
    r = await post(
        client, "/api/checkout/token", keys.provider, {"code": tok["code"], "lines": too_much}
    )
    assert r.status_code == 422 and r.json()["type"] == "insufficient-funds"
    # The refused charge rolled back, so the client's code still works.
    code = tok["code"][:4] + " " + tok["code"][4:]
    r = await post(
        client, "/api/checkout/token", keys.provider, {"code": code, "lines": CLEANING_2H}
    )
    assert r.status_code == 201, r.text
    await assert_books_ok(db)


async def test_expired_foreign_and_unknown_tokens_are_refused(client, db, world, keys):
    tok = await new_token(client, keys.client, world.wallet_id)
    await set_expiry(db, PaymentToken, None, datetime.now(UTC) - timedelta(seconds=1))
    for body in (
        {"token": tok["token"], "lines": CLEANING_2H},
        {"code": tok["code"], "lines": CLEANING_2H},
        {"token": "hbp_" + "x" * 32, "lines": CLEANING_2H},
    ):
        r = await post(client, "/api/checkout/token", keys.provider, body)
        assert r.status_code == 422 and r.json()["type"] == "token-invalid", r.text
    assert await charges(db) == 0
    # Only the client (or a carer with approve) may ask for a token.
    for who in (keys.provider, keys.other_client, keys.carer_none, keys.case_manager):
        r = await client.post(
            f"/api/wallets/{world.wallet_id}/payment-tokens", json={}, headers=auth(who)
        )
        assert r.status_code == 403, r.text
    assert (await new_token(client, keys.carer_approve, world.wallet_id))["code"]


async def test_one_token_two_providers_at_once(client, db, world, keys):
    await give_price(db, world.other_provider_id, "siivous", 3500)
    for _ in range(3):
        tok = await new_token(client, keys.client, world.wallet_id)
        body = {"token": tok["token"], "lines": CLEANING_2H}
        results = await asyncio.gather(
            post(client, "/api/checkout/token", keys.provider, body),
            post(client, "/api/checkout/token", keys.other_provider, body),
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [201, 422], [r.text for r in results]
    assert await charges(db) == 3
    assert await balance(db, world) == 30_000 - 3 * 7000
    await assert_books_ok(db)
