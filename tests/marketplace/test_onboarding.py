"""Provider onboarding over HTTP: validation that writes nothing, the approval flow and audit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from payments.db import Database
from payments.errors import ProviderNotApproved
from payments.models import Account, AuditEvent, Principal, Provider, ProviderPrice, ProviderProfile
from payments.people.access import create_api_key
from payments.results import Happened
from payments.uow import UnitOfWork
from tests.factories import trust_provider
from tests.support.api import auth
from tests.support.money import charge, line

GOOD = {
    "company_name": "Kotiapu Kaste Oy",
    "business_id": "2617416-4",
    "iban": "FI21 1234 5600 0007 85",
    "bic": "NDEAFIHH",
    "contact_name": "Kaisa Kaste",
    "contact_email": "kaisa@kaste.example.fi",
    "contact_phone": "040 765 4321",
    "languages": ["fi", "sv"],
    "municipalities": ["Kajaani", "Sotkamo"],
    "prices": {"siivous": 3200, "kotiapu": 3900},
}


async def _slug(db: Database, organizer_id: uuid.UUID) -> str:
    from payments.models import Organizer

    async with UnitOfWork(db, readonly=True) as uow:
        return str(
            (
                await uow.session.execute(
                    select(Organizer.slug).where(Organizer.id == organizer_id)
                )
            ).scalar_one()
        )


async def _counts(db: Database) -> dict[str, int]:
    out = {}
    async with UnitOfWork(db, readonly=True) as uow:
        for model in (Provider, ProviderProfile, ProviderPrice, Account, Principal, AuditEvent):
            out[model.__tablename__] = int(
                (await uow.session.execute(select(func.count()).select_from(model))).scalar_one()
            )
    return out


async def _apply(client, db, world, **changes):
    body = {**GOOD, "organizer": await _slug(db, world.organizer_id), **changes}
    return await client.post("/api/providers/applications", json=body)


async def test_application_is_recorded_as_applied(client, db, world):
    r = await _apply(client, db, world)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "applied"
    pid = uuid.UUID(r.json()["provider_id"])
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        prof = (
            await s.execute(select(ProviderProfile).where(ProviderProfile.provider_id == pid))
        ).scalar_one()
        prices = (
            (await s.execute(select(ProviderPrice).where(ProviderPrice.provider_id == pid)))
            .scalars()
            .all()
        )
        prov = await s.get(Provider, pid)
    assert prof.iban == "FI2112345600000785" and prof.bic == "NDEAFIHH"
    assert prof.business_id == "2617416-4" and prof.contact_phone == "+358407654321"
    assert prof.municipalities == ["Kajaani", "Sotkamo"] and prof.languages == ["fi", "sv"]
    assert prov is not None and prov.status == "applied"
    assert {p.approved for p in prices} == {False}


@pytest.mark.parametrize(
    "changes,slug",
    [
        ({"business_id": "2617416-5"}, "invalid-business-id"),  # bad check digit
        ({"business_id": "26174164-1"}, "invalid-business-id"),  # wrong format
        ({"business_id": "abc"}, "invalid-business-id"),
        ({"iban": "FI21 1234 5600 0007 86"}, "invalid-iban"),  # bad check digits
        ({"iban": "FI21 1234 5600"}, "invalid-iban"),  # wrong length
        ({"iban": "XX00 1234"}, "invalid-iban"),  # no such country
        ({"bic": "NDEAFI"}, "invalid-bic"),  # wrong format
        ({"bic": "OKOYFIHH"}, "invalid-bic"),  # another bank than the IBAN's
        ({"contact_phone": "12"}, "invalid-phone"),
        ({"contact_email": "not-an-email"}, "invalid-input"),
        ({"languages": ["finnish"]}, "invalid-input"),
        ({"prices": {"siivous": 5000}}, "price-above-cap"),  # cap 40 EUR
        ({"prices": {"hieronta": 5000}}, "unknown-category"),
        ({"prices": {"siivous": 0}}, "invalid-input"),
        ({"organizer": "no-such-county"}, "not-found"),
    ],
)
async def test_invalid_applications_write_nothing(client, db, world, changes, slug):
    before = await _counts(db)
    r = await _apply(client, db, world, **changes)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == slug, r.text
    assert await _counts(db) == before


async def test_the_same_business_id_applies_once(client, db, world):
    assert (await _apply(client, db, world)).status_code == 201
    before = await _counts(db)
    r = await _apply(client, db, world, company_name="Toinen Oy")
    assert r.status_code == 409 and r.json()["type"] == "already-applied"
    assert await _counts(db) == before


async def test_approval_flow_gates_charging_and_is_audited(client, db, world, keys):
    pid = uuid.UUID((await _apply(client, db, world)).json()["provider_id"])
    # The client trusts the new provider, so only its approval status decides below.
    await trust_provider(db, world.wallet_id, pid)
    cm = auth(keys.case_manager)
    # Applied: cannot charge.
    with pytest.raises(ProviderNotApproved):
        await charge(db, None, [line("siivous", 1, 1000)], provider_id=pid)
    listed = (await client.get("/api/providers/applications", headers=cm)).json()
    assert [p["provider_id"] for p in listed] == [str(pid)]
    # Only case managers of the county decide.
    for who in (keys.provider, keys.client, keys.carer_view):
        r = await client.post(f"/api/providers/{pid}/approve", json={}, headers=auth(who))
        assert r.status_code == 403
    r = await client.post(
        f"/api/providers/{pid}/approve", json={}, headers=auth(keys.foreign_case_manager)
    )
    assert r.status_code == 404
    # Approve cleaning only.
    r = await client.post(
        f"/api/providers/{pid}/approve", json={"categories": ["siivous"]}, headers=cm
    )
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    assert (
        await charge(db, None, [line("siivous", 1, 1000)], provider_id=pid)
    ).what is Happened.CREATED
    with pytest.raises(ProviderNotApproved):
        await charge(db, None, [line("kotiapu", 1, 1000)], provider_id=pid)
    # Rejecting an approved provider is not a valid step.
    r = await client.post(f"/api/providers/{pid}/reject", json={"reason": "x"}, headers=cm)
    assert r.status_code == 409 and r.json()["type"] == "provider-status"
    # Suspend: charging stops; reinstate: it resumes.
    r = await client.post(f"/api/providers/{pid}/suspend", json={"reason": "complaint"}, headers=cm)
    assert r.json()["status"] == "suspended"
    with pytest.raises(ProviderNotApproved):
        await charge(db, None, [line("siivous", 1, 1000)], provider_id=pid)
    r = await client.post(f"/api/providers/{pid}/reinstate", json={}, headers=cm)
    assert r.json()["status"] == "approved"
    assert (
        await charge(db, None, [line("siivous", 1, 1000)], provider_id=pid)
    ).what is Happened.CREATED
    async with UnitOfWork(db, readonly=True) as uow:
        actions = (
            await uow.session.execute(
                select(AuditEvent.action, AuditEvent.detail)
                .where(AuditEvent.action.like("provider.%"))
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [a for a, _ in actions] == [
        "provider.applied",
        "provider.approved",
        "provider.suspended",
        "provider.reinstated",
    ]
    assert "siivous" in actions[1][1] and "complaint" in actions[2][1]


async def test_reject_needs_a_reason_and_a_provider_key_works_after_approval(
    client, db, world, keys
):
    cm = auth(keys.case_manager)
    pid = uuid.UUID((await _apply(client, db, world)).json()["provider_id"])
    r = await client.post(f"/api/providers/{pid}/reject", json={}, headers=cm)
    assert r.status_code == 400
    r = await client.post(f"/api/providers/{pid}/reject", json={"reason": "no permit"}, headers=cm)
    assert r.json()["status"] == "rejected"
    r = await client.post(f"/api/providers/{pid}/approve", json={}, headers=cm)
    assert r.status_code == 409
    r = await client.post("/api/providers/not-a-uuid/approve", json={}, headers=cm)
    assert r.status_code == 404


async def test_signed_in_provider_key_after_approval_charges_over_http(client, db, world, keys):
    cm = auth(keys.case_manager)
    pid = uuid.UUID((await _apply(client, db, world)).json()["provider_id"])
    await client.post(f"/api/providers/{pid}/approve", json={}, headers=cm)
    await trust_provider(db, world.wallet_id, pid)
    async with UnitOfWork(db, readonly=True) as uow:
        principal = (
            await uow.session.execute(select(Principal.id).where(Principal.provider_id == pid))
        ).scalar_one()
    key = await create_api_key(db, principal, "test")
    r = await client.post(
        "/api/charges",
        json={
            "phone": "040 123 4567",
            "lines": [{"category": "kotiapu", "quantity": "1", "unit_price_cents": 3900}],
        },
        headers=auth(key, **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert r.status_code == 201, r.text


async def test_prices_must_be_json_integers(client, db, world):
    before = await _counts(db)
    r = await _apply(client, db, world, prices={"siivous": "3200"})
    assert r.status_code == 400 and r.json()["type"] == "invalid-input"
    assert await _counts(db) == before
