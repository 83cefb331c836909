"""SMS (issue 20) on both engines: the whole loop through the real app (a provider charges by
phone number, the payment request's text reaches the fake 46elks gateway on loopback, the reply
is posted to the inbound webhook, the charge is captured and the provider's SSE stream reports
it), opt-in and its confirmation code, and the abuse that must change nothing and be audited:
a forged webhook, a reply from another number, a replayed code, a reply after expiry."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from notifications import events as ev
from notifications import sms
from notifications.dispatcher import Dispatcher
from notifications.hub import Hub
from notifications.models import SmsMessage, SmsOptIn, SmsReplyCode, SmsUsage
from notifications.outbound import OutboundClient, OutboundPolicy
from notifications.sms import SmsConfig, SmsSender
from notifications.sms_gateway import FakeGateway, gateway_from_settings
from payments.clock import utcnow
from payments.db import Database
from payments.models import AuditEvent, Charge, OutboxEvent, PaymentRequest
from payments.people.phones import to_e164
from payments.people.retention import Kind, prune
from payments.uow import UnitOfWork
from tests.factories import World, api_key_for, seed_world
from tests.notifications.helpers import mark_all_delivered, serve, settings_for, sse
from tests.support.money import charged, cleaning, refund

SECRET = "inbound-secret-for-tests"


@dataclass
class Loop:
    base: str
    gateway: FakeGateway
    world: World
    provider: str
    case_manager: str
    client: str
    phone: str


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    g = await FakeGateway(inbound_secret=SECRET).start()
    yield g
    await g.stop()


async def _loop(db: Database, gateway: FakeGateway, **extra: Any) -> AsyncIterator[Loop]:
    # Not trusted: a charge by phone number becomes a payment request.
    world = await seed_world(db, trusted=False)
    await mark_all_delivered(db)
    settings = settings_for(
        db.url,
        sse_heartbeat_s=0.5,
        outbound_allow_loopback=True,
        sms_gateway_url=gateway.base_url,
        sms_gateway_token=gateway.token,
        sms_inbound_secret=SECRET,
        **extra,
    )
    async with serve(settings, db=db) as base:
        gateway.inbound_url = f"{base}/api/sms/inbound"
        yield Loop(
            base,
            gateway,
            world,
            await api_key_for(db, world.provider_principal),
            await api_key_for(db, world.case_manager),
            await api_key_for(db, world.client_principal),
            to_e164(world.phone),
        )


@pytest.fixture
async def loop(db: Database, gateway: FakeGateway) -> AsyncIterator[Loop]:
    async for it in _loop(db, gateway):
        yield it


async def opt_in(
    http: httpx.AsyncClient, lp: Loop, events: list[str] | None = None, **body: Any
) -> dict[str, Any]:
    """The case manager turns SMS on; the code texted to the number is confirmed."""
    before = len(lp.gateway.to(lp.phone))
    made = await http.post(
        f"/api/wallets/{lp.world.wallet_id}/sms",
        json={
            "phone": lp.world.phone,
            "language": "fi",
            "events": events or ["request", "receipt"],
            **body,
        },
        headers=auth(lp.case_manager),
    )
    assert made.status_code == 201, made.text
    texts = await lp.gateway.wait_for(lp.phone, before + 1)
    code = re.search(r"Vahvistuskoodi: (\d{6})\.", texts[-1].message)
    assert code, texts[-1].message
    done = await http.post(
        f"/api/sms/optins/{made.json()['id']}/confirm",
        json={"code": code.group(1)},
        headers=auth(lp.case_manager),
    )
    assert done.status_code == 200, done.text
    assert done.json()["confirmed"] is True
    return dict(done.json())


async def charge_by_phone(http: httpx.AsyncClient, lp: Loop) -> dict[str, Any]:
    r = await http.post(
        "/api/checkout/phone",
        json={
            "phone": lp.world.phone,
            "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
        },
        headers={**auth(lp.provider), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 202, r.text
    assert r.json()["outcome"] == "pending"
    return dict(r.json()["request"])


async def request_code(lp: Loop, count: int) -> str:
    texts = await lp.gateway.wait_for(lp.phone, count)
    m = re.search(r"KYLLÄ (\d{4})", texts[-1].message)
    assert m, texts[-1].message
    assert "Siivouspalvelu Kuura Oy pyytää 35,00 €" in texts[-1].message
    return m.group(1)


async def status_of(db: Database, request_id: str) -> str:
    async with UnitOfWork(db, readonly=True) as uow:
        req = await uow.session.get(PaymentRequest, uuid.UUID(request_id))
        assert req is not None
        return str(req.status)


async def charges(db: Database, wallet_id: uuid.UUID) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return len(
            (await uow.session.execute(select(Charge.id).where(Charge.wallet_id == wallet_id)))
            .scalars()
            .all()
        )


async def audited(db: Database, action: str) -> list[str]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = await uow.session.execute(
            select(AuditEvent.detail).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return [str(d) for d in rows.scalars()]


async def test_the_whole_loop_a_basic_phone_approves_by_reply(db: Database, loop: Loop) -> None:
    async with httpx.AsyncClient(base_url=loop.base, timeout=20) as http:
        await opt_in(http, loop)
        async with sse(loop.base, loop.provider) as stream:
            # 1. the provider charges by phone number: a payment request, the money held
            req = await charge_by_phone(http, loop)
            # 2. its text reaches the gateway with a one-time code
            code = await request_code(loop, 2)
            assert await charges(db, loop.world.wallet_id) == 0
            # 3. the person's reply comes to the inbound webhook, as the gateway sends it
            status, _ = await loop.gateway.reply(loop.phone, f"kyllä {code}")
            assert status == 200
            # 4. the charge is captured
            assert await status_of(db, req["id"]) == "approved"
            assert await charges(db, loop.world.wallet_id) == 1
            # 5. the provider's live stream reports it, as for an approval in the app
            seen: dict[str, Any] = {}
            while "payment.approved" not in seen or "charge.captured" not in seen:
                event = await stream.next(10)
                seen[event.event or event.data["type"]] = event.data
            assert seen["payment.approved"]["data"]["id"] == req["id"]
            assert seen["payment.approved"]["data"]["status"] == "approved"
        # The answer, then the receipt the person chose.
        texts = await loop.gateway.wait_for(loop.phone, 4)
        bodies = [t.message for t in texts[2:]]
        assert any(b.startswith("Hyväksytty. Siivouspalvelu Kuura Oy saa 35,00 €") for b in bodies)
        # 300 € funded, 35 € paid: what is left in the whole wallet.
        assert "Maksettu 35,00 €: Siivouspalvelu Kuura Oy. Budjettia jäljellä 265,00 €." in bodies
    assert len(await audited(db, "sms.reply_approved")) == 1
    # Every text is stored without its code: the sent bodies kept "{code}".
    async with UnitOfWork(db, readonly=True) as uow:
        stored = (await uow.session.execute(select(SmsMessage.body))).scalars().all()
        used = (await uow.session.execute(select(SmsReplyCode.used_at))).scalars().all()
    assert not any(code in b for b in stored)
    assert all(u is not None for u in used)


async def test_no_declines_and_saldo_answers_the_balance(db: Database, loop: Loop) -> None:
    async with httpx.AsyncClient(base_url=loop.base, timeout=20) as http:
        await opt_in(http, loop, events=["request"])
        req = await charge_by_phone(http, loop)
        code = await request_code(loop, 2)
        status, _ = await loop.gateway.reply(loop.phone, f"EI {code}")
        assert status == 200
        assert await status_of(db, req["id"]) == "declined"
        assert await charges(db, loop.world.wallet_id) == 0
        texts = await loop.gateway.wait_for(loop.phone, 3)
        assert texts[-1].message.startswith("Hylätty. Siivouspalvelu Kuura Oy ei saa rahaa.")
        await loop.gateway.reply(loop.phone, "saldo")
        texts = await loop.gateway.wait_for(loop.phone, 4)
        # The month's 300 € is all there: the declined request's hold went back.
        assert texts[-1].message == "Budjettia jäljellä 300,00 €."


async def test_abuse_changes_nothing_and_each_is_audited(db: Database, loop: Loop) -> None:
    async with httpx.AsyncClient(base_url=loop.base, timeout=20) as http:
        await opt_in(http, loop, events=["request"])
        req = await charge_by_phone(http, loop)
        code = await request_code(loop, 2)

        # A forged webhook: no secret, or the wrong one.
        form = {"direction": "incoming", "from": loop.phone, "message": f"KYLLÄ {code}"}
        for headers in ({}, {"Authorization": "Basic " + "c21zOndyb25n"}):  # sms:wrong
            r = await http.post("/api/sms/inbound", data=form, headers=headers)
            assert r.status_code == 401
        assert len(await audited(db, "sms.inbound_forged")) == 2
        # A flood of forged calls is refused, and audited only up to a limit per address.
        for _ in range(sms.FORGED_AUDITED + 5):
            r = await http.post("/api/sms/inbound", data=form)
            assert r.status_code == 401
        assert len(await audited(db, "sms.inbound_forged")) == sms.FORGED_AUDITED

        # The right code from another number: nothing, and nothing texted back.
        status, _ = await loop.gateway.reply("+358405559999", f"KYLLÄ {code}")
        assert status == 200
        assert await status_of(db, req["id"]) == "pending"
        assert any("unknown-number" in d for d in await audited(db, "sms.reply_refused"))
        assert loop.gateway.to("+358405559999") == []

        # A wrong code from the right number: a helpful answer.
        wrong = f"{(int(code) + 1) % 10000:04d}"
        await loop.gateway.reply(loop.phone, f"KYLLÄ {wrong}")
        texts = await loop.gateway.wait_for(loop.phone, 3)
        assert texts[-1].message.startswith("Koodi ei täsmää.")
        assert await status_of(db, req["id"]) == "pending"

        # The right reply approves once; the same code again is a replay.
        await loop.gateway.reply(loop.phone, f"KYLLÄ {code}")
        assert await status_of(db, req["id"]) == "approved"
        await loop.gateway.reply(loop.phone, f"EI {code}")
        assert await status_of(db, req["id"]) == "approved"
        texts = await loop.gateway.wait_for(loop.phone, 5)
        assert texts[-1].message.startswith("Tämä koodi on jo käytetty.")
        assert await charges(db, loop.world.wallet_id) == 1

        # After expiry: nothing changes, and the person is told.
        req2 = await charge_by_phone(http, loop)
        code2 = await request_code(loop, 6)
        async with UnitOfWork(db) as uow:
            past = utcnow() - timedelta(seconds=1)
            await uow.session.execute(
                update(PaymentRequest)
                .where(PaymentRequest.id == uuid.UUID(req2["id"]))
                .values(expires_at=past)
            )
            await uow.session.execute(update(SmsReplyCode).values(expires_at=past))
            await uow.commit()
        await loop.gateway.reply(loop.phone, f"KYLLÄ {code2}")
        texts = await loop.gateway.wait_for(loop.phone, 7)
        assert texts[-1].message.startswith("Pyyntö ei ole enää voimassa.")
        assert await status_of(db, req2["id"]) == "pending"  # the expiry job's to close
        assert await charges(db, loop.world.wallet_id) == 1

    # Counted for the metrics too (wallet_sms_replies_total), in this process.
    for result in ("forged", "unknown-number", "wrong-code", "approved", "replayed-code"):
        assert sms.REPLIES[result] >= 1, (result, sms.REPLIES)
    refused = await audited(db, "sms.reply_refused")
    for why in ("unknown-number", "wrong-code", "replayed-code", "expired"):
        assert any(d.startswith(why) for d in refused), (why, refused)
    assert len(await audited(db, "sms.reply_approved")) == 1


async def test_replies_are_rate_limited_per_number(db: Database, gateway: FakeGateway) -> None:
    async for lp in _loop(db, gateway, sms_reply_limit=2):
        async with httpx.AsyncClient(base_url=lp.base, timeout=20) as http:
            await opt_in(http, lp, events=["request"])
        for _ in range(3):
            status, _ = await gateway.reply(lp.phone, "SALDO")
            assert status == 200
        await gateway.wait_for(lp.phone, 3)  # the code, two balances
        assert any(d.startswith("rate-limited") for d in await audited(db, "sms.reply_refused"))
        assert len(await audited(db, "sms.balance_sent")) == 2


async def test_the_code_must_confirm_the_number_before_anything_is_sent(
    db: Database, loop: Loop
) -> None:
    async with httpx.AsyncClient(base_url=loop.base, timeout=20) as http:
        made = await http.post(
            f"/api/wallets/{loop.world.wallet_id}/sms",
            json={"phone": loop.world.phone, "language": "sv", "events": ["request"]},
            headers=auth(loop.case_manager),
        )
        assert made.status_code == 201, made.text
        texts = await loop.gateway.wait_for(loop.phone, 1)
        assert texts[0].message.startswith("Bekräftelsekod: ")
        wrong = await http.post(
            f"/api/sms/optins/{made.json()['id']}/confirm",
            json={"code": "000000" if "000000" not in texts[0].message else "111111"},
            headers=auth(loop.case_manager),
        )
        assert wrong.status_code == 400
        assert wrong.json()["type"].endswith("sms-code-wrong")
        # Unconfirmed: a payment request texts nothing.
        await charge_by_phone(http, loop)
        listed = await http.get(
            f"/api/wallets/{loop.world.wallet_id}/sms", headers=auth(loop.client)
        )
        assert listed.json()["items"][0]["confirmed"] is False
    async with UnitOfWork(db, readonly=True) as uow:
        kinds = (await uow.session.execute(select(SmsMessage.kind))).scalars().all()
    assert kinds == ["confirm"]
    assert len(loop.gateway.to(loop.phone)) == 1


async def test_the_monthly_cap_refuses_and_counts(db: Database, gateway: FakeGateway) -> None:
    async for lp in _loop(db, gateway, sms_monthly_cap=1):
        async with httpx.AsyncClient(base_url=lp.base, timeout=20) as http:
            await opt_in(http, lp, events=["request"])  # the code: the month's one text
            await charge_by_phone(http, lp)
            for _ in range(100):
                async with UnitOfWork(db, readonly=True) as uow:
                    statuses = (await uow.session.execute(select(SmsMessage.status))).scalars()
                    if "refused" in list(statuses):
                        break
                await asyncio.sleep(0.05)
        assert len(gateway.to(lp.phone)) == 1
        async with UnitOfWork(db, readonly=True) as uow:
            use = (await uow.session.execute(select(SmsUsage))).scalar_one()
        assert (use.sent, use.refused) == (1, 1)


async def test_the_migration_matches_the_sms_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from payments.models import Base

    async with db.engine.connect() as conn:
        found = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )
    assert [d for d in found if "sms_" in repr(d)] == []


# --- delivery without a server: the dispatcher's round and the sender -----------------------


async def _confirmed_optin(db: Database, w: World, events: list[str]) -> None:
    async with UnitOfWork(db) as uow:
        uow.session.add(
            SmsOptIn(
                organizer_id=w.organizer_id,
                wallet_id=w.wallet_id,
                principal_id=w.client_principal,
                phone_e164=to_e164(w.phone),
                language="en",
                events=events,
                confirmed_at=utcnow(),
                code_attempts=0,
                created_at=utcnow(),
            )
        )
        await uow.commit()


async def test_a_text_is_enqueued_once_per_event_retried_with_backoff_and_sent(
    db: Database, gateway: FakeGateway
) -> None:
    w = await seed_world(db)
    await mark_all_delivered(db)
    await _confirmed_optin(db, w, ["receipt", "refund"])
    config = SmsConfig(
        gateway=gateway_from_settings(gateway.base_url, gateway.token, "Budjetti"),
        inbound_secret=SECRET,
        monthly_cap=100,
    )
    hub = Hub()
    await hub.start()
    http = OutboundClient(OutboundPolicy(allow_loopback=True), timeout_s=5)
    try:
        charge_id = await charged(db, w, cleaning(1))
        assert await Dispatcher(db, hub, sms_config=config).run_once() == 1
        # The same event enqueued again (a round run twice) writes nothing twice.
        async with UnitOfWork(db) as uow:
            rows = await uow.session.execute(ev.outbox_select().where(OutboxEvent.id > 0))
            events = await ev.to_events(uow.session, rows.all())
            assert await sms.enqueue(uow.session, events, utcnow(), config) == 1
            await uow.commit()
        async with UnitOfWork(db, readonly=True) as uow:
            (msg,) = (await uow.session.execute(select(SmsMessage))).scalars().all()
        assert msg.kind == "receipt" and msg.phone_e164 == "+358401234567"

        # The gateway fails once (503): retried after the backoff, then sent, once.
        gateway.fail_next = 1
        sender = SmsSender(db, config, http, schedule=(0.2,))
        assert await sender.run_once() == 1
        async with UnitOfWork(db, readonly=True) as uow:
            msg = (await uow.session.execute(select(SmsMessage))).scalar_one()
        assert (msg.status, msg.attempts) == ("pending", 1)
        assert msg.last_error is not None and msg.last_error.startswith("HTTP 503")
        assert await sender.run_once() == 0  # not due yet
        await asyncio.sleep(0.3)
        assert await sender.run_once() == 1
        async with UnitOfWork(db, readonly=True) as uow:
            msg = (await uow.session.execute(select(SmsMessage))).scalar_one()
            use = (await uow.session.execute(select(SmsUsage))).scalar_one()
        assert (msg.status, msg.attempts) == ("sent", 2)
        assert msg.gateway_id == gateway.sent[0].id
        assert [t.message for t in gateway.sent] == [
            "Paid €35.00: Siivouspalvelu Kuura Oy. Left in your budget €265.00."
        ]
        assert (sender.sent, sender.retried, use.sent) == (1, 1, 1)  # counted once in the cap

        # A refund: its own text; nothing for events nobody chose (the refund's hold events).
        await refund(db, w, charge_id, 1000)
        await Dispatcher(db, hub, sms_config=config).run_once()
        assert await sender.run_once() == 1
        assert gateway.sent[-1].message == "€10.00 was paid back to your budget."
    finally:
        await http.close()
        await hub.stop()


async def _settled(gateway: Any, phone: str) -> int:
    """How many texts ``phone`` has had, once no more has come for half a second."""
    seen = -1
    for _ in range(40):
        now = len(gateway.to(phone))
        if now == seen:
            return now
        seen = now
        await asyncio.sleep(0.5)
    return seen


async def test_a_carers_number_hears_whose_wallet_and_approves_until_the_mandate_ends(
    db: Database, loop: Loop
) -> None:
    from payments.budgets import catalogue
    from payments.people.mandates import grant_mandate

    carer = await catalogue.create_principal(
        db, organizer_id=loop.world.organizer_id, role="carer", display_name="Matti"
    )
    await grant_mandate(
        db, carer_id=carer, client_id=loop.world.client_id, scopes=("view", "approve")
    )
    carer_phone = "+358405550001"
    async with httpx.AsyncClient(base_url=loop.base, timeout=20) as http:
        made = await http.post(
            f"/api/wallets/{loop.world.wallet_id}/sms",
            json={
                "phone": "040 555 0001",
                "language": "fi",
                "events": ["request"],
                "carer_id": str(carer),
            },
            headers=auth(loop.case_manager),
        )
        assert made.status_code == 201, made.text
        assert made.json()["principal_id"] == str(carer)
        (sent,) = await loop.gateway.wait_for(carer_phone, 1)
        code = re.search(r"(\d{6})", sent.message)
        assert code
        done = await http.post(
            f"/api/sms/optins/{made.json()['id']}/confirm",
            json={"code": code.group(1)},
            headers=auth(loop.case_manager),
        )
        assert done.status_code == 200, done.text

        req = await charge_by_phone(http, loop)
        texts = await loop.gateway.wait_for(carer_phone, 2)
        assert texts[-1].message.startswith("Aino: Siivouspalvelu Kuura Oy pyytää 35,00 €.")
        reply = re.search(r"KYLLÄ (\d{4})", texts[-1].message)
        assert reply
        await loop.gateway.reply(carer_phone, f"KYLLÄ {reply.group(1)}")
        assert await status_of(db, req["id"]) == "approved"
        async with UnitOfWork(db, readonly=True) as uow:
            decided_by = (
                await uow.session.execute(
                    select(PaymentRequest.decided_by).where(
                        PaymentRequest.id == uuid.UUID(req["id"])
                    )
                )
            ).scalar_one()
        assert decided_by == carer  # the carer approved, as in the app

        # The mandate ends: the carer's number hears nothing more.
        gone = await http.delete(
            f"/api/clients/{loop.world.client_id}/mandates",
            params={"carer_id": str(carer)},
            headers=auth(loop.case_manager),
        )
        assert gone.status_code in (200, 204), gone.text
        # What was on its way while the mandate held (the approved charge's text) has arrived:
        # the dispatcher's round may wait a moment for company (LINGER_S) before it goes.
        before = await _settled(loop.gateway, carer_phone)
        await charge_by_phone(http, loop)
        # Nor does it get the balance any more.
        status, _ = await loop.gateway.reply(carer_phone, "SALDO")
        assert status == 200
        await asyncio.sleep(1.0)
        assert len(loop.gateway.to(carer_phone)) == before
    assert any(d.startswith("mandate-ended") for d in await audited(db, "sms.reply_refused"))


async def test_a_number_is_taken_only_for_a_carer_who_follows_the_wallet(
    db: Database, loop: Loop
) -> None:
    """A carer of the county without a mandate over this client, or with one that only
    waits for the carer's answer, is no carer of this wallet: 404, no row, no code texted."""
    from payments.budgets import catalogue
    from payments.people.access import Actor
    from payments.people.mandates import set_mandate

    stranger = await catalogue.create_principal(
        db, organizer_id=loop.world.organizer_id, role="carer", display_name="Vieras"
    )
    waiting = await catalogue.create_principal(
        db, organizer_id=loop.world.organizer_id, role="carer", display_name="Odottava"
    )
    # The client's own grant to an existing carer waits for the carer's acceptance.
    asker = Actor(
        loop.world.client_principal,
        loop.world.organizer_id,
        "client",
        "",
        client_id=loop.world.client_id,
    )
    await set_mandate(
        db, asker, client_id=loop.world.client_id, carer_id=waiting, scopes=["view", "approve"]
    )
    async with httpx.AsyncClient(base_url=loop.base, timeout=20) as http:
        for carer, phone in ((stranger, "040 555 0002"), (waiting, "040 555 0003")):
            made = await http.post(
                f"/api/wallets/{loop.world.wallet_id}/sms",
                json={
                    "phone": phone,
                    "language": "fi",
                    "events": ["request"],
                    "carer_id": str(carer),
                },
                headers=auth(loop.case_manager),
            )
            assert made.status_code == 404, made.text
    async with UnitOfWork(db, readonly=True) as uow:
        numbers = (await uow.session.execute(select(SmsOptIn.phone_e164))).scalars().all()
    assert "+358405550002" not in numbers and "+358405550003" not in numbers
    await asyncio.sleep(0.3)
    assert not loop.gateway.to("+358405550002") and not loop.gateway.to("+358405550003")


