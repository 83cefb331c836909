"""The right of access (issue 19): a client's export holds every kind of data the system keeps
about them, and nothing of anyone else; the case manager of another county gets 404, carers
and providers get no export; every download is audited and shown in "who looked at my data";
the printable page escapes what people typed.

Two clients in one county and one in another, each with every kind of data, the money moved
by the real use cases; both engines.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import insert, update

from notifications.models import LowBalanceAlert, PushSubscription, SmsMessage, SmsOptIn
from notifications.rules import set_preferences
from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout import cards, phone, tokens, visits
from payments.clock import utcnow
from payments.db import Database
from payments.idempotency import request_fingerprint
from payments.ledger.periods import first_day
from payments.models import (
    Account,
    AuditEvent,
    Client,
    Correction,
    StatementNotice,
)
from payments.people import audit, invites, passkeys, sessions
from payments.people.access import Actor
from payments.people.mandates import grant_mandate
from payments.reporting.access_export import COVERED, EXCLUDED
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import World, api_key_for, seed_world, trust_provider
from tests.support.api import auth
from tests.support.money import by_phone, charged, cleaning, refund

# Every section the export has; each must hold rows for a client who has every kind of data.
SECTIONS = (
    "people",
    "decisions",
    "statements",
    "transfers",
    "charges",
    "holds",
    "payment_requests",
    "payment_codes",
    "trusted_providers",
    "carers",
    "qr_cards",
    "invites",
    "passkeys",
    "sessions",
    "api_keys",
    "push_devices",
    "notification_settings",
    "low_balance_alerts",
    "sms_numbers",
    "sms_texts",
    "notifications",
    "audit",
)
SECRET_FIELDS = (
    "pin_hash",
    "pin_salt",
    "token_hash",
    "code_hash",
    "secret_hash",
    "csrf_token",
    "public_key",
    "p256dh",
    "auth",
    "prefix",
)


@dataclass
class Person:
    """A client with every kind of data, and the strings that must not leak into another
    client's export."""

    client_id: uuid.UUID
    wallet_id: uuid.UUID
    principal_id: uuid.UUID
    key: str
    marks: tuple[str, ...]


