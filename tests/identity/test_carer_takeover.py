"""Issue 13, item 1: a client must not be able to take over a carer's account.

The chain that was open: a client re-issued an invite for a carer who held a mandate from
them (with or without ``revoke_passkeys``), redeemed it with a passkey of their own, and so
read, and spent through a payment code, the wallets of the carer's other clients. Each step
is refused here through the real HTTP API and real WebAuthn ceremonies.

Re-issuing credentials for an existing person is for staff only (DESIGN.md, "Re-issuing"),
and a lost-phone re-issue ends everything the old phone held: passkeys, sessions, API keys
and push subscriptions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from notifications.models import PushSubscription
from payments.budgets import catalogue
from payments.clock import utcnow
from payments.marketplace import providers
from payments.models import AuditEvent, Invite, Passkey, PaymentToken, Principal, ProviderOwner
from payments.people import invites
from payments.people.secrets import hash_secret
from payments.uow import UnitOfWork
from tests.factories import api_key_for
from tests.identity.helpers import (
    AppFactory,
    County,
    Person,
    bearer,
    join,
    problem_of,
    redeem,
    sign_in,
    signed_in_client,
)


@dataclass
class Scene:
    """Aino (the county's client) is signed in on her phone. She invited Matti as her carer;
    he is signed in on his. A case manager also gave Matti a mandate over Eino, another
    client, so Matti's account reaches a wallet that Aino has no right to."""

    client: Person
    carer: Person
    other_client_id: uuid.UUID
    other_wallet_id: uuid.UUID


async def scene(db, county: County, browser_factory: AppFactory) -> Scene:
    client = await signed_in_client(browser_factory, county)
    r = await client.phone.post(
        f"/api/clients/{county.client_id}/carers",
        json={"display_name": "Matti Virtanen", "scopes": ["view"]},
        headers=client.csrf,
    )
    assert r.status_code == 201, r.text
    carer = await join(await browser_factory(), r.json()["code"])
    other = await catalogue.create_client(
        db, organizer_id=county.organizer_id, first_name="Eino", last_name="Heikkinen",
        phone="0405550000",
    )  # fmt: skip
    staff = await browser_factory()
    r = await staff.put(
        f"/api/clients/{other.client_id}/mandates",
        json={"carer_id": str(carer.principal_id), "scopes": ["view", "approve"]},
        headers=bearer(county.cm_key),
    )
    assert r.status_code == 200, r.text
    assert (await carer.phone.get(f"/api/wallets/{other.wallet_id}")).status_code == 200
    return Scene(client, carer, other.client_id, other.wallet_id)


async def invites_for(db, principal_id: uuid.UUID) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(
                    select(func.count())
                    .select_from(Invite)
                    .where(Invite.principal_id == principal_id)
                )
            ).scalar_one()
        )


async def audit_actions(db, organizer_id: uuid.UUID) -> list[tuple[str, uuid.UUID | None, str]]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = await uow.session.execute(
            select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.detail)
            .where(AuditEvent.organizer_id == organizer_id)
            .order_by(AuditEvent.id)
        )
        return [(a, actor, detail or "") for a, actor, detail in rows.all()]


# -- step 1: the client re-issues the carer's invite ------------------------------------------


@pytest.mark.parametrize("revoke", [False, True], ids=["keep-passkeys", "revoke-passkeys"])
async def test_client_cannot_reissue_carer_invite(db, county: County, browser_factory, revoke):
    s = await scene(db, county, browser_factory)
    before = await audit_actions(db, county.organizer_id)
    body = {"principal_id": str(s.carer.principal_id), "revoke_passkeys": revoke}
    # Neither with her passkey session nor with an API key.
    problem_of(await s.client.phone.post("/api/invites", json=body, headers=s.client.csrf),
               403, "forbidden")  # fmt: skip
    app = await browser_factory()
    problem_of(await app.post("/api/invites", json=body, headers=bearer(county.client_key)),
               403, "forbidden")  # fmt: skip
    # Nothing was written: Matti keeps his passkey and his session, the only invite ever made
    # for him is the one he used, and the audit trail has nothing new.
    assert (await s.carer.phone.get("/api/me")).status_code == 200
    assert await invites_for(db, s.carer.principal_id) == 1
    assert await audit_actions(db, county.organizer_id) == before


# -- step 2: the client redeems an invite for the carer -----------------------------------------


async def test_invite_a_client_issued_for_an_existing_carer_is_refused_at_redemption(
    db, county: County, browser_factory
):
    """An invite that a client issued for an existing carer before the fix (such invites live
    for 7 days) is worthless: redeeming it would hand the carer's account to the client."""
    s = await scene(db, county, browser_factory)
    code = invites.new_code()
    async with UnitOfWork(db) as uow:
        now = utcnow()
        uow.session.add(
            Invite(
                organizer_id=county.organizer_id,
                principal_id=s.carer.principal_id,
                code_hash=hash_secret(code),
                created_by=s.client.principal_id,
                created_at=now,
                expires_at=now + timedelta(days=7),
            )
        )
        await uow.commit()
    attacker = await browser_factory()
    problem_of(
        await attacker.post("/api/invites/redeem/options", json={"code": code}),
        404,
        "invite-invalid",
    )
    problem_of(await attacker.get("/api/me"), 401, "unauthorized")
    async with UnitOfWork(db, readonly=True) as uow:
        keys = (
            await uow.session.execute(
                select(Passkey.id).where(Passkey.principal_id == s.carer.principal_id)
            )
        ).all()
    assert len(keys) == 1


