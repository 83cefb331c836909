"""The retention prune (issue 19): each kind loses exactly its rows past the retention period,
on both sides of every boundary; undelivered events and pending deliveries stay however old;
the books are untouched and ``wallet check`` passes after."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from notifications.models import (
    PushSubscription,
    SmsMessage,
    SmsOptIn,
    SmsReplyCode,
    WebhookDelivery,
    WebhookEndpoint,
)
from payments.books import check_books
from payments.clock import utcnow
from payments.db import Database
from payments.models import (
    AuditEvent,
    Challenge,
    IdempotencyRecord,
    Invite,
    OutboxEvent,
    RateCounter,
    Transfer,
    WebSession,
)
from payments.people import retention
from payments.people.retention import Kind, Retention, prune
from payments.uow import UnitOfWork
from tests.factories import World, count, seed_world
from tests.support.money import by_wallet, charged, cleaning

SECOND = timedelta(seconds=1)


def _session(w: World, tag: str, *, ended: datetime | None, expires: datetime) -> WebSession:
    return WebSession(
        token_hash=uuid.uuid4().hex,
        principal_id=w.client_principal,
        csrf_token=tag,
        idle_timeout_s=1800,
        created_at=expires - timedelta(hours=12),
        last_seen_at=expires - timedelta(hours=12),
        expires_at=expires,
        ended_at=ended,
    )


def _invite(w: World, tag: str, *, expires: datetime, used: datetime | None) -> Invite:
    return Invite(
        organizer_id=w.organizer_id,
        principal_id=w.client_principal,
        code_hash=tag.ljust(64, "0"),
        created_at=expires - timedelta(days=7),
        expires_at=expires,
        used_at=used,
    )


async def _seed(db: Database, w: World, r: Retention) -> dict[str, dict[str, Any]]:
    """Rows just past (``old``) and just within (``new``) each kind's period, keyed by a tag;
    returns {kind: {tag: primary key}}."""
    now = utcnow()

    def past(period: timedelta) -> datetime:
        return now - period - SECOND

    def within(period: timedelta) -> datetime:
        return now - period + timedelta(minutes=1)

    rows: dict[str, dict[str, Any]] = {}
    async with UnitOfWork(db) as uow:
        s = uow.session
        sessions = {
            "ended-old": _session(w, "a", ended=past(r.sessions), expires=now + timedelta(hours=1)),
            "expired-old": _session(w, "b", ended=None, expires=past(r.sessions)),
            "ended-new": _session(w, "c", ended=within(r.sessions), expires=within(r.sessions)),
            "live": _session(w, "d", ended=None, expires=now + timedelta(hours=1)),
        }
        invites = {
            "used-old": _invite(w, "a", expires=now + timedelta(days=1), used=past(r.invites)),
            "expired-old": _invite(w, "b", expires=past(r.invites), used=None),
            "used-new": _invite(w, "c", expires=now + timedelta(days=1), used=within(r.invites)),
            "open": _invite(w, "d", expires=now + timedelta(days=1), used=None),
        }
        challenges = {
            tag: Challenge(
                binding_hash=tag,
                purpose="authenticate",
                challenge=tag,
                created_at=when - timedelta(minutes=5),
                expires_at=when,
            )
            for tag, when in (("old", past(r.challenges)), ("new", within(r.challenges)))
        }
        push = {
            tag: PushSubscription(
                principal_id=w.client_principal,
                endpoint=f"https://push.example.com/{tag}",
                p256dh="k",
                auth="a",
                created_at=created,
                last_success_at=success,
            )
            for tag, created, success in (
                ("unused-old", past(r.push_subscriptions), None),
                ("used-recently", past(r.push_subscriptions), within(r.push_subscriptions)),
                ("new", within(r.push_subscriptions), None),
            )
        }
        keys = {
            tag: IdempotencyRecord(
                scope="test",
                key=tag,
                request_hash="h",
                status_code=201,
                response={},
                created_at=when,
            )
            for tag, when in (
                ("old", past(r.idempotency_keys)),
                ("new", within(r.idempotency_keys)),
            )
        }
        counters = {
            tag: RateCounter(key=f"test:{tag}", window_start=int(when.timestamp()), hits=1)
            for tag, when in (("old", past(r.rate_counters)), ("new", within(r.rate_counters)))
        }
        audits = {
            tag: AuditEvent(organizer_id=w.organizer_id, action=f"test.{tag}", created_at=when)
            for tag, when in (("old", past(r.audit_events)), ("new", within(r.audit_events)))
        }
        endpoint = WebhookEndpoint(
            organizer_id=w.organizer_id,
            url="https://hooks.example.com/in",
            secret="whsec_x",
            event_types=["charge.captured"],
            created_at=now,
        )
        s.add(endpoint)
        await s.flush()
        deliveries = {
            tag: WebhookDelivery(
                endpoint_id=endpoint.id,
                organizer_id=w.organizer_id,
                event_id=None,
                event_type="webhook.ping",
                body="{}",
                status=status,
                created_at=when,
            )
            for tag, status, when in (
                ("succeeded-old", "succeeded", past(r.webhook_deliveries)),
                ("failed-old", "failed", past(r.webhook_deliveries)),
                ("pending-old", "pending", past(r.webhook_deliveries)),
                ("failed-new", "failed", within(r.webhook_deliveries)),
            )
        }
        outbox = {
            tag: OutboxEvent(
                organizer_id=w.organizer_id,
                type="test.event",
                payload={"tag": tag},
                created_at=when,
                delivered_at=delivered,
            )
            for tag, when, delivered in (
                ("delivered-old", past(r.outbox), past(r.outbox)),
                ("undelivered-old", past(r.outbox), None),
                ("delivered-new", within(r.outbox), within(r.outbox)),
            )
        }
        for group in (sessions, invites, challenges, push, keys, counters, audits):
            s.add_all(group.values())
        s.add_all(deliveries.values())
        optin = SmsOptIn(
            organizer_id=w.organizer_id,
            wallet_id=w.wallet_id,
            principal_id=w.client_principal,
            phone_e164="+358401234567",
            language="fi",
            events=["receipt"],
            code_attempts=0,
            created_at=now,
        )
        s.add(optin)
        await s.flush()
        texts = {
            tag: SmsMessage(
                organizer_id=w.organizer_id,
                optin_id=optin.id,
                kind="receipt",
                phone_e164="+358401234567",
                body="Kuitti",
                status=status,
                attempts=1,
                created_at=when,
            )
            for tag, status, when in (
                ("sent-old", "sent", past(r.sms_messages)),
                ("refused-old", "refused", past(r.sms_messages)),
                ("pending-old", "pending", past(r.sms_messages)),
                ("sent-new", "sent", within(r.sms_messages)),
            )
        }
        s.add_all(texts.values())
        s.add_all(outbox.values())
        await s.flush()
        rows = {
            "sessions": {t: o.id for t, o in sessions.items()},
            "invites": {t: o.id for t, o in invites.items()},
            "challenges": {t: o.id for t, o in challenges.items()},
            "push": {t: o.id for t, o in push.items()},
            "keys": {t: o.key for t, o in keys.items()},
            "counters": {t: o.key for t, o in counters.items()},
            "audits": {t: o.id for t, o in audits.items()},
            "deliveries": {t: o.id for t, o in deliveries.items()},
            "outbox": {t: o.id for t, o in outbox.items()},
            "texts": {t: o.id for t, o in texts.items()},
        }
        await uow.commit()
    return rows


TABLES = {
    "sessions": (WebSession, WebSession.id),
    "invites": (Invite, Invite.id),
    "challenges": (Challenge, Challenge.id),
    "push": (PushSubscription, PushSubscription.id),
    "keys": (IdempotencyRecord, IdempotencyRecord.key),
    "counters": (RateCounter, RateCounter.key),
    "audits": (AuditEvent, AuditEvent.id),
    "deliveries": (WebhookDelivery, WebhookDelivery.id),
    "outbox": (OutboxEvent, OutboxEvent.id),
    "texts": (SmsMessage, SmsMessage.id),
}
GONE = {
    "sessions": {"ended-old", "expired-old"},
    "invites": {"used-old", "expired-old"},
    "challenges": {"old"},
    "push": {"unused-old"},
    "keys": {"old"},
    "counters": {"old"},
    "audits": {"old"},
    "deliveries": {"succeeded-old", "failed-old"},
    "outbox": {"delivered-old"},
    "texts": {"sent-old", "refused-old"},
}


async def _left(db: Database, rows: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    left: dict[str, set[str]] = {}
    async with UnitOfWork(db) as uow:
        for name, (_, key) in TABLES.items():
            ids = set((await uow.session.execute(select(key))).scalars())
            left[name] = {tag for tag, pk in rows[name].items() if pk in ids}
    return left


@pytest.mark.parametrize("short", [False, True], ids=["defaults", "short-periods"])
async def test_a_prune_deletes_exactly_what_has_passed_its_retention(
    db: Database, short: bool
) -> None:
    w = await seed_world(db)
    await charged(db, w, cleaning(1), customer=by_wallet(w))  # money that must stay
    r = Retention()
    if short:  # the settings' least values, so the boundaries are near one another
        day = timedelta(days=1)
        r = Retention(
            sessions=day,
            invites=day,
            challenges=day,
            push_subscriptions=timedelta(days=7),
            outbox=day,
            idempotency_keys=day,
            rate_counters=day,
            webhook_deliveries=day,
            sms_messages=day,
            sms_reply_codes=day,
            audit_events=retention.years(1),
            closed_clients=retention.years(1),
        )
    rows = await _seed(db, w, r)
    transfers = await count(db, Transfer)

    dry = await prune(db, r, dry_run=True)
    assert await _left(db, rows) == {k: set(v) for k, v in rows.items()}  # dry: nothing goes

    pruned = await prune(db, r)
    left = await _left(db, rows)
    assert left == {k: set(rows[k]) - GONE[k] for k in rows}
    expected = {
        Kind.SESSIONS: 2,
        Kind.INVITES: 2,
        Kind.CHALLENGES: 1,
        Kind.PUSH_SUBSCRIPTIONS: 1,
        Kind.OUTBOX: 1,
        Kind.IDEMPOTENCY_KEYS: 1,
        Kind.RATE_COUNTERS: 1,
        Kind.WEBHOOK_DELIVERIES: 2,
        Kind.SMS_MESSAGES: 2,
        Kind.SMS_REPLY_CODES: 0,
        Kind.AUDIT_EVENTS: 1,
        Kind.CLOSED_CLIENTS: 0,
    }
    assert pruned.counts == expected
    assert dry.counts == expected and dry.dry_run
    assert await count(db, Transfer) == transfers
    assert (await check_books(db)).ok
    again = await prune(db, r)
    assert again.total == 0


async def test_batches_delete_everything_due_and_keep_the_newest_event(db: Database) -> None:
    """Small batches loop until done; the newest outbox row stays even when due (SQLite would
    hand its id out again, and SSE clients drop an id they have seen)."""
    w = await seed_world(db)
    old = utcnow() - timedelta(days=60)
    async with UnitOfWork(db) as uow:
        uow.session.add_all(
            OutboxEvent(
                organizer_id=w.organizer_id,
                type="test.event",
                payload={},
                created_at=old,
                delivered_at=old,
            )
            for _ in range(7)
        )
        await uow.commit()
    async with UnitOfWork(db) as uow:  # seed_world's own events too
        await uow.session.execute(update(OutboxEvent).values(created_at=old, delivered_at=old))
        await uow.commit()
    total = await count(db, OutboxEvent)
    pruned = await prune(db, Retention(), batch=2)
    assert pruned.counts[Kind.OUTBOX] == total - 1
    assert await count(db, OutboxEvent) == 1


def test_the_named_notifications_tables_are_the_models() -> None:
    for named, model in (
        (retention.PUSH_SUBSCRIPTIONS, PushSubscription),
        (retention.WEBHOOK_DELIVERIES, WebhookDelivery),
        (retention.SMS_MESSAGES, SmsMessage),
        (retention.SMS_REPLY_CODES, SmsReplyCode),
    ):
        real = model.__table__
        assert named.name == real.name
        for col in named.c:
            assert col.name in real.c, f"{real.name}.{col.name}"


async def test_an_event_id_is_never_given_twice_after_a_prune(db: Database) -> None:
    """Every delivered event is due; the newest stays, so the next event's id is higher than
    any an SSE client has seen (SQLite would otherwise hand out the deleted newest id again)."""
    w = await seed_world(db)
    old = utcnow() - timedelta(days=60)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(OutboxEvent).values(created_at=old, delivered_at=old))
        await uow.commit()
    async with UnitOfWork(db) as uow:
        seen = (await uow.session.execute(select(func.max(OutboxEvent.id)))).scalar_one()
    await prune(db, Retention())
    await charged(db, w, cleaning(1), customer=by_wallet(w))
    async with UnitOfWork(db) as uow:
        ids = list((await uow.session.execute(select(OutboxEvent.id))).scalars())
    assert min(ids) == seen and max(ids) > seen
