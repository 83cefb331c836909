"""What a provider is told (issue 17, the provider's part): the counties it may apply to, a
warning when the same bank account or contact person applies again, its own standing (an
applicant waits for approval), and, on a decline for want of money, what is left for the
service when the client consented with their code, never for a phone number."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from payments.budgets.catalogue import DecisionLineInput
from payments.db import Database
from payments.models import Provider
from payments.people.access import create_api_key
from payments.uow import UnitOfWork
from tests.factories import World, api_key_for, seed_world
from tests.marketplace.test_onboarding import GOOD, _apply, _slug
from tests.support.api import Keys, auth

OPTIONS = "/api/providers/apply/options"


async def _providers(db: Database) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int((await uow.session.execute(select(func.count(Provider.id)))).scalar_one())


async def test_counties_are_listed_by_name_for_applicants(client, db, world: World) -> None:
    r = await client.get("/api/providers/apply/counties")
    assert r.status_code == 200, r.text
    slug = await _slug(db, world.organizer_id)
    assert {"organizer": slug, "name": "Kainuu"} in r.json()
    # Each slug listed opens its application form.
    for county in r.json():
        form = await client.get(
            "/api/providers/apply/county", params={"organizer": county["organizer"]}
        )
        assert form.status_code == 200 and form.json()["name"] == county["name"]


async def test_the_same_account_or_person_is_warned_before_a_passkey(
    client, db, world: World
) -> None:
    first = await _apply(client, db, world)
    assert first.status_code == 201 and first.json()["possible_duplicates"] == []
    slug = await _slug(db, world.organizer_id)
    again = {**GOOD, "organizer": slug, "business_id": "0112038-9", "company_name": "Toinen Oy"}
    before = await _providers(db)

    # The app's path: a 409 warning naming what is the same, before any passkey; nothing written.
    other_person = {"contact_email": "muu@example.fi", "contact_phone": "040 999 8888"}
    r = await client.post(OPTIONS, json={**again, **other_person})
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "possible-duplicate" and r.json()["matches"] == ["iban"]
    assert "Kotiapu Kaste" not in r.text  # the earlier provider is never named
    other_account = {"iban": "FI49 5000 9420 0287 30", "bic": "OKOYFIHH"}
    r = await client.post(
        OPTIONS,
        json={**again, **other_account, "contact_email": "KAISA@kaste.example.fi"},
        headers={"Accept-Language": "fi"},
    )
    assert r.status_code == 409 and r.json()["matches"] == ["contact"]
    assert r.json()["title"] == "Samalla tilinumerolla tai yhteyshenkilöllä on jo hakemus"
    r = await client.post(OPTIONS, json={**again, **other_account, **other_person})
    assert r.status_code == 200, r.text  # nothing in common: no warning
    assert await _providers(db) == before

    # Confirmed, it goes on (the passkey options); through the API it is recorded, with the
    # warning in the answer.
    r = await client.post(OPTIONS, json={**again, "confirm_duplicate": True})
    assert r.status_code == 200, r.text
    r = await client.post("/api/providers/applications", json=again)
    assert r.status_code == 201, r.text
    assert r.json()["possible_duplicates"] == ["iban", "contact"]
    assert await _providers(db) == before + 1


async def test_a_provider_sees_its_own_standing(client, db, world: World, keys: Keys) -> None:
    r = await client.get("/api/providers/me", headers=auth(keys.provider))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["provider_id"] == str(world.provider_id)
    applied = await _apply(client, db, world)
    pid = uuid.UUID(applied.json()["provider_id"])
    async with UnitOfWork(db, readonly=True) as uow:
        from payments.models import Principal

        principal = (
            await uow.session.execute(select(Principal.id).where(Principal.provider_id == pid))
        ).scalar_one()
    key = await create_api_key(db, principal, "test")
    r = await client.get("/api/providers/me", headers=auth(key))
    assert r.json() == {
        "provider_id": str(pid),
        "name": "Kotiapu Kaste Oy",
        "status": "applied",
        "decision_reason": None,
    }
    assert (await client.get("/api/providers/me", headers=auth(keys.client))).status_code == 403


async def _balance(client, keys: Keys, world: World) -> int:
    wallet = (await client.get(f"/api/wallets/{world.wallet_id}", headers=auth(keys.client))).json()
    return int(wallet["envelopes"][0]["balance_cents"])


async def test_a_consented_decline_says_what_is_left_and_a_phone_number_does_not(
    client, world: World, keys: Keys
) -> None:
    left = await _balance(client, keys, world)
    too_much = [{"category": "siivous", "quantity": "20", "unit_price_cents": 3500}]
    token = (
        await client.post(
            f"/api/wallets/{world.wallet_id}/payment-tokens", json={}, headers=auth(keys.client)
        )
    ).json()
    r = await client.post(
        "/api/checkout/token",
        json={"code": token["code"], "lines": too_much},
        headers=auth(keys.provider, **{"Idempotency-Key": "too-much-code"}),
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "insufficient-funds"
    assert r.json()["available_cents"] == left == 30_000
    # By phone number (a trusted provider, no code): the same decline, without the figure.
    r = await client.post(
        "/api/charges",
        json={"phone": world.phone, "lines": too_much},
        headers=auth(keys.provider, **{"Idempotency-Key": "too-much-phone"}),
    )
    assert r.status_code == 422 and r.json()["type"] == "insufficient-funds"
    assert "available_cents" not in r.json()
    assert await _balance(client, keys, world) == left


async def test_a_card_and_pin_decline_says_what_is_left(client, world: World, keys: Keys) -> None:
    card = await client.post(
        f"/api/wallets/{world.wallet_id}/cards",
        json={"pin": "2468"},
        headers=auth(keys.case_manager),
    )
    assert card.status_code == 201, card.text
    r = await client.post(
        "/api/checkout/card",
        json={
            "card_number": card.json()["card_number"],
            "pin": "2468",
            "lines": [{"category": "siivous", "quantity": "9", "unit_price_cents": 3500}],
        },
        headers=auth(keys.provider, **{"Idempotency-Key": "too-much-card"}),
    )
    assert r.status_code == 422 and r.json()["type"] == "insufficient-funds"
    assert r.json()["available_cents"] == await _balance(client, keys, world) == 30_000


async def test_no_figure_when_several_envelopes_pay_the_lines(client, db: Database) -> None:
    """Cleaning and home help from two envelopes: one of them short. A sum of both would
    mislead (it might cover the total), so the decline carries no figure."""
    w = await seed_world(
        db,
        phone="040 765 9999",
        lines=[
            DecisionLineInput("Siivous", 10_000, ("siivous",)),
            DecisionLineInput("Kotiapu", 10_000, ("kotiapu",)),
        ],
    )
    client_key = await api_key_for(db, w.client_principal)
    provider_key = await api_key_for(db, w.provider_principal)
    token = (
        await client.post(
            f"/api/wallets/{w.wallet_id}/payment-tokens", json={}, headers=auth(client_key)
        )
    ).json()
    lines = [
        {"category": "siivous", "quantity": "1", "unit_price_cents": 3500},
        {"category": "kotiapu", "quantity": "3", "unit_price_cents": 3800},
    ]
    r = await client.post(
        "/api/checkout/token",
        json={"code": token["code"], "lines": lines},
        headers=auth(provider_key, **{"Idempotency-Key": "two-envelopes"}),
    )
    assert r.status_code == 422 and r.json()["type"] == "insufficient-funds"
    assert "available_cents" not in r.json()
    # One envelope short on its own: its figure.
    r = await client.post(
        "/api/checkout/token",
        json={"code": token["code"], "lines": lines[1:]},
        headers=auth(provider_key, **{"Idempotency-Key": "one-envelope"}),
    )
    assert r.status_code == 422 and r.json()["available_cents"] == 10_000
