"""Issue 13, item 1: a client's mandate to an existing carer waits for that carer's answer.

A client could give a mandate to any carer id in the county and so set up the takeover trap
without anyone's help. Now such a mandate is *pending*: it grants nothing (no wallet, no
payment code, no live events, no push) until the carer accepts it. A case manager's grant
takes effect at once, and so does the mandate of a brand-new carer whom the client invites.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from notifications.rules import followers_of
from notifications.stream import Access
from payments.budgets import catalogue
from payments.models import AuditEvent, Mandate
from payments.people import access, mandates
from payments.uow import UnitOfWork
from tests.factories import api_key_for
from tests.identity.helpers import (
    AppFactory,
    Browser,
    County,
    Person,
    bearer,
    join,
    problem_of,
)

ALL_SCOPES = ["view", "approve", "manage-providers"]


@dataclass
class Scene:
    """Matti already cares for Eino (his case manager invited him). Aino, the county's
    client, knows Matti's id and names him as her carer."""

    app: Browser
    carer: Person
    eino_client_id: uuid.UUID
    eino_wallet_id: uuid.UUID
    mandates_url: str  # Aino's


async def scene(db, county: County, browser_factory: AppFactory) -> Scene:
    app = await browser_factory()
    eino = await catalogue.create_client(
        db, organizer_id=county.organizer_id, first_name="Eino", last_name="Heikkinen",
        phone="0405550000",
    )  # fmt: skip
    r = await app.post(
        f"/api/clients/{eino.client_id}/carers",
        json={"display_name": "Matti Virtanen", "scopes": ["view"]},
        headers=bearer(county.cm_key),
    )
    assert r.status_code == 201, r.text
    carer = await join(await browser_factory(), r.json()["code"])
    return Scene(
        app, carer, eino.client_id, eino.wallet_id, f"/api/clients/{county.client_id}/mandates"
    )


async def ask(s: Scene, county: County, scopes: list[str] | None = None) -> dict:
    """Aino names Matti as her carer; returns Matti's row of her answer."""
    r = await s.app.put(
        s.mandates_url,
        json={"carer_id": str(s.carer.principal_id), "scopes": scopes or ALL_SCOPES},
        headers=bearer(county.client_key),
    )
    assert r.status_code == 200, r.text
    (row,) = [m for m in r.json() if m["carer_id"] == str(s.carer.principal_id)]
    return row


async def test_client_mandate_to_existing_carer_waits_for_acceptance(
    db, county: County, browser_factory
):
    s = await scene(db, county, browser_factory)
    row = await ask(s, county)
    # The client is told that the carer must accept.
    assert row["status"] == "pending" and row["active"] is False, row
    me = (await s.carer.phone.get("/api/me")).json()
    assert me["wallets"] == [str(s.eino_wallet_id)]
    problem_of(await s.carer.phone.get(f"/api/wallets/{county.wallet_id}"), 403, "forbidden")
    listed = (await s.app.get(s.mandates_url, headers=bearer(county.client_key))).json()
    assert [m["status"] for m in listed] == ["pending"]


async def test_pending_mandate_grants_no_access(db, county: County, browser_factory):
    """Every place that reads mandates for authorization or notifications ignores a pending
    one: wallet reads, payment codes, payment requests, trusted providers, who looked, the
    carer's own lists, the live-event stream and push recipients."""
    s = await scene(db, county, browser_factory)
    await ask(s, county)
    phone, csrf, w = s.carer.phone, s.carer.csrf, county.wallet_id
    provider = uuid.uuid4()
    refused = {
        "wallet": await phone.get(f"/api/wallets/{w}"),
        "transactions": await phone.get(f"/api/wallets/{w}/transactions"),
        "statements": await phone.get(f"/api/wallets/{w}/statements"),
        "payment code": await phone.post(f"/api/wallets/{w}/payment-tokens", json={}, headers=csrf),
        "payment requests": await phone.get(f"/api/wallets/{w}/payment-requests"),
        "trusted list": await phone.get(f"/api/wallets/{w}/trusted-providers"),
        "trust a provider": await phone.put(
            f"/api/wallets/{w}/trusted-providers/{provider}",
            json={"per_charge_cap_cents": 5000},
            headers=csrf,
        ),
        "who looked": await phone.get(f"/api/clients/{county.client_id}/views"),
    }
    assert {k: r.status_code for k, r in refused.items()} == {k: 403 for k in refused}
    me = (await phone.get("/api/me")).json()
    assert str(w) not in me["wallets"]
    mine = (await phone.get("/api/me/mandates")).json()
    assert [m["client_id"] for m in mine] == [str(s.eino_client_id)]
    # Live events and push: neither the stream's wallet set nor the followers include it.
    actor = access.Actor(
        principal_id=s.carer.principal_id, organizer_id=county.organizer_id, role="carer",
        display_name="Matti Virtanen",
    )  # fmt: skip
    assert await mandates.mandate_scopes(db, s.carer.principal_id, w) == frozenset()
    assert (await Access.load(db, actor)).wallets == {s.eino_wallet_id}
    async with UnitOfWork(db, readonly=True) as uow:
        followers = await followers_of(uow.session, {w})
    assert [f.principal_id for f in followers[w] if f.role == "carer"] == []


