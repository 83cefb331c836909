"""Retention (issue 19): personal data is kept no longer than it is needed.

:func:`prune` deletes, kind by kind, what has passed its retention period (``Retention``, read
from the ``WALLET_RETENTION_*`` settings; docs/privacy.md says why each default is what it is)
and replaces a long-closed client's personal fields with a pseudonym. It deletes in batches,
each a set-wise ``DELETE … WHERE key IN (SELECT key … LIMIT n)`` in its own short transaction,
so a first prune of a large table holds no lock for long and a crash loses nothing but the
batch in flight; a rerun continues. ``dry_run`` counts instead.

What it never touches: transfers, accounts, charges, holds, requests, settlements, decisions,
clients' rows (only their personal fields) — everything ``wallet check`` reads. Web Push
subscriptions, webhook deliveries and texts are ``notifications``' tables, which ``payments``
may not import: they are named here by the few columns the deletes need (as in
:mod:`payments.people.invites`), and tests/payments/test_retention.py checks the names against
``notifications.models``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    String,
    Uuid,
    and_,
    column,
    delete,
    func,
    or_,
    select,
    table,
    tuple_,
    update,
)
from sqlalchemy.sql import Delete

from payments.clock import utcnow
from payments.db import Database
from payments.models import (
    ApiKey,
    AuditEvent,
    Challenge,
    Client,
    Decision,
    IdempotencyRecord,
    Invite,
    OutboxEvent,
    Passkey,
    Principal,
    RateCounter,
    WebSession,
)
from payments.people.ratelimits import MAX_WINDOW_S
from payments.uow import UnitOfWork

BATCH = 1000


class Kind(StrEnum):
    """What the prune deletes (or, for closed clients, pseudonymises): the metric's label."""

    SESSIONS = "sessions"
    INVITES = "invites"
    CHALLENGES = "challenges"
    PUSH_SUBSCRIPTIONS = "push_subscriptions"
    OUTBOX = "outbox"
    IDEMPOTENCY_KEYS = "idempotency_keys"
    RATE_COUNTERS = "rate_counters"
    WEBHOOK_DELIVERIES = "webhook_deliveries"
    SMS_MESSAGES = "sms_messages"
    SMS_REPLY_CODES = "sms_reply_codes"
    AUDIT_EVENTS = "audit_events"
    CLOSED_CLIENTS = "closed_clients"


