"""A wallet's history says what happened (issue 17): every row names its provider and services,
and money held for a payment request or a visit says what became of it: approved, declined,
captured in part with the rest returned. A refund names the charge's provider and services.
Also: every view of a wallet by someone other than the client is audited, carers included,
and shows in the client's "who looked at my data" with the viewer's name."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from payments.db import Database
from payments.models import ServiceCategory
from payments.uow import UnitOfWork
from tests.checkout.helpers import CLEANING_2H, HOME_HELP_1_5H, HOME_HELP_2H, post
from tests.factories import World, assert_books_ok, seed_world
from tests.support.api import Keys, auth
from tests.support.money import post_refund

KUURA = "Siivouspalvelu Kuura Oy"


@pytest.fixture
async def world(db: Database) -> World:
    """The API world, but the client trusts no provider: a phone charge asks first."""
    return await seed_world(db, trusted=False)


async def history(client: Any, world: World, key: str, **headers: str) -> list[dict[str, Any]]:
    r = await client.get(
        f"/api/wallets/{world.wallet_id}/transactions", headers=auth(key, **headers)
    )
    assert r.status_code == 200, r.text
    return [i for i in r.json()["items"] if i["kind"] != "funding"]


async def ask_by_phone(client: Any, keys: Keys) -> dict[str, Any]:
    r = await post(
        client,
        "/api/checkout/phone",
        keys.provider,
        {"phone": "040 123 4567", "lines": CLEANING_2H},
    )
    assert r.status_code == 202, r.text
    return dict(r.json()["request"])


async def test_an_approved_request_names_provider_service_and_outcome(client, db, world, keys):
    req = await ask_by_phone(client, keys)
    (held,) = await history(client, world, keys.client)
    assert held["kind"] == "hold" and held["amount_cents"] == -7000
    assert held["provider_name"] == KUURA
    assert held["services"] == [
        {"code": "siivous", "name": "Siivous", "unit": "hour", "quantity": "2"}
    ]
    assert held["hold"] == {
        "purpose": "request",
        "status": "held",
        "amount_cents": 7000,
        "captured_cents": 0,
        "request_status": "pending",
    }
    ok = await client.post(
        f"/api/payment-requests/{req['id']}/approve", json={}, headers=auth(keys.client)
    )
    assert ok.status_code == 200, ok.text
    (paid,) = await history(client, world, keys.client)
    assert paid["id"] == held["id"] and paid["provider_name"] == KUURA
    assert paid["hold"]["status"] == "captured" and paid["hold"]["captured_cents"] == 7000
    assert paid["hold"]["request_status"] == "approved"
    assert [s["quantity"] for s in paid["services"]] == ["2"]


async def test_a_declined_request_says_the_money_came_back_and_from_whom(client, db, world, keys):
    req = await ask_by_phone(client, keys)
    no = await client.post(
        f"/api/payment-requests/{req['id']}/decline", json={}, headers=auth(keys.client)
    )
    assert no.status_code == 200, no.text
    released, held = await history(client, world, keys.client)
    assert released["kind"] == "hold_release" and released["amount_cents"] == 7000
    assert held["kind"] == "hold" and held["amount_cents"] == -7000
    for row in (released, held):
        assert row["provider_name"] == KUURA
        assert row["hold"]["purpose"] == "request" and row["hold"]["status"] == "voided"
        assert row["hold"]["request_status"] == "declined"
        assert [s["code"] for s in row["services"]] == ["siivous"]


async def test_a_visit_shows_what_was_charged_and_the_unused_part_returned(client, db, world, keys):
    token = await client.post(
        f"/api/wallets/{world.wallet_id}/payment-tokens", json={}, headers=auth(keys.client)
    )
    body = {"token": token.json()["token"], "lines": HOME_HELP_2H}
    hold = await post(client, "/api/holds", keys.provider, body)
    assert hold.status_code == 201, hold.text
    (open_visit,) = await history(client, world, keys.client)
    assert open_visit["hold"]["purpose"] == "visit" and open_visit["hold"]["status"] == "held"
    assert open_visit["hold"]["request_status"] is None
    captured = await post(
        client, f"/api/holds/{hold.json()['id']}/capture", keys.provider, {"lines": HOME_HELP_1_5H}
    )
    assert captured.status_code == 200, captured.text
    released, held = await history(client, world, keys.client)
    assert held["kind"] == "hold" and held["amount_cents"] == -7600
    assert released["kind"] == "hold_release" and released["amount_cents"] == 1900
    for row in (released, held):
        assert row["provider_name"] == KUURA
        assert row["hold"] == {
            "purpose": "visit",
            "status": "captured",
            "amount_cents": 7600,
            "captured_cents": 5700,
            "request_status": None,
        }
    # What was done, not what was reserved: the charge's 1.5 hours.
    assert held["services"] == [
        {"code": "kotiapu", "name": "Kotiapu", "unit": "hour", "quantity": "1.5"}
    ]
    # The refund of that charge names the same provider and service.
    refund = await post_refund(client, keys.provider, captured.json()["charge_id"])
    assert refund.status_code == 201, refund.text
    back = (await history(client, world, keys.client))[0]
    assert back["kind"] == "refund" and back["amount_cents"] == 5700
    assert back["provider_name"] == KUURA
    assert [s["code"] for s in back["services"]] == ["kotiapu"]
    await assert_books_ok(db)


async def test_service_names_follow_the_readers_language(client, db, world, keys):
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(ServiceCategory)
            .where(ServiceCategory.code == "siivous")
            .values(name_sv="Städning", name_en="Cleaning")
        )
        await uow.commit()
    await ask_by_phone(client, keys)
    for lang, name in (("sv", "Städning"), ("en", "Cleaning"), ("fi", "Siivous")):
        (row,) = await history(client, world, keys.carer_view, **{"Accept-Language": lang})
        assert row["services"][0]["name"] == name


async def test_every_view_by_someone_else_is_audited_and_shown_to_the_client(
    client, db, world, keys
):
    views = f"/api/clients/{world.client_id}/views"
    await history(client, world, keys.client)  # the client's own view: not listed
    assert (await client.get(views, headers=auth(keys.client))).json() == []
    await history(client, world, keys.carer_view)
    w = await client.get(f"/api/wallets/{world.wallet_id}", headers=auth(keys.carer_approve))
    assert w.status_code == 200
    seen = (await client.get(views, headers=auth(keys.client))).json()
    assert [(e["actor_name"], e["actor_role"], e["action"]) for e in seen] == [
        ("Matti", "carer", "wallet.viewed"),
        ("Katsoja", "carer", "transactions.viewed"),
    ]