async def everything(
    db: Database, w: World, *, first: str, last: str, phone_number: str, e164: str
) -> Person:
    """A new client of ``w``'s county with a decision, funded, and then one of each: a payment
    request (an untrusted provider by phone), a charge and its refund (trusted), a visit
    checked in and out, a payment code, a QR card, a carer, a passkey and a sign-in, an API
    key, a push device, notification settings, a low-balance alert, an invite, a statement
    notice, a correction waiting for approval, and a case manager's audited view."""
    made = await catalogue.create_client(
        db, organizer_id=w.organizer_id, first_name=first, last_name=last, phone=phone_number
    )
    await catalogue.create_decision(
        db,
        organizer_id=w.organizer_id,
        client_id=made.client_id,
        valid_from=first_day(w.period),
        valid_to=None,
        lines=[DecisionLineInput(f"Siivous {last}", 40_000, ("siivous", "kotiapu"))],
    )
    await fund_period(db, w.period)
    customer = by_phone(e164)
    # Not trusted yet: the provider's charge by phone waits for approval, its money held.
    lines = cleaning(1)
    await phone.phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=e164,
        lines=lines,
        idempotency_key=uuid.uuid4().hex,
        request_hash=request_fingerprint(e164, "request"),
    )
    await trust_provider(db, made.wallet_id, w.provider_id, actor_id=w.case_manager)
    charge_id = await charged(db, w, cleaning(2), customer=customer)
    await refund(db, w, charge_id, 1000, reason=f"Liikaa {last}")
    visit = await visits.create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=customer,
        lines=cleaning(1),
        idempotency_key=uuid.uuid4().hex,
        request_hash=request_fingerprint(e164, "visit"),
    )
    await visits.capture_hold(
        db,
        provider_id=w.provider_id,
        hold_id=uuid.UUID(str(visit.body["id"])),
        lines=cleaning("0.5"),
        idempotency_key=uuid.uuid4().hex,
        request_hash=request_fingerprint(e164, "capture"),
    )
    await tokens.issue_token(db, wallet_id=made.wallet_id, created_by=made.principal_id)
    card = await cards.issue_card(
        db,
        actor_id=w.case_manager,
        organizer_id=w.organizer_id,
        wallet_id=made.wallet_id,
        pin="4826",
    )
    # A PIN change names the card, not the client: the export finds it by the card.
    await cards.set_pin(db, actor_id=w.case_manager, card_id=card.id, pin="9173")
    carer = await catalogue.create_principal(
        db, organizer_id=w.organizer_id, role="carer", display_name=f"Hoitaja {last}"
    )
    await grant_mandate(db, carer_id=carer, client_id=made.client_id, scopes=("view",))
    me = Actor(
        principal_id=made.principal_id,
        organizer_id=w.organizer_id,
        role="client",
        display_name=f"{first} {last}",
        client_id=made.client_id,
    )
    credential = f"cred-{last}"
    await passkeys.add_passkey(
        db,
        me,
        passkeys.NewCredential(
            credential_id=credential, public_key=b"\x01" * 77, sign_count=0, name=f"Puhelin {last}"
        ),
    )
    await sessions.sign_in(
        db,
        passkey=await passkeys.find_passkey(db, credential),
        new_sign_count=1,
        idle_timeout=timedelta(minutes=30),
        max_age=timedelta(hours=12),
    )
    key = await api_key_for(db, made.principal_id)
    cm = Actor(
        principal_id=w.case_manager,
        organizer_id=w.organizer_id,
        role="case_manager",
        display_name="Liisa Ohjaaja",
    )
    await invites.create_invite(db, cm, client_id=made.client_id, validity=timedelta(days=7))
    await set_preferences(db, made.principal_id, hide_amounts=False, language="sv")
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        envelope = (
            await s.execute(
                Account.__table__.select().where(
                    Account.wallet_id == made.wallet_id, Account.kind == AccountKind.ENVELOPE
                )
            )
        ).first()
        assert envelope is not None
        await s.execute(
            insert(PushSubscription).values(
                id=uuid.uuid4(),
                principal_id=made.principal_id,
                endpoint=f"https://push.example.net/send/{last}-secret-path",
                p256dh="p256dh-secret",
                auth="auth-secret",
                created_at=now,
            )
        )
        await s.execute(
            insert(LowBalanceAlert).values(
                principal_id=made.principal_id,
                account_id=envelope.id,
                period=w.period,
                balance_cents=500,
                threshold_cents=8000,
                created_at=now,
            )
        )
        optin_id = uuid.uuid4()
        await s.execute(
            insert(SmsOptIn).values(
                id=optin_id,
                organizer_id=w.organizer_id,
                wallet_id=made.wallet_id,
                principal_id=made.principal_id,
                phone_e164=e164,
                language="fi",
                events=["receipt"],
                confirmed_at=now,
                code_attempts=0,
                created_at=now,
            )
        )
        await s.execute(
            insert(SmsMessage).values(
                id=uuid.uuid4(),
                organizer_id=w.organizer_id,
                optin_id=optin_id,
                kind="receipt",
                phone_e164=e164,
                body=f"Maksettu 35,00 €: Siivous {last}.",
                status="sent",
                attempts=1,
                created_at=now,
                sent_at=now,
            )
        )
        await s.execute(
            insert(StatementNotice).values(
                wallet_id=made.wallet_id,
                period=w.period,
                organizer_id=w.organizer_id,
                created_at=now,
            )
        )
        await s.execute(
            insert(Correction).values(
                id=uuid.uuid4(),
                organizer_id=w.organizer_id,
                charge_id=charge_id,
                amount_cents=500,
                reason=f"Väärä tunti {last}",
                status="pending",
                requested_by=w.case_manager,
                requested_at=now,
            )
        )
        await uow.commit()
    await audit.record(
        db,
        action="wallet.viewed",
        actor_id=w.case_manager,
        organizer_id=w.organizer_id,
        subject_client_id=made.client_id,
        detail=str(made.wallet_id),
    )
    return Person(
        client_id=made.client_id,
        wallet_id=made.wallet_id,
        principal_id=made.principal_id,
        key=key,
        marks=(
            str(made.client_id),
            str(made.wallet_id),
            str(made.principal_id),
            first,
            last,
            e164,
            e164[4:],  # the number without +358, as some screens write it
            f"Hoitaja {last}",
            f"Puhelin {last}",
            credential,
        ),
    )


