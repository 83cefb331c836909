"""Another organizer's people against this organizer's payment requests.

A client, carer, case manager or provider of a second county, each with every right there is
in their own county, answers, reads or withdraws a request of the first county: each gets
exactly 404 ``not-found`` (the answer an id that exists nowhere gets), nothing is written,
and the request still waits for its own client, who can then approve it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.checkout.helpers import CLEANING_2H, assert_books_ok, balance, post, request_status
from tests.factories import row_counts
from tests.support.api import Foreign, auth

FULL = 30_000
ANSWERS = ("approve", "decline")


def callers(foreign: Foreign) -> dict[str, str]:
    return {
        "client": foreign.client,
        "carer": foreign.carer,
        "case_manager": foreign.case_manager,
        "provider": foreign.provider,
    }


async def attempts(client: Any, foreign: Foreign, request_id: str, body: dict[str, Any]) -> list:
    """Every foreign caller tries every request route; (who, what, response) of each."""
    out = []
    url = f"/api/payment-requests/{request_id}"
    for who, key in callers(foreign).items():
        out.append((who, "get", await client.get(url, headers=auth(key))))
        for what in (*ANSWERS, "cancel"):
            r = await client.post(f"{url}/{what}", json=body, headers=auth(key))
            out.append((who, what, r))
    return out


def assert_all_not_found(tried: list) -> None:
    wrong = [
        f"{who} {what}: {r.status_code} {r.text[:120]}"
        for who, what, r in tried
        if r.status_code != 404
        or not r.headers["content-type"].startswith("application/problem+json")
        or r.json()["type"] != "not-found"
    ]
    assert not wrong, "\n".join(wrong)


async def test_foreign_callers_cannot_answer_read_or_cancel_a_request(
    client, db, world, keys, foreign
):
    r = await post(
        client, "/api/checkout/phone", keys.provider, {"phone": world.phone, "lines": CLEANING_2H}
    )
    assert r.status_code == 202, r.text
    request_id = r.json()["request"]["id"]
    before = await row_counts(db)

    tried = await attempts(client, foreign, request_id, {})
    # Naming a wallet (their own, or the request's) changes nothing.
    for wallet in (foreign.world.wallet_id, world.wallet_id):
        tried += await attempts(client, foreign, request_id, {"wallet_id": str(wallet)})
    assert_all_not_found(tried)
    # The same answers as for a request that does not exist at all.
    assert_all_not_found(await attempts(client, foreign, str(uuid.uuid4()), {}))

    assert await row_counts(db) == before
    assert await request_status(db, uuid.UUID(request_id)) == "pending"
    assert await balance(db, world) == FULL - 7000
    ok = await client.post(
        f"/api/payment-requests/{request_id}/approve", json={}, headers=auth(keys.client)
    )
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    await assert_books_ok(db)


async def test_foreign_callers_cannot_take_a_providers_qr_request(client, db, world, keys, foreign):
    """A provider-presented QR request names no wallet until someone approves it: another
    county's client or carer cannot pay it from their own wallet, nor see it while pending."""
    qr = await post(client, "/api/payment-requests", keys.provider, {"lines": CLEANING_2H})
    assert qr.status_code == 201, qr.text
    request_id = qr.json()["id"]
    before = await row_counts(db)
    foreign_before = await balance(db, foreign.world)

    tried = await attempts(client, foreign, request_id, {})
    tried += await attempts(
        client, foreign, request_id, {"wallet_id": str(foreign.world.wallet_id)}
    )
    assert_all_not_found(tried)

    assert await row_counts(db) == before
    assert await balance(db, foreign.world) == foreign_before
    assert await request_status(db, uuid.UUID(request_id)) == "pending"
    ok = await client.post(
        f"/api/payment-requests/{request_id}/approve", json={}, headers=auth(keys.client)
    )
    assert ok.status_code == 200 and ok.json()["status"] == "approved", ok.text
    assert await balance(db, world) == FULL - 7000
    await assert_books_ok(db)


@pytest.mark.parametrize("who", ["client", "carer", "case_manager"])
async def test_foreign_callers_get_404_on_the_wallets_request_list(client, db, world, foreign, who):
    r = await client.get(
        f"/api/wallets/{world.wallet_id}/payment-requests", headers=auth(callers(foreign)[who])
    )
    assert r.status_code == 404 and r.json()["type"] == "not-found", r.text
