"""Closing a client's account and pseudonymising it later (issue 19, items 2 and 3), on both
engines: refusals write nothing; a close moves exactly the remaining money to the organizer and
ends every credential, mandate, trusted provider and card; nothing can be charged after it; a
replay doubles nothing; and a pseudonymised client leaves no name or phone number behind while
``wallet check`` still proves the books."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import String, Text, select, update

from notifications.models import PushSubscription
from payments.books import check_books
from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.client_import import ClientsInvalid, import_clients, parse_clients
from payments.budgets.closing import close_client
from payments.checkout.cards import issue_card
from payments.checkout.visits import create_visit_hold
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    ClientClosed,
    ConsentRequired,
    DecisionInForce,
    NotFound,
    NotInBudget,
    PaymentsOpen,
)
from payments.ledger.periods import HELSINKI
from payments.models import (
    ApiKey,
    AuditEvent,
    Client,
    Decision,
    Mandate,
    OutboxEvent,
    Passkey,
    Principal,
    QrCard,
    TrustedProvider,
    WebSession,
)
from payments.people.access import Actor
from payments.people.mandates import grant_mandate, set_mandate
from payments.people.retention import Kind, Retention, prune, pseudonym
from payments.reporting.access_export import export_client
from payments.reporting.reports import client_report
from payments.reporting.staff_views import list_clients
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import TransferKind
from tests.factories import (
    World,
    api_key_for,
    count,
    envelope,
    organizer_account_id,
    row_counts,
    seed_world,
    transfers,
)
from tests.support.money import by_phone, by_wallet, charge, charged, cleaning, refund


def _today() -> date:
    return utcnow().astimezone(HELSINKI).date()


async def _end_decisions(db: Database, w: World) -> None:
    """The county's decision ended yesterday (as the county's system records it)."""
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Decision)
            .where(Decision.client_id == w.client_id)
            .values(valid_from=_today() - timedelta(days=60), valid_to=_today() - timedelta(days=1))
        )
        await uow.commit()


async def _close(db: Database, w: World, key: str = "close-1", **kw: Any) -> Any:
    return await close_client(
        db,
        case_manager_id=w.case_manager,
        organizer_id=kw.pop("organizer_id", w.organizer_id),
        client_id=kw.pop("client_id", w.client_id),
        idempotency_key=key,
        request_hash="h",
        **kw,
    )


async def _credentials(db: Database, w: World) -> None:
    """A passkey, a session, a push subscription and a carer's mandate for the client."""
    now = utcnow()
    carer = await catalogue.create_principal(
        db, organizer_id=w.organizer_id, role="carer", display_name="Kalle Hoitaja"
    )
    await grant_mandate(db, carer_id=carer, client_id=w.client_id, scopes=("view",))
    async with UnitOfWork(db) as uow:
        s = uow.session
        s.add(
            Passkey(
                principal_id=w.client_principal,
                credential_id="cred-aino",
                public_key=b"k",
                name="Ainon puhelin",
                created_at=now,
            )
        )
        s.add(
            WebSession(
                token_hash="s" * 64,
                principal_id=w.client_principal,
                csrf_token="c",
                idle_timeout_s=1800,
                created_at=now,
                last_seen_at=now,
                expires_at=now + timedelta(hours=12),
            )
        )
        s.add(
            PushSubscription(
                principal_id=w.client_principal,
                endpoint="https://push.example.com/aino",
                p256dh="k",
                auth="a",
                created_at=now,
            )
        )
        await uow.commit()


async def test_a_decision_in_force_refuses_and_writes_nothing(db: Database) -> None:
    w = await seed_world(db)
    before = await row_counts(db)
    with pytest.raises(DecisionInForce):
        await _close(db, w)
    assert await row_counts(db) == before


async def test_a_decision_ending_today_is_still_in_force(db: Database) -> None:
    w = await seed_world(db)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Decision)
            .where(Decision.client_id == w.client_id)
            .values(valid_from=_today() - timedelta(days=60), valid_to=_today())
        )
        await uow.commit()
    with pytest.raises(DecisionInForce):
        await _close(db, w)


async def test_an_open_visit_refuses_and_writes_nothing(db: Database) -> None:
    w = await seed_world(db)
    held = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=by_wallet(w),
        lines=cleaning(1),
        idempotency_key="hold-1",
        request_hash="h",
    )
    assert held.what is Happened.CREATED
    await _end_decisions(db, w)
    before = await row_counts(db)
    with pytest.raises(PaymentsOpen):
        await _close(db, w)
    assert await row_counts(db) == before