@dataclass
class Scene:
    world: World
    foreign: World
    anna: Person
    bertta: Person  # same county as anna
    cecilia: Person  # another county


async def scene(db: Database) -> Scene:
    world = await seed_world(db)
    foreign = await seed_world(db, phone="040 999 8888")
    # seed_world names both its clients Aino Virtanen; the foreign one gets a name of its own.
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Client)
            .where(Client.id == foreign.client_id)
            .values(first_name="Ulla", last_name="Ulkomaa")
        )
        await uow.commit()
    anna = await everything(
        db, world, first="Anna", last="Aaltonen", phone_number="040 111 2233", e164="+358401112233"
    )
    bertta = await everything(
        db, world, first="Bertta", last="Bäckman", phone_number="040 444 5566", e164="+358404445566"
    )
    cecilia = await everything(
        db,
        foreign,
        first="Cecilia",
        last="Corander",
        phone_number="040 777 8899",
        e164="+358407778899",
    )
    return Scene(world, foreign, anna, bertta, cecilia)


def _keys_anywhere(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys_anywhere(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys_anywhere(v)}
    return set()


async def test_the_export_holds_every_kind_of_data_and_nothing_of_others(
    db: Database, client: AsyncTestClient[Any]
) -> None:
    sc = await scene(db)
    r = await client.get("/api/me/export", headers=auth(sc.anna.key))
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith('attachment; filename="my-data-')
    assert r.headers["cache-control"] == "no-store"
    data = r.json()
    assert data["person"] == {
        "id": str(sc.anna.client_id),
        "first_name": "Anna",
        "last_name": "Aaltonen",
        "phone": "+358401112233",
        "language": "fi",
        "external_ref": None,
        "created_at": data["person"]["created_at"],
        "closed_at": None,
        "pseudonymised_at": None,
    }
    assert set(COVERED.values()) <= set(data)  # every table read lands in a section
    empty = [name for name in SECTIONS if not data[name]]
    assert not empty, f"sections without rows: {empty}"
    assert data["wallet"]["id"] == str(sc.anna.wallet_id)
    assert {a["kind"] for a in data["wallet"]["accounts"]} == {"envelope", "hold"}
    # The money as the use cases moved it: funded, the request's hold, a charge, a refund,
    # the visit's hold and its capture.
    kinds = {t["kind"] for t in data["transfers"]}
    assert {"funding", "hold", "charge", "refund"} <= kinds, kinds
    (charge,) = [c for c in data["charges"] if c["refunds"]]
    assert charge["lines"][0]["service"] == "siivous" and charge["total_cents"] == 7000
    assert charge["refunds"][0]["amount_cents"] == 1000
    assert charge["corrections"][0]["reason"] == "Väärä tunti Aaltonen"
    assert {h["purpose"] for h in data["holds"]} == {"visit", "request"}
    assert data["payment_requests"][0]["status"] == "pending"
    assert data["carers"][0]["carer"] == "Hoitaja Aaltonen"
    assert data["carers"][0]["scopes"] == ["view"]
    assert data["passkeys"][0]["name"] == "Puhelin Aaltonen"
    assert data["push_devices"] == [
        {
            "push_service": "push.example.net",
            "created_at": data["push_devices"][0]["created_at"],
            "last_success_at": None,
        }
    ]
    assert data["sms_numbers"][0]["phone"] == "+358401112233"
    assert data["sms_numbers"][0]["person"] == data["people"][0]["display_name"]
    assert data["sms_texts"][0]["text"] == "Maksettu 35,00 €: Siivous Aaltonen."
    assert data["notification_settings"][0]["hide_amounts"] is False
    assert data["notification_settings"][0]["language"] == "sv"
    month = data["statements"][-1]
    assert month["funded_cents"] == 40_000 and month["notice_sent_at"]
    assert month["closing_cents"] == sum(a["balance_cents"] for a in data["wallet"]["accounts"])
    assert any(
        e["action"] == "wallet.viewed" and e["actor"] == "Liisa Ohjaaja" for e in data["audit"]
    )
    actions = [e["action"] for e in data["audit"]]
    assert actions.count("card.pin_set") == 1  # Anna's card; Bertta's is not hers
    assert {"card.issued", "decision.created", "passkey.added", "signin.succeeded"} <= set(actions)
    assert {row["table"] for row in data["not_included"]} == set(EXCLUDED)

    # Nothing secret, by any name, anywhere in it.
    text = r.text
    assert not _keys_anywhere(data) & set(SECRET_FIELDS)
    # The key's secret whole (wk_<prefix>_<secret>; the secret may itself hold "_", and a piece
    # of it as short as "ko" is in "kotiapu").
    key_secret = sc.anna.key.split("_", 2)[2]
    for secret in ("secret-path", "p256dh-secret", "auth-secret", key_secret):
        assert secret not in text
    # Nothing of the other clients: ids, names, phone numbers, carers, devices.
    for other in (sc.bertta, sc.cecilia):
        for mark in other.marks:
            assert mark not in text, f"{mark!r} of another client is in the export"
    for mark in ("Ulla", "Ulkomaa", "Aino", "Virtanen", str(sc.world.client_id)):
        assert mark not in text


async def test_a_case_manager_downloads_it_for_the_client_and_the_client_sees_that(
    db: Database, client: AsyncTestClient[Any]
) -> None:
    sc = await scene(db)
    cm = await api_key_for(db, sc.world.case_manager)
    r = await client.get(f"/api/clients/{sc.bertta.client_id}/export", headers=auth(cm))
    assert r.status_code == 200, r.text
    assert f'filename="client-data-{sc.bertta.client_id}-' in r.headers["content-disposition"]
    data = r.json()
    assert data["person"]["first_name"] == "Bertta"
    assert data["export"]["requested_by"]["name"] == "Liisa Ohjaaja"
    for mark in sc.anna.marks + sc.cecilia.marks:
        assert mark not in r.text
    r = await client.get(
        f"/api/clients/{sc.bertta.client_id}/export", params={"format": "html"}, headers=auth(cm)
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # The download is in the audit, with its format, and Bertta sees who looked.
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                AuditEvent.__table__.select()
                .where(
                    AuditEvent.action == "data_export.viewed",
                    AuditEvent.subject_client_id == sc.bertta.client_id,
                )
                .order_by(AuditEvent.id)
            )
        ).all()
    assert [(x.actor_id, x.detail) for x in rows] == [
        (sc.world.case_manager, "format json"),
        (sc.world.case_manager, "format html"),
    ]
    views = await client.get(
        f"/api/clients/{sc.bertta.client_id}/views", headers=auth(sc.bertta.key)
    )
    assert [v["action"] for v in views.json()][:2] == ["data_export.viewed"] * 2
    assert views.json()[0]["actor_name"] == "Liisa Ohjaaja"
    # The client's own download is audited too (and, being their own, not listed as a view).
    assert (await client.get("/api/me/export", headers=auth(sc.bertta.key))).status_code == 200
    async with UnitOfWork(db, readonly=True) as uow:
        own = (
            await uow.session.execute(
                AuditEvent.__table__.select().where(
                    AuditEvent.action == "data_export.viewed",
                    AuditEvent.actor_id == sc.bertta.principal_id,
                )
            )
        ).all()
    assert [x.detail for x in own] == ["format json"]
    # ... and the next export lists every download so far.
    again = (await client.get("/api/me/export", headers=auth(sc.bertta.key))).json()
    assert [e["action"] for e in again["audit"]].count("data_export.viewed") == 3