def years(n: int) -> timedelta:
    """``n`` calendar years, leap days included, as a period to keep."""
    return timedelta(days=365 * n + n // 4)


_TWELVE_YEARS = years(12)
_SEVEN_YEARS = years(7)


@dataclass(frozen=True)
class Retention:
    """How long each kind is kept after it has ended (docs/privacy.md gives the reasons)."""

    sessions: timedelta = timedelta(days=30)  # after the session ended or expired
    invites: timedelta = timedelta(days=30)  # after it was used, revoked or expired
    challenges: timedelta = timedelta(days=1)  # after it expired (minutes after it was made)
    push_subscriptions: timedelta = timedelta(days=365)  # since its last delivered push
    outbox: timedelta = timedelta(days=30)  # a delivered event, after it was written
    idempotency_keys: timedelta = timedelta(days=30)
    rate_counters: timedelta = timedelta(days=1)  # after the window started
    webhook_deliveries: timedelta = timedelta(days=30)  # a finished delivery
    sms_messages: timedelta = timedelta(days=30)  # a text sent, failed or refused
    sms_reply_codes: timedelta = timedelta(days=30)  # after the code expired
    audit_events: timedelta = _TWELVE_YEARS
    closed_clients: timedelta = _SEVEN_YEARS  # after closing: then pseudonymised

    def __post_init__(self) -> None:
        # A counter younger than the longest window still counts attempts.
        if self.rate_counters < timedelta(seconds=MAX_WINDOW_S):
            raise ValueError("rate counters are kept at least one day (the longest window)")
        for f in fields(self):
            if getattr(self, f.name) < timedelta(0):
                raise ValueError(f"retention of {f.name} may not be negative")


# notifications' tables (see the module docstring).
PUSH_SUBSCRIPTIONS = table(
    "push_subscriptions",
    column("id", Uuid()),
    column("created_at", DateTime(timezone=True)),
    column("last_success_at", DateTime(timezone=True)),
)
WEBHOOK_DELIVERIES = table(
    "webhook_deliveries",
    column("id", Uuid()),
    column("status", String()),
    column("created_at", DateTime(timezone=True)),
)
SMS_MESSAGES = table(
    "sms_messages",
    column("id", Uuid()),
    column("status", String()),
    column("created_at", DateTime(timezone=True)),
)
SMS_REPLY_CODES = table(
    "sms_reply_codes", column("id", Uuid()), column("expires_at", DateTime(timezone=True))
)


@dataclass(frozen=True)
class _Rule:
    """One kind's rows: the table, its key, and which rows have passed ``cutoff``."""

    table: Any
    key: tuple[Any, ...]
    due: Callable[[datetime, datetime], ColumnElement[bool]]  # (cutoff, now) -> condition


def _newest_kept(model: Any) -> ColumnElement[bool]:
    # SQLite hands out max(id) + 1 as the next id: deleting the newest row would give its id
    # again, and SSE clients drop an event id they have seen (the audit log pages by id too).
    newest: ColumnElement[bool] = model.id < select(func.max(model.id)).scalar_subquery()
    return newest


RULES: dict[Kind, _Rule] = {
    Kind.SESSIONS: _Rule(
        WebSession,
        (WebSession.id,),
        lambda cutoff, now: or_(WebSession.ended_at < cutoff, WebSession.expires_at < cutoff),
    ),
    Kind.INVITES: _Rule(
        Invite,
        (Invite.id,),
        lambda cutoff, now: or_(
            Invite.used_at < cutoff, Invite.revoked_at < cutoff, Invite.expires_at < cutoff
        ),
    ),
    Kind.CHALLENGES: _Rule(Challenge, (Challenge.id,), lambda c, now: Challenge.expires_at < c),
    Kind.PUSH_SUBSCRIPTIONS: _Rule(
        PUSH_SUBSCRIPTIONS,
        (PUSH_SUBSCRIPTIONS.c.id,),
        lambda cutoff, now: (
            func.coalesce(PUSH_SUBSCRIPTIONS.c.last_success_at, PUSH_SUBSCRIPTIONS.c.created_at)
            < cutoff
        ),
    ),
    # Only delivered events: an undelivered one is still owed to its listeners and webhooks
    # (the dispatcher's cursor is ``delivered_at``), however old.
    Kind.OUTBOX: _Rule(
        OutboxEvent,
        (OutboxEvent.id,),
        lambda cutoff, now: and_(
            OutboxEvent.delivered_at.is_not(None),
            OutboxEvent.created_at < cutoff,
            _newest_kept(OutboxEvent),
        ),
    ),
    Kind.IDEMPOTENCY_KEYS: _Rule(
        IdempotencyRecord,
        (IdempotencyRecord.scope, IdempotencyRecord.key),
        lambda cutoff, now: IdempotencyRecord.created_at < cutoff,
    ),
    Kind.RATE_COUNTERS: _Rule(
        RateCounter,
        (RateCounter.key, RateCounter.window_start),
        lambda cutoff, now: RateCounter.window_start < int(cutoff.timestamp()),
    ),
    # Pending deliveries stay, however old: they are still owed.
    Kind.WEBHOOK_DELIVERIES: _Rule(
        WEBHOOK_DELIVERIES,
        (WEBHOOK_DELIVERIES.c.id,),
        lambda cutoff, now: and_(
            WEBHOOK_DELIVERIES.c.status.in_(("succeeded", "failed")),
            WEBHOOK_DELIVERIES.c.created_at < cutoff,
        ),
    ),
    # A text still owed (pending) stays, however old.
    Kind.SMS_MESSAGES: _Rule(
        SMS_MESSAGES,
        (SMS_MESSAGES.c.id,),
        lambda cutoff, now: and_(
            SMS_MESSAGES.c.status.in_(("sent", "failed", "refused")),
            SMS_MESSAGES.c.created_at < cutoff,
        ),
    ),
    Kind.SMS_REPLY_CODES: _Rule(
        SMS_REPLY_CODES,
        (SMS_REPLY_CODES.c.id,),
        lambda cutoff, now: SMS_REPLY_CODES.c.expires_at < cutoff,
    ),
    Kind.AUDIT_EVENTS: _Rule(
        AuditEvent,
        (AuditEvent.id,),
        lambda cutoff, now: and_(AuditEvent.created_at < cutoff, _newest_kept(AuditEvent)),
    ),
}


def _key_of(rule: _Rule) -> Any:
    return rule.key[0] if len(rule.key) == 1 else tuple_(*rule.key)


async def _prune_kind(
    db: Database, rule: _Rule, cutoff: datetime, now: datetime, *, dry_run: bool, batch: int
) -> int:
    condition = rule.due(cutoff, now)
    if dry_run:
        async with UnitOfWork(db) as uow:
            found = await uow.session.execute(
                select(func.count()).select_from(rule.table).where(condition)
            )
            return int(found.scalar_one())
    gone = 0
    while True:
        chosen = select(*rule.key).where(condition).limit(batch)
        stmt: Delete = delete(rule.table).where(_key_of(rule).in_(chosen))
        async with UnitOfWork(db) as uow:
            result = await uow.session.execute(stmt)
            await uow.commit()
        n = int(result.rowcount)  # type: ignore[attr-defined]
        gone += n
        if n < batch:
            return gone


def pseudonym(client_id: uuid.UUID) -> str:
    """The name a pseudonymised client goes by: stable, and says nothing of the person."""
    return f"#{client_id.hex[:8]}"


def pseudonymous_phone(client_id: uuid.UUID) -> str:
    """A placeholder for the phone column (unique per organizer): ``+0`` is no country code,
    so no typed number ever matches it."""
    return "+0" + str(client_id.int % 10**14).zfill(14)


_CLOSED_DUE = (
    select(Client.id)
    .where(Client.closed_at.is_not(None), Client.pseudonymised_at.is_(None))
    .order_by(Client.closed_at)
)


async def _pseudonymise(db: Database, cutoff: datetime, *, dry_run: bool, batch: int) -> int:
    """Replace the personal fields of clients closed before ``cutoff``: names, phone number,
    the county's references, the names of their principals and of those principals' passkeys
    and API keys. Ids, wallets, accounts, transfers and charges stay: the books still prove."""
    due = _CLOSED_DUE.where(Client.closed_at < cutoff)
    if dry_run:
        async with UnitOfWork(db) as uow:
            found = await uow.session.execute(select(func.count()).select_from(due.subquery()))
            return int(found.scalar_one())
    done = 0
    while True:
        async with UnitOfWork(db) as uow:
            s = uow.session
            ids = list((await s.execute(due.limit(batch))).scalars())
            now = utcnow()
            for client_id in ids:
                name = pseudonym(client_id)
                await s.execute(
                    update(Client)
                    .where(Client.id == client_id)
                    .values(
                        first_name="",
                        last_name=name,
                        phone_e164=pseudonymous_phone(client_id),
                        external_ref=None,
                        pseudonymised_at=now,
                    )
                )
                await s.execute(
                    update(Decision)
                    .where(Decision.client_id == client_id)
                    .values(external_ref=None)
                )
                people = select(Principal.id).where(Principal.client_id == client_id)
                await s.execute(
                    update(Principal).where(Principal.id.in_(people)).values(display_name=name)
                )
                await s.execute(
                    update(Passkey).where(Passkey.principal_id.in_(people)).values(name="-")
                )
                await s.execute(
                    update(ApiKey).where(ApiKey.principal_id.in_(people)).values(name="-")
                )
            await uow.commit()
        done += len(ids)
        if len(ids) < batch:
            return done


@dataclass(frozen=True)
class Pruned:
    """What one prune deleted (or, dry, would delete), per kind."""

    counts: dict[Kind, int]
    dry_run: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def prune(
    db: Database,
    retention: Retention | None = None,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    progress: Callable[[Kind, int], None] | None = None,
) -> Pruned:
    """Delete every row that has passed its kind's retention period, and pseudonymise the
    clients closed longer ago than ``retention.closed_clients``; counts per kind. Idempotent:
    a second run finds nothing. ``progress`` hears each kind's count as it is done."""
    retention = retention or Retention()
    now = utcnow()
    counts: dict[Kind, int] = {}
    for kind, rule in RULES.items():
        cutoff = now - getattr(retention, kind.value)
        counts[kind] = await _prune_kind(db, rule, cutoff, now, dry_run=dry_run, batch=batch)
        if progress is not None:
            progress(kind, counts[kind])
    counts[Kind.CLOSED_CLIENTS] = await _pseudonymise(
        db, now - retention.closed_clients, dry_run=dry_run, batch=batch
    )
    if progress is not None:
        progress(Kind.CLOSED_CLIENTS, counts[Kind.CLOSED_CLIENTS])
    return Pruned(counts, dry_run)