async def test_finished_texts_and_lapsed_codes_are_pruned_after_thirty_days(
    db: Database, gateway: FakeGateway
) -> None:
    w = await seed_world(db)
    await mark_all_delivered(db)
    await _confirmed_optin(db, w, ["receipt"])
    async with UnitOfWork(db, readonly=True) as uow:
        optin = (await uow.session.execute(select(SmsOptIn))).scalar_one()
    old = utcnow() - timedelta(days=31)
    async with UnitOfWork(db) as uow:
        for status, at in (("sent", old), ("failed", old), ("pending", old), ("sent", utcnow())):
            uow.session.add(
                SmsMessage(
                    organizer_id=w.organizer_id,
                    optin_id=optin.id,
                    kind="answer",
                    phone_e164=optin.phone_e164,
                    body="x",
                    status=status,
                    attempts=0,
                    created_at=at,
                )
            )
        await uow.commit()
    assert (await prune(db)).counts[Kind.SMS_MESSAGES] == 2
    async with UnitOfWork(db, readonly=True) as uow:
        left = (await uow.session.execute(select(SmsMessage.status))).scalars().all()
    assert sorted(left) == ["pending", "sent"]  # still owed, and recent


async def test_the_number_confirms_itself_by_replying_the_code(db: Database, loop: Loop) -> None:
    async with httpx.AsyncClient(base_url=loop.base, timeout=20) as http:
        made = await http.post(
            f"/api/wallets/{loop.world.wallet_id}/sms",
            json={"phone": loop.world.phone, "language": "fi", "events": ["request"]},
            headers=auth(loop.case_manager),
        )
        assert made.status_code == 201, made.text
        (sent,) = await loop.gateway.wait_for(loop.phone, 1)
        assert "Vastaa tähän viestiin koodilla" in sent.message
        code = re.search(r"Vahvistuskoodi: (\d{6})\.", sent.message)
        assert code
        # A wrong code first: told so, still waiting; then the right one confirms.
        wrong = f"{(int(code.group(1)) + 1) % 1_000_000:06d}"
        await loop.gateway.reply(loop.phone, wrong)
        texts = await loop.gateway.wait_for(loop.phone, 2)
        assert texts[-1].message.startswith("Koodi ei täsmää tai ei ole enää voimassa.")
        await loop.gateway.reply(loop.phone, f" {code.group(1)} ")
        texts = await loop.gateway.wait_for(loop.phone, 3)
        assert texts[-1].message.startswith("Kiitos! Numero on vahvistettu.")
        listed = await http.get(
            f"/api/wallets/{loop.world.wallet_id}/sms", headers=auth(loop.case_manager)
        )
        assert listed.json()["items"][0]["confirmed"] is True, listed.json()
        # Now a payment request reaches it.
        await charge_by_phone(http, loop)
        await request_code(loop, 4)
    assert len(await audited(db, "sms.optin_code_refused")) == 1
    assert len(await audited(db, "sms.optin_confirmed")) == 1
    # A stranger's six digits get nothing back.
    await loop.gateway.reply("+358405559999", code.group(1))
    assert loop.gateway.to("+358405559999") == []


async def test_without_a_gateway_the_webhook_is_not_there(db: Database) -> None:
    await seed_world(db)
    async with (
        serve(settings_for(db.url), db=db) as base,
        httpx.AsyncClient(base_url=base, timeout=20) as http,
    ):
        r = await http.post(
            "/api/sms/inbound",
            data={"from": "+358401234567", "message": "SALDO"},
            headers={"Authorization": "Basic c21zOng="},
        )
        assert r.status_code == 404
        # Another type of body than JSON or the gateway's form is refused before the route.
        r = await http.post(
            "/api/sms/inbound", content=b"x", headers={"Content-Type": "text/plain"}
        )
        assert r.status_code == 415
    assert await audited(db, "sms.inbound_forged") == []