async def test_carer_sees_and_accepts_a_pending_mandate(db, county: County, browser_factory):
    s = await scene(db, county, browser_factory)
    await ask(s, county, ["approve"])
    pending = (await s.carer.phone.get("/api/me/mandates/pending")).json()
    assert [(m["client_name"], m["scopes"], m["status"]) for m in pending] == [
        ("Aino Virtanen", ["approve", "view"], "pending")
    ]
    r = await s.carer.phone.post(
        f"/api/me/mandates/{county.client_id}/accept", json={}, headers=s.carer.csrf
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active" and r.json()["wallet_id"] == str(county.wallet_id)
    # Now the wallet is his to follow, and it is no longer waiting.
    assert (await s.carer.phone.get(f"/api/wallets/{county.wallet_id}")).status_code == 200
    me = (await s.carer.phone.get("/api/me")).json()
    assert set(me["wallets"]) == {str(county.wallet_id), str(s.eino_wallet_id)}
    assert (await s.carer.phone.get("/api/me/mandates/pending")).json() == []
    listed = (await s.app.get(s.mandates_url, headers=bearer(county.client_key))).json()
    assert [m["status"] for m in listed] == ["active"]
    # Nothing is left to accept; the answer is audited.
    problem_of(
        await s.carer.phone.post(f"/api/me/mandates/{county.client_id}/accept", json={},
                                 headers=s.carer.csrf),
        404, "not-found",
    )  # fmt: skip
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(AuditEvent.action, AuditEvent.actor_id).where(
                    AuditEvent.subject_client_id == county.client_id,
                    AuditEvent.action.like("mandate.%"),
                )
            )
        ).all()
    assert sorted(rows) == [
        ("mandate.accepted", s.carer.principal_id),
        ("mandate.requested", county.client_principal),
    ]


async def test_carer_declines_a_pending_mandate(db, county: County, browser_factory):
    s = await scene(db, county, browser_factory)
    await ask(s, county)
    r = await s.carer.phone.post(
        f"/api/me/mandates/{county.client_id}/decline", json={}, headers=s.carer.csrf
    )
    assert r.status_code == 204, r.text
    assert (await s.carer.phone.get("/api/me/mandates/pending")).json() == []
    problem_of(await s.carer.phone.get(f"/api/wallets/{county.wallet_id}"), 403, "forbidden")
    problem_of(
        await s.carer.phone.post(f"/api/me/mandates/{county.client_id}/accept", json={},
                                 headers=s.carer.csrf),
        404, "not-found",
    )  # fmt: skip
    listed = (await s.app.get(s.mandates_url, headers=bearer(county.client_key))).json()
    assert [m["status"] for m in listed] == ["declined"]
    # Asking again makes a new request; it waits again.
    assert (await ask(s, county))["status"] == "pending"


async def test_only_the_named_carer_answers_a_pending_mandate(db, county: County, browser_factory):
    s = await scene(db, county, browser_factory)
    await ask(s, county)
    other = await catalogue.create_principal(
        db, organizer_id=county.organizer_id, role="carer", display_name="Kaisa"
    )
    url = f"/api/me/mandates/{county.client_id}/accept"
    problem_of(await s.app.post(url, json={}, headers=bearer(await api_key_for(db, other))),
               404, "not-found")  # fmt: skip
    for key in (county.client_key, county.cm_key):
        problem_of(await s.app.post(url, json={}, headers=bearer(key)), 403, "forbidden")
    problem_of(await s.carer.phone.get(f"/api/wallets/{county.wallet_id}"), 403, "forbidden")


async def test_client_regrant_after_revoke_waits_for_acceptance(
    db, county: County, browser_factory
):
    """A carer whom the client invited herself starts at once; but once she has ended the
    mandate, naming him again is a new request that he must accept."""
    app = await browser_factory()
    r = await app.post(
        f"/api/clients/{county.client_id}/carers",
        json={"display_name": "Kaisa Korhonen", "scopes": ["view"]},
        headers=bearer(county.client_key),
    )
    assert r.status_code == 201, r.text
    carer = await join(await browser_factory(), r.json()["code"])
    assert (await carer.phone.get(f"/api/wallets/{county.wallet_id}")).status_code == 200
    url = f"/api/clients/{county.client_id}/mandates"
    r = await app.delete(url, params={"carer_id": str(carer.principal_id)},
                         headers=bearer(county.client_key))  # fmt: skip
    assert r.status_code == 204, r.text
    r = await app.put(
        url, json={"carer_id": str(carer.principal_id), "scopes": ["view"]},
        headers=bearer(county.client_key),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert [m["status"] for m in r.json()] == ["pending"]
    problem_of(await carer.phone.get(f"/api/wallets/{county.wallet_id}"), 403, "forbidden")


async def test_case_manager_grant_takes_effect_at_once(db, county: County, browser_factory):
    """Staff grants need no acceptance, and a case manager may confirm a waiting one."""
    s = await scene(db, county, browser_factory)
    await ask(s, county)
    r = await s.app.put(
        s.mandates_url,
        json={"carer_id": str(s.carer.principal_id), "scopes": ["view"]},
        headers=bearer(county.cm_key),
    )
    assert r.status_code == 200, r.text
    assert [m["status"] for m in r.json()] == ["active"]
    assert (await s.carer.phone.get(f"/api/wallets/{county.wallet_id}")).status_code == 200
    async with UnitOfWork(db, readonly=True) as uow:
        m = (
            await uow.session.execute(
                select(Mandate).where(Mandate.carer_id == s.carer.principal_id,
                                      Mandate.client_id == county.client_id)
            )
        ).scalar_one()  # fmt: skip
    assert m.accepted_at is not None and m.scopes == "view"