async def test_another_countys_client_is_not_found(db: Database) -> None:
    w = await seed_world(db)
    other = await seed_world(db, phone="040 765 4321")
    await _end_decisions(db, w)
    with pytest.raises(NotFound):
        await _close(db, w, organizer_id=other.organizer_id)
    with pytest.raises(NotFound):
        await _close(db, w, client_id=uuid.uuid4())
    assert (await db_client(db, w.client_id)).closed_at is None


async def db_client(db: Database, client_id: uuid.UUID) -> Client:
    async with UnitOfWork(db) as uow:
        found = await uow.session.execute(select(Client).where(Client.id == client_id))
        client = found.scalar_one()
        uow.session.expunge(client)
        return client


async def test_closing_moves_the_rest_to_the_organizer_and_ends_everything(db: Database) -> None:
    w = await seed_world(db)
    charge_id = await charged(db, w, cleaning(2), customer=by_wallet(w))  # 70.00 of 300.00
    await _credentials(db, w)
    await api_key_for(db, w.client_principal)
    await issue_card(
        db, actor_id=w.case_manager, organizer_id=w.organizer_id, wallet_id=w.wallet_id
    )
    await _end_decisions(db, w)
    left = (await envelope(db, w.wallet_id)).balance_cents
    assert left == 30_000 - 7_000
    expired_acc = await organizer_account_id(db, w.organizer_id, "expired")

    out = await _close(db, w)

    assert out.what is Happened.DONE and not out.replayed
    assert out.body["expired_cents"] == left
    moved = [
        t
        for t in await transfers(db, kind=TransferKind.EXPIRY)
        if t.credit_account_id == expired_acc
    ]
    assert [t.amount_cents for t in moved] == [left]
    assert (await envelope(db, w.wallet_id)).balance_cents == 0
    assert {
        k: out.body[k]
        for k in (
            "passkeys",
            "sessions",
            "api_keys",
            "push_subscriptions",
            "mandates",
            "trusted_providers",
            "cards",
        )
    } == {
        "passkeys": 1,
        "sessions": 1,
        "api_keys": 1,
        "push_subscriptions": 1,
        "mandates": 1,
        "trusted_providers": 2,
        "cards": 1,
    }
    assert await count(db, Passkey, Passkey.revoked_at.is_(None)) == 0
    assert await count(db, WebSession, WebSession.ended_at.is_(None)) == 0
    assert (
        await count(
            db, ApiKey, ApiKey.principal_id == w.client_principal, ApiKey.revoked_at.is_(None)
        )
        == 0
    )
    assert await count(db, PushSubscription) == 0
    assert await count(db, Mandate, Mandate.revoked_at.is_(None)) == 0
    assert await count(db, TrustedProvider, TrustedProvider.wallet_id == w.wallet_id) == 0
    assert await count(db, QrCard, QrCard.status != "revoked") == 0
    assert (
        await count(
            db, Principal, Principal.id == w.client_principal, Principal.removed_at.is_not(None)
        )
        == 1
    )
    assert (await db_client(db, w.client_id)).closed_at is not None
    assert await count(db, OutboxEvent, OutboxEvent.type == "client.closed") == 1
    assert await count(db, AuditEvent, AuditEvent.action == "client.closed") == 1
    assert (await check_books(db)).ok

    # Nothing finds the client at the door any more, by wallet or by phone number.
    with pytest.raises((NotInBudget, ConsentRequired)):
        await charge(db, w, cleaning(1), customer=by_wallet(w))
    with pytest.raises((NotInBudget, ConsentRequired)):
        await charge(db, w, cleaning(1), customer=by_phone())
    # No new decision for a closed account.
    with pytest.raises(ClientClosed):
        await catalogue.create_decision(
            db,
            organizer_id=w.organizer_id,
            client_id=w.client_id,
            valid_from=_today(),
            valid_to=None,
            lines=[DecisionLineInput("Siivous", 10_000, ("siivous",))],
        )
    # A refund of an earlier charge goes to the county, not to the closed envelope.
    back = await refund(db, w, charge_id, 3_500)
    assert back.what is Happened.CREATED
    assert (await envelope(db, w.wallet_id)).balance_cents == 0
    assert [t.amount_cents for t in await transfers(db, kind=TransferKind.REFUND_CLOSED)] == [3_500]
    assert (await check_books(db)).ok