async def test_others_get_no_export(db: Database, client: AsyncTestClient[Any]) -> None:
    sc = await scene(db)
    anna = sc.anna.client_id
    foreign_cm = await api_key_for(db, sc.foreign.case_manager)
    r = await client.get(f"/api/clients/{anna}/export", headers=auth(foreign_cm))
    assert r.status_code == 404 and r.json()["type"] == "not-found"
    # Their own county's unknown id answers the same.
    r = await client.get(f"/api/clients/{uuid.uuid4()}/export", headers=auth(foreign_cm))
    assert r.status_code == 404
    carer = await catalogue.create_principal(
        db, organizer_id=sc.world.organizer_id, role="carer", display_name="Kaikki oikeudet"
    )
    await grant_mandate(
        db, carer_id=carer, client_id=anna, scopes=("view", "approve", "manage-providers")
    )
    carer_key = await api_key_for(db, carer)
    provider_key = await api_key_for(db, sc.world.provider_principal)
    for key in (carer_key, provider_key, sc.bertta.key):
        for path in (f"/api/clients/{anna}/export", "/api/me/export"):
            r = await client.get(path, headers=auth(key))
            if path == "/api/me/export" and key == sc.bertta.key:
                assert r.status_code == 200 and "Aaltonen" not in r.text
                continue
            assert r.status_code == 403, (path, r.status_code)
    assert (await client.get("/api/me/export")).status_code == 401
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                AuditEvent.__table__.select().where(
                    AuditEvent.action == "data_export.viewed", AuditEvent.subject_client_id == anna
                )
            )
        ).all()
    assert rows == []  # a refused download reads and records nothing