async def test_client_issued_invite_stops_working_once_the_carer_serves_another_client(
    db, county: County, browser_factory
):
    """A client's invite for a new carer works only while that carer is hers alone. If a case
    manager gives the not-yet-joined carer another client, the client who holds the code
    must not be able to finish the registration herself and follow that other client."""
    client = await signed_in_client(browser_factory, county)
    r = await client.phone.post(
        f"/api/clients/{county.client_id}/carers",
        json={"display_name": "Kaisa Korhonen", "scopes": ["view"]},
        headers=client.csrf,
    )
    assert r.status_code == 201, r.text
    invite = r.json()
    attacker = await browser_factory()
    options = await attacker.post("/api/invites/redeem/options", json={"code": invite["code"]})
    assert options.status_code == 200, options.text
    other = await catalogue.create_client(
        db, organizer_id=county.organizer_id, first_name="Eino", last_name="Heikkinen",
        phone="0405550000",
    )  # fmt: skip
    staff = await browser_factory()
    r = await staff.put(
        f"/api/clients/{other.client_id}/mandates",
        json={"carer_id": invite["principal_id"], "scopes": ["view", "approve"]},
        headers=bearer(county.cm_key),
    )
    assert r.status_code == 200, r.text
    cred = client.auth.create(options.json()["publicKey"])
    problem_of(
        await attacker.post("/api/invites/redeem/verify", json={"credential": cred}),
        404,
        "invite-invalid",
    )
    problem_of(await attacker.get(f"/api/wallets/{other.wallet_id}"), 401, "unauthorized")
    # The options step refuses it too, and a case manager's new invite still works.
    problem_of(
        await attacker.post("/api/invites/redeem/options", json={"code": invite["code"]}),
        404,
        "invite-invalid",
    )
    r = await staff.post(
        "/api/invites", json={"principal_id": invite["principal_id"]},
        headers=bearer(county.cm_key),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    carer = await join(await browser_factory(), r.json()["code"])
    assert (await carer.phone.get(f"/api/wallets/{other.wallet_id}")).status_code == 200


# -- step 3: reading and spending the carer's other clients' money -------------------------------


async def test_takeover_chain_gives_no_access_to_the_carers_other_clients(
    db, county: County, browser_factory
):
    """The whole attack, step by step, as the client would try it: re-issue Matti's invite
    quietly (keeping his passkeys so he notices nothing), redeem it with her own
    authenticator in another browser, then read Eino's wallet and make a payment code for it."""
    s = await scene(db, county, browser_factory)
    attacker = await browser_factory()
    steps: dict[str, int] = {}
    r = await s.client.phone.post(
        "/api/invites",
        json={"principal_id": str(s.carer.principal_id), "revoke_passkeys": False},
        headers=s.client.csrf,
    )
    steps["re-issue"] = r.status_code
    csrf: dict[str, str] = {}
    if r.status_code == 201:  # the hole: carry on as the attacker would
        signed = await redeem(attacker, s.client.auth, r.json()["code"])
        steps["redeem"] = signed.status_code
        csrf = {"X-CSRF-Token": signed.json().get("csrf_token", "")}
    steps["read"] = (await attacker.get(f"/api/wallets/{s.other_wallet_id}")).status_code
    spend = await attacker.post(
        f"/api/wallets/{s.other_wallet_id}/payment-tokens", json={}, headers=csrf
    )
    steps["spend"] = spend.status_code
    assert steps == {"re-issue": 403, "read": 401, "spend": 401}, steps
    async with UnitOfWork(db, readonly=True) as uow:
        tokens = (
            await uow.session.execute(
                select(PaymentToken.id).where(PaymentToken.wallet_id == s.other_wallet_id)
            )
        ).all()
    assert tokens == []
    # Matti is untouched: still signed in, still Eino's carer.
    assert (await s.carer.phone.get(f"/api/wallets/{s.other_wallet_id}")).status_code == 200


# -- staff re-issue -----------------------------------------------------------------------------


async def _push_subscriptions(db, principal_id: uuid.UUID) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(
                    select(func.count())
                    .select_from(PushSubscription)
                    .where(PushSubscription.principal_id == principal_id)
                )
            ).scalar_one()
        )