async def test_a_replay_doubles_nothing_and_a_second_close_is_refused(db: Database) -> None:
    w = await seed_world(db)
    await _end_decisions(db, w)
    first = await _close(db, w, key="k")
    before = await row_counts(db)
    again = await _close(db, w, key="k")
    assert again.replayed and again.body == first.body
    assert await row_counts(db) == before
    with pytest.raises(ClientClosed):
        await _close(db, w, key="another")
    assert await row_counts(db) == before


SUBSCRIBER = "401234567"  # seed_world's "040 123 4567" without its trunk prefix


def _texts(row: Any) -> list[str]:
    table = type(row).__table__
    return [
        str(getattr(row, c.key))
        for c in table.columns
        if isinstance(c.type, (String, Text)) and getattr(row, c.key) is not None
    ]


async def test_a_pseudonymised_client_leaves_no_name_or_number_and_the_books_prove(
    db: Database,
) -> None:
    w = await seed_world(db, phone="040 123 4567")
    await charged(db, w, cleaning(2), customer=by_wallet(w))
    await _credentials(db, w)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Client).where(Client.id == w.client_id).values(external_ref="ASIAKAS-77")
        )
        await uow.commit()
    await _end_decisions(db, w)
    await _close(db, w)

    # Not yet: closed less than the retention ago.
    assert (await prune(db, Retention())).counts[Kind.CLOSED_CLIENTS] == 0
    pruned = await prune(db, Retention(closed_clients=timedelta(0)))
    assert pruned.counts[Kind.CLOSED_CLIENTS] == 1
    assert (await prune(db, Retention(closed_clients=timedelta(0)))).counts[
        Kind.CLOSED_CLIENTS
    ] == 0

    async with UnitOfWork(db) as uow:
        s = uow.session
        client = (await s.execute(select(Client).where(Client.id == w.client_id))).scalar_one()
        principals = (
            (await s.execute(select(Principal).where(Principal.client_id == w.client_id)))
            .scalars()
            .all()
        )
        keys = (
            (await s.execute(select(Passkey).where(Passkey.principal_id == w.client_principal)))
            .scalars()
            .all()
        )
        rows: list[Any] = [client, *principals, *keys]
        texts = [t for row in rows for t in _texts(row)]
        assert client.pseudonymised_at is not None
    # The number as any form of it is stored (+358 40 123 4567, 040 123 4567): nine digits,
    # which the random digits of a pseudonym or a timestamp do not repeat by chance, as
    # "123" or "4567" alone did (the pseudonymous phone is 14 digits of the client's id).
    for needle in ("Aino", "Virtanen", SUBSCRIBER, "40 123 4567", "ASIAKAS-77", "Ainon"):
        assert not [t for t in texts if needle in t], (needle, texts)
    report = await check_books(db)
    assert report.ok, report.violations
    # The case manager's client list shows the pseudonym, and the client's report still
    # adds up: the remainder that went to the county is its expired money.
    page = await list_clients(db, w.organizer_id)
    (row,) = [c for c in page.items if c.client_id == w.client_id]
    assert (row.first_name, row.last_name) == ("", pseudonym(w.client_id))
    assert row.closed_at is not None
    months = await client_report(db, organizer_id=w.organizer_id, client_id=w.client_id)
    assert sum(m.expired_cents for m in months) == 30_000 - 7_000
    # A right-of-access export of the closed account says when it was closed and
    # pseudonymised, and holds no name or number any more.
    export = await export_client(
        db, organizer_id=w.organizer_id, client_id=w.client_id, requested_by=w.case_manager
    )
    person = export["person"]
    assert person["closed_at"] is not None and person["pseudonymised_at"] is not None
    dumped = json.dumps(export)
    for needle in ("Aino", "Virtanen", SUBSCRIBER, "40 123 4567", "ASIAKAS-77"):
        assert needle not in dumped, needle


async def test_the_checkout_gate_finds_no_closed_client_whatever_is_left(db: Database) -> None:
    """``closed_at`` alone stops every way a checkout finds the wallet, even with a decision in
    force and trusted providers still listed (the close ends those too; this is the gate)."""
    w = await seed_world(db)
    await charged(db, w, cleaning(1), customer=by_wallet(w))  # the gate lets it through open
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Client).where(Client.id == w.client_id).values(closed_at=utcnow())
        )
        await uow.commit()
    before = await row_counts(db)
    with pytest.raises(ConsentRequired):
        await charge(db, w, cleaning(1), customer=by_wallet(w))
    with pytest.raises(ConsentRequired):
        await charge(db, w, cleaning(1), customer=by_phone())
    with pytest.raises(NotInBudget):
        await create_visit_hold(
            db,
            provider_id=w.provider_id,
            customer=by_wallet(w),
            lines=cleaning(1),
            idempotency_key="hold-closed",
            request_hash="h",
        )
    after = await row_counts(db)
    assert after["charges"] == before["charges"] and after["transfers"] == before["transfers"]