async def test_the_printable_page_escapes_names_and_speaks_the_readers_language(
    db: Database, client: AsyncTestClient[Any]
) -> None:
    sc = await scene(db)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Client)
            .where(Client.id == sc.anna.client_id)
            .values(first_name="<script>alert(1)</script>", last_name='"&Ö')
        )
        await uow.commit()
    for lang, heading in (
        ("fi", "Kaikki tietosi"),
        ("sv", "Alla dina uppgifter"),
        ("en", "All your data"),
    ):
        r = await client.get(
            "/api/me/export",
            params={"format": "html"},
            headers=auth(sc.anna.key, **{"Accept-Language": lang}),
        )
        assert r.status_code == 200, r.text
        page = r.text
        assert f'<html lang="{lang}">' in page and f"<h1>{heading}</h1>" in page
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&quot;&amp;Ö" in page
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert r.headers["cache-control"] == "no-store"
        assert "content-disposition" not in r.headers
        # What is left out is said in the reader's language too.
        left_out = {
            "fi": "Yrityskerrat osoitetta",
            "sv": "Antal försök",
            "en": "Counts of attempts",
        }
        assert left_out[lang] in page
    # The app's own language wins over the browser's when the link names it.
    r = await client.get(
        "/api/me/export",
        params={"format": "html", "lang": "sv"},
        headers=auth(sc.anna.key, **{"Accept-Language": "en"}),
    )
    assert '<html lang="sv">' in r.text and "<h1>Alla dina uppgifter</h1>" in r.text
    # The JSON carries the name as it is (JSON escapes it itself).
    data = json.loads((await client.get("/api/me/export", headers=auth(sc.anna.key))).text)
    assert data["person"]["first_name"] == "<script>alert(1)</script>"