async def test_staff_reissue_is_audited_and_revokes_passkeys_sessions_api_keys_and_push(
    db, county: County, browser_factory
):
    """Matti lost his phone. His case manager issues a new invite with ``revoke_passkeys``:
    the lost phone's passkey, sessions, API keys and push subscriptions all stop at once, and
    the audit trail says who did it and what ended."""
    s = await scene(db, county, browser_factory)
    carer_key = await api_key_for(db, s.carer.principal_id)
    async with UnitOfWork(db) as uow:
        for who, n in ((s.carer.principal_id, 2), (s.client.principal_id, 1)):
            for i in range(n):
                uow.session.add(
                    PushSubscription(
                        principal_id=who,
                        endpoint=f"https://push.example.org/{who}/{i}",
                        p256dh="p",
                        auth="a",
                        created_at=utcnow(),
                    )
                )
        await uow.commit()
    staff = await browser_factory()
    carer_id = str(s.carer.principal_id)

    # A new invite without revoking (a second phone): credentials stay, but it is audited.
    r = await staff.post("/api/invites", json={"principal_id": carer_id},
                         headers=bearer(county.cm_key))  # fmt: skip
    assert r.status_code == 201, r.text
    assert (await s.carer.phone.get("/api/me")).status_code == 200
    reissued = [
        a for a in await audit_actions(db, county.organizer_id) if a[0] == "invite.reissued"
    ]
    assert [(a, actor) for a, actor, _ in reissued] == [("invite.reissued", county.case_manager)]

    # The lost phone: everything it held ends.
    r = await staff.post(
        "/api/invites", json={"principal_id": carer_id, "revoke_passkeys": True},
        headers=bearer(county.cm_key),
    )  # fmt: skip
    assert r.status_code == 201, r.text
    problem_of(await s.carer.phone.get("/api/me"), 401, "session-expired")
    app = await browser_factory()
    problem_of(await app.get("/api/me", headers=bearer(carer_key)), 401, "unauthorized")
    problem_of(await sign_in(await browser_factory(), s.carer.auth), 401, "passkey-revoked")
    assert await _push_subscriptions(db, s.carer.principal_id) == 0
    assert await _push_subscriptions(db, s.client.principal_id) == 1  # nobody else's
    log = await audit_actions(db, county.organizer_id)
    (revoked,) = [a for a in log if a[0] == "credentials.revoked"]
    assert revoked[1] == county.case_manager
    for part in ("1 passkey", "1 session", "1 API key", "2 push subscription"):
        assert part in revoked[2], revoked[2]

    # The new phone gets in with the new invite, with Matti's mandates as they were.
    carer = await join(await browser_factory(), r.json()["code"])
    assert carer.principal_id == s.carer.principal_id
    assert (await carer.phone.get(f"/api/wallets/{s.other_wallet_id}")).status_code == 200


@pytest.mark.parametrize(
    "who", ["carer", "unrelated_client", "provider_owner", "other_county_case_manager"]
)
async def test_only_the_persons_staff_may_reissue(db, county: County, browser_factory, who):
    """Case managers re-issue for their own organizer's clients and carers, a provider's owner
    for that provider's staff; nobody else for a carer."""
    s = await scene(db, county, browser_factory)
    app = await browser_factory()
    if who == "carer":
        key = await api_key_for(db, s.carer.principal_id)
        target = s.client.principal_id
    elif who == "unrelated_client":
        other = await catalogue.create_client(
            db, organizer_id=county.organizer_id, first_name="Eeva", last_name="K",
            phone="0405551111",
        )  # fmt: skip
        key, target = await api_key_for(db, other.principal_id), s.carer.principal_id
    elif who == "provider_owner":
        _, provider = await providers.create_provider(
            db, organizer_id=county.organizer_id, name="P", business_id="0112038-9", prices={}
        )
        async with UnitOfWork(db) as uow:
            p = await uow.session.get(Principal, provider)
            assert p is not None and p.provider_id is not None
            uow.session.add(ProviderOwner(provider_id=p.provider_id, principal_id=provider))
            await uow.commit()
        key, target = await api_key_for(db, provider), s.carer.principal_id
    else:
        org2 = await catalogue.create_organizer(db, slug=f"x-{uuid.uuid4().hex[:6]}", name="X")
        cm2 = await catalogue.create_principal(
            db, organizer_id=org2, role="case_manager", display_name="Other"
        )
        key, target = await api_key_for(db, cm2), s.carer.principal_id
    before = await invites_for(db, target)
    r = await app.post(
        "/api/invites", json={"principal_id": str(target), "revoke_passkeys": True},
        headers=bearer(key),
    )  # fmt: skip
    assert r.status_code in (403, 404), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await invites_for(db, target) == before
    assert (await s.carer.phone.get("/api/me")).status_code == 200


def test_push_subscription_reference_matches_the_notifications_table():
    """``payments.people.invites`` deletes a lost phone's push subscriptions through a lightweight
    reference (it may not import ``notifications``); a renamed table or column must fail here,
    not silently leave the old phone subscribed."""
    reference = invites.PUSH_SUBSCRIPTIONS
    real = PushSubscription.__table__
    assert reference.name == real.name
    assert set(reference.c.keys()) <= set(real.c.keys())
    assert type(reference.c.principal_id.type) is type(real.c.principal_id.type)
