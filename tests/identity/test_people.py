"""Carers and mandates, provider self-registration and staff, and the audit trail."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from payments.budgets import catalogue
from payments.models import Provider, ProviderProfile
from payments.uow import UnitOfWork
from tests.factories import api_key_for
from tests.identity.helpers import (
    County,
    bearer,
    new_authenticator,
    problem_of,
    redeem,
)


async def test_client_invites_carer_and_manages_the_mandate(db, county: County, browser_factory):
    app, carer_phone = await browser_factory(), await browser_factory()
    client = bearer(county.client_key)
    r = await app.post(
        f"/api/clients/{county.client_id}/carers",
        json={"display_name": "Matti Virtanen", "scopes": ["approve"]},
        headers=client,
    )
    assert r.status_code == 201, r.text
    invite = r.json()
    assert invite["role"] == "carer"
    carer_id = invite["principal_id"]

    assert (await redeem(carer_phone, new_authenticator(), invite["code"])).status_code == 201
    me = (await carer_phone.get("/api/me")).json()
    assert me["role"] == "carer" and me["wallets"] == [str(county.wallet_id)]
    mine = (await carer_phone.get("/api/me/mandates")).json()
    assert mine[0]["client_name"] == "Aino Virtanen"
    assert mine[0]["scopes"] == ["approve", "view"]
    assert (await carer_phone.get(f"/api/wallets/{county.wallet_id}")).status_code == 200

    # The client changes the scopes and sets an end date, then revokes.
    url = f"/api/clients/{county.client_id}/mandates"
    r = await app.put(
        url,
        json={"carer_id": carer_id, "scopes": ["view"], "valid_until": "2099-12-31"},
        headers=client,
    )
    assert r.status_code == 200, r.text
    assert r.json()[0]["scopes"] == ["view"] and r.json()[0]["valid_until"] == "2099-12-31"
    problem_of(
        await app.put(url, json={"carer_id": carer_id, "scopes": ["root"]}, headers=client),
        400,
        "invalid-input",
    )
    r = await app.delete(url, params={"carer_id": carer_id}, headers=client)
    assert r.status_code == 204, r.text
    assert (await carer_phone.get("/api/me")).json()["wallets"] == []
    problem_of(await carer_phone.get(f"/api/wallets/{county.wallet_id}"), 403, "forbidden")
    problem_of(await app.delete(url, params={"carer_id": carer_id}, headers=client), 404,
               "not-found")  # fmt: skip

    # A case manager grants it again.
    r = await app.put(
        url, json={"carer_id": carer_id, "scopes": ["view", "approve"]},
        headers=bearer(county.cm_key),
    )  # fmt: skip
    assert r.status_code == 200 and r.json()[0]["active"] is True

    # Someone else's client may not touch it; another organizer's case manager sees nothing.
    other = await catalogue.create_client(
        db, organizer_id=county.organizer_id, first_name="Eino", last_name="K", phone="0405550000"
    )
    other_key = await api_key_for(db, other.principal_id)
    problem_of(await app.get(url, headers=bearer(other_key)), 403, "forbidden")
    problem_of(
        await app.post(f"/api/clients/{county.client_id}/carers",
                       json={"display_name": "X", "scopes": ["view"]},
                       headers=bearer(other_key)),
        403, "forbidden",
    )  # fmt: skip
    org2 = await catalogue.create_organizer(db, slug=f"eksote-{uuid.uuid4().hex[:6]}", name="E")
    cm2 = await api_key_for(
        db,
        await catalogue.create_principal(
            db, organizer_id=org2, role="case_manager", display_name="Other"
        ),
    )
    problem_of(await app.get(url, headers=bearer(cm2)), 404, "not-found")

    # The case manager's audit shows the mandate's story.
    r = await app.get("/api/audit", params={"action": "mandate."}, headers=bearer(county.cm_key))
    assert [e["action"] for e in r.json()] == [
        "mandate.granted",
        "mandate.revoked",
        "mandate.changed",
        "mandate.granted",
    ]
    assert (await app.get("/api/audit", headers=bearer(cm2))).json() == []
    problem_of(await app.get("/api/audit", headers=client), 403, "forbidden")


async def test_client_and_carer_see_who_looked(db, county: County, browser_factory):
    app = await browser_factory()
    r = await app.post(
        f"/api/clients/{county.client_id}/carers",
        json={"display_name": "Matti", "scopes": ["view"]},
        headers=bearer(county.cm_key),
    )
    carer_key = await api_key_for(db, uuid.UUID(r.json()["principal_id"]))
    # The case manager opens the client's wallet and mandates; the client opens their own.
    assert (
        await app.get(f"/api/wallets/{county.wallet_id}", headers=bearer(county.cm_key))
    ).is_success
    assert (await app.get(f"/api/clients/{county.client_id}/mandates",
                          headers=bearer(county.cm_key))).is_success  # fmt: skip
    assert (await app.get(f"/api/wallets/{county.wallet_id}",
                          headers=bearer(county.client_key))).is_success  # fmt: skip
    for key in (county.client_key, carer_key):
        r = await app.get(f"/api/clients/{county.client_id}/views", headers=bearer(key))
        assert r.status_code == 200, r.text
        views = r.json()
        assert {v["action"] for v in views} == {"wallet.viewed", "mandates.viewed"}
        assert {v["actor_name"] for v in views} == {"Liisa Ohjaaja"}
        assert all(v["detail"] is None for v in views)
    problem_of(
        await app.get(f"/api/clients/{county.client_id}/views", headers=bearer(county.cm_key)),
        403,
        "forbidden",
    )


async def test_provider_applies_and_its_owner_invites_staff(db, county: County, browser_factory):
    owner_phone, staff_phone = await browser_factory(), await browser_factory()
    await catalogue.add_category(
        db, organizer_id=county.organizer_id, code="siivous", names={"fi": "Siivous"},
        unit="hour", price_cap_cents=4000,
    )  # fmt: skip
    application = {
        "organizer": county.slug,
        "company_name": "Kotiapu Kuura Oy",
        "business_id": "0112038-9",
        "iban": "FI21 1234 5600 0007 85",
        "bic": "NDEAFIHH",
        "contact_name": "Kaisa Kuura",
        "contact_email": "kaisa@kuura.example.fi",
        "contact_phone": "040 765 4321",
        "languages": ["fi"],
        "municipalities": ["Kajaani"],
        "prices": {"siivous": 3200},
    }
    # The form's services come from the county, public, in the asker's language.
    r = await owner_phone.get(
        "/api/providers/apply/county", params={"organizer": county.slug},
        headers={"Accept-Language": "sv"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert r.json()["services"] == [
        {"code": "siivous", "name": "Siivous", "unit": "hour", "price_cap_cents": 4000}
    ]
    problem_of(
        await owner_phone.get("/api/providers/apply/county", params={"organizer": "nowhere"}),
        404, "not-found",
    )  # fmt: skip
    # The whole application is checked before a passkey is made for it; nothing is written.
    for bad, slug in (
        ({"business_id": "1234567-8"}, "invalid-business-id"),
        ({"iban": "FI21 1234 5600 0007 86"}, "invalid-iban"),
        ({"prices": {"siivous": 4500}}, "price-above-cap"),
        ({"prices": {"hieronta": 3000}}, "unknown-category"),
    ):
        r = await owner_phone.post("/api/providers/apply/options", json={**application, **bad})
        assert r.status_code in (400, 422), r.text
        assert r.json()["type"] == slug
    async with UnitOfWork(db, readonly=True) as uow:
        assert (await uow.session.execute(select(Provider.id))).first() is None
    r = await owner_phone.post("/api/providers/apply/options", json=application)
    assert r.status_code == 200, r.text
    auth = new_authenticator()
    cred = auth.create(r.json()["publicKey"])
    r = await owner_phone.post(
        "/api/providers/apply/verify", json={"credential": cred, "passkey_name": "Puhelin"}
    )
    assert r.status_code == 201, r.text
    signed = r.json()
    assert signed["role"] == "provider" and signed["display_name"] == "Kaisa Kuura"
    async with UnitOfWork(db, readonly=True) as uow:
        provider = await uow.session.get(Provider, uuid.UUID(signed["provider_id"]))
        assert provider is not None and provider.status == "applied"
        profile = await uow.session.get(ProviderProfile, provider.id)
        assert profile is not None and profile.iban == "FI2112345600000785"
    # The case manager sees the same application as one sent through the API.
    apps = await owner_phone.get("/api/providers/applications", headers=bearer(county.cm_key))
    assert [a["name"] for a in apps.json()] == ["Kotiapu Kuura Oy"]
    # Applying again with the same business id is refused before any passkey is made.
    problem_of(
        await staff_phone.post("/api/providers/apply/options", json=application),
        409, "already-applied",
    )  # fmt: skip

    csrf = {"X-CSRF-Token": signed["csrf_token"]}
    r = await owner_phone.post("/api/providers/staff", json={"display_name": "Pekka"},
                               headers=csrf)  # fmt: skip
    assert r.status_code == 201, r.text
    staff = r.json()
    r = await redeem(staff_phone, new_authenticator(), staff["code"])
    assert r.status_code == 201, r.text
    staff_csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
    assert (await staff_phone.get("/api/me")).json()["provider_id"] == signed["provider_id"]
    # Staff are not owners: they cannot invite.
    problem_of(
        await staff_phone.post("/api/providers/staff", json={"display_name": "X"},
                               headers=staff_csrf),
        403, "forbidden",
    )  # fmt: skip
    # Lost phone: the owner re-invites the staff member and revokes the old passkeys.
    r = await owner_phone.post(
        "/api/invites",
        json={"principal_id": staff["principal_id"], "revoke_passkeys": True},
        headers=csrf,
    )
    assert r.status_code == 201, r.text
    problem_of(await staff_phone.get("/api/me"), 401, "session-expired")
    async with UnitOfWork(db, readonly=True) as uow:
        names = (await uow.session.execute(select(Provider.name))).scalars().all()
    assert "Kotiapu Kuura Oy" in names