async def test_an_import_naming_a_closed_client_is_refused_and_writes_nothing(
    db: Database,
) -> None:
    w = await seed_world(db)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Client).where(Client.id == w.client_id).values(external_ref="K-1")
        )
        await uow.commit()
    await _end_decisions(db, w)
    await _close(db, w)
    header = (
        "client_ref,first_name,last_name,phone,language,decision_ref,valid_from,valid_to,"
        "label,categories,monthly_amount,voucher_value,hours_per_week\n"
    )
    for row in (
        'K-1,Aino,Virtanen,040 123 4567,fi,D-9,1.1.2024,,Siivous,siivous,"150,00",,',
        "K-2,Uusi,Asiakas,040 123 4567,fi,,,,,,,,",  # the closed account's number
    ):
        before = await row_counts(db)
        with pytest.raises(ClientsInvalid) as refused:
            await import_clients(
                db,
                organizer_id=w.organizer_id,
                rows=parse_clients((header + row + "\n").encode()),
                source="test.csv",
            )
        assert [r.why.code for r in refused.value.refused] == ["client-closed"]
        assert await row_counts(db) == before


async def test_a_closed_account_gets_no_new_mandate_and_no_new_card(db: Database) -> None:
    w = await seed_world(db)
    carer = await catalogue.create_principal(
        db, organizer_id=w.organizer_id, role="carer", display_name="Kalle Hoitaja"
    )
    await _end_decisions(db, w)
    await _close(db, w)
    cm = Actor(w.case_manager, w.organizer_id, "case_manager", "Liisa Ohjaaja")
    with pytest.raises(ClientClosed):
        await set_mandate(db, cm, client_id=w.client_id, carer_id=carer, scopes=["view"])
    with pytest.raises(ClientClosed):
        await issue_card(
            db, actor_id=w.case_manager, organizer_id=w.organizer_id, wallet_id=w.wallet_id
        )
    assert await count(db, Mandate, Mandate.revoked_at.is_(None)) == 0
    assert await count(db, QrCard) == 0


async def test_closing_turns_the_wallets_texts_off_and_no_new_number_is_taken(
    db: Database,
) -> None:
    from notifications import sms
    from notifications.models import SmsMessage, SmsOptIn
    from notifications.sms import SmsConfig
    from notifications.sms_gateway import gateway_from_settings

    w = await seed_world(db)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        optin = SmsOptIn(
            organizer_id=w.organizer_id,
            wallet_id=w.wallet_id,
            principal_id=w.client_principal,
            phone_e164="+358401234567",
            language="fi",
            events=["receipt"],
            confirmed_at=now,
            code_attempts=0,
            created_at=now,
        )
        uow.session.add(optin)
        await uow.session.flush()
        uow.session.add(
            SmsMessage(
                organizer_id=w.organizer_id,
                optin_id=optin.id,
                kind="receipt",
                phone_e164="+358401234567",
                body="Kuitti",
                status="sent",
                attempts=1,
                created_at=now,
            )
        )
        await uow.commit()
    await _end_decisions(db, w)
    out = await _close(db, w)
    assert out.body["sms_numbers"] == 1
    assert await count(db, SmsOptIn) == 0 and await count(db, SmsMessage) == 0
    gateway = gateway_from_settings("https://127.0.0.1:9/a1", "u:p", "Budjetti")  # never called
    config = SmsConfig(gateway=gateway, inbound_secret="s", monthly_cap=10)
    with pytest.raises(ClientClosed):
        await sms.turn_on(
            db,
            config,
            organizer_id=w.organizer_id,
            wallet_id=w.wallet_id,
            actor_id=w.case_manager,
            phone="040 123 4567",
            language="fi",
            events=["receipt"],
        )
    assert await count(db, SmsOptIn) == 0


def test_the_named_sms_tables_are_the_models() -> None:
    from notifications.models import SmsMessage, SmsOptIn, SmsReplyCode
    from payments.budgets import closing

    for named, model in (
        (closing.SMS_OPTINS, SmsOptIn),
        (closing.SMS_MESSAGES, SmsMessage),
        (closing.SMS_REPLY_CODES, SmsReplyCode),
    ):
        real = model.__table__
        assert named.name == real.name
        assert all(col.name in real.c for col in named.c)
