"""Webhooks: an organizer's integrations receive the outbox's events as signed HTTP POSTs.

**Endpoints.** A case manager with the admin right (or the command line) registers a URL for
their own organizer and the event types it wants (``payments.outbox.EVENT_TYPES``). The URL must
pass the outbound policy (``notifications.outbound``) when it is stored; at most
``MAX_ENDPOINTS`` per organizer. The signing secret (``whsec_`` + base64 of 32 random bytes) is
returned once, when the endpoint is made, and never again.

**Enqueue.** The dispatcher's round calls :func:`enqueue` in the transaction that marks the
outbox rows delivered: one ``webhook_deliveries`` row per (enabled endpoint of the event's
organizer that subscribed to its type, event), inserted with ``ON CONFLICT DO NOTHING`` on the
unique (endpoint, event). A round that crashes enqueues nothing (it rolls back, and the outbox
rows stay undelivered); a round that is run again cannot enqueue twice. The body is fixed then
(``{"type", "timestamp", "data"}``), so every attempt sends the same bytes.

**Sending.** :class:`WebhookSender` runs where the dispatcher runs (``wallet worker``, or
``wallet serve`` with the dispatcher on). It polls with a read (and is woken by the dispatcher
and by replays); when something is due it claims it in a short write transaction
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the one writer) by moving its
``next_attempt_at`` a lease ahead, commits, and only then POSTs, through the process's
``OutboundClient`` (the policy again at send time, no redirects, a deadline): no transaction is
open during the HTTP call. A process that dies mid-send leaves the delivery pending; the lease
runs out and it is sent again (at least once). Headers: ``webhook-id`` (the event id, the same on
every retry and replay, so receivers drop duplicates), ``webhook-timestamp`` and
``webhook-signature`` (Standard Webhooks: HMAC-SHA256 of ``id.timestamp.body``).

**Outcomes.** 2xx: succeeded. A network error, a timeout, 429 or 5xx: retried after
``BACKOFF_S`` (with ±20 % jitter, ``Retry-After`` honoured), failed after ``MAX_ATTEMPTS``.
Any other answer (a redirect, a 4xx) fails at once. A refusal by the outbound policy at send
time fails the delivery and disables the endpoint with the reason (audited). A failed delivery
can be replayed: pending again now, a fresh retry schedule, the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import aiohttp
import msgspec
from sqlalchemy import Table, Uuid, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from notifications import events as ev
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.outbound import OutboundClient, OutboundPolicy, UrlNotAllowed, host_of
from notifications.polling import PollingSender
from payments.clock import utcnow
from payments.db import Database
from payments.errors import Conflict, Forbidden, InvalidInput, NotFound
from payments.models import Organizer, Principal, new_id
from payments.outbox import EVENT_TYPES
from payments.people import audit
from payments.reporting.cursors import decode_cursor, encode_cursor
from payments.rows import BatchRows, PerEngine, with_list
from payments.uow import UnitOfWork
from payments.vocabulary import Role

log = logging.getLogger("wallet.webhooks")

# A county's integrations (an accounting system, a data warehouse, a spare) fit well within
# this; it bounds what one organizer can make the server send (DESIGN.md: a cap per person).
MAX_ENDPOINTS = 10
# Seconds to wait after the 1st, 2nd, ... failed attempt; after MAX_ATTEMPTS the delivery fails.
BACKOFF_S: tuple[float, ...] = (5, 30, 120, 900, 3600, 21_600, 43_200)
MAX_ATTEMPTS = len(BACKOFF_S) + 1
# A claimed delivery is someone else's to retry only after this (> the request deadline).
LEASE_S = 60.0
TIMEOUT_S = 10.0
PING = "webhook.ping"
STATUSES = ("pending", "succeeded", "failed")
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
USER_AGENT = "personal-budget-wallet-webhooks/1"


class WebhookEndpointLimit(Conflict):
    slug = "webhook-endpoint-limit"
    title = "The organizer already has the most webhook endpoints it may have"


class WebhookEndpointDisabled(Conflict):
    slug = "webhook-endpoint-disabled"
    title = "The webhook endpoint is disabled; enable it first"


# --- the wire ------------------------------------------------------------------------------


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def body_of(event: ev.Event) -> str:
    """The JSON an endpoint receives for an event: its type, when it happened, and its data
    (with the wallet and provider it concerns)."""
    data: dict[str, Any] = {
        "event_id": event.id,
        "wallet_id": str(event.wallet_id) if event.wallet_id else None,
        "provider_id": str(event.provider_id) if event.provider_id else None,
    }
    data.update(event.data)
    return msgspec.json.encode(
        {"type": event.type, "timestamp": event.created_at.isoformat(), "data": data}
    ).decode()


def message_id(event_id: int | None, delivery_id: uuid.UUID) -> str:
    """``webhook-id``: the event id (stable across retries and replays); a ping's own id."""
    return str(event_id) if event_id is not None else f"ping_{delivery_id.hex}"


def signed_headers(secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body),
    }


def next_delay(
    attempts: int, rnd: random.Random | None = None, *, schedule: Sequence[float] = BACKOFF_S
) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones, with ±20 % jitter (so
    endpoints that failed together are not retried together), or None: give up."""
    if attempts < 1 or attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return base * (0.8 + 0.4 * (rnd or random).random())


# --- endpoints: the admin's use cases -------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as its organizer's admins see it: never its secret."""

    id: uuid.UUID
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    pending: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Delivery:
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: int | None
    webhook_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None


def check_event_types(types: Iterable[str]) -> list[str]:
    """The subscribed types in the outbox's order, each once; an unknown one is refused."""
    wanted = list(types)
    unknown = sorted(set(wanted) - set(EVENT_TYPES))
    if unknown:
        raise InvalidInput(f"Unknown event types: {', '.join(unknown)}", known=list(EVENT_TYPES))
    if not wanted:
        raise InvalidInput("Choose at least one event type")
    return [t for t in EVENT_TYPES if t in wanted]


async def _require_admin(
    s: AsyncSession, organizer_id: uuid.UUID, actor_id: uuid.UUID | None
) -> None:
    """The caller, checked from their row now: a case manager of this organizer with the admin
    right. ``None`` is the command line (an operator on the host)."""
    if actor_id is None:
        return
    me = await s.get(Principal, actor_id)
    if (
        me is None
        or me.organizer_id != organizer_id
        or me.role != Role.CASE_MANAGER
        or not me.admin
        or me.removed_at is not None
    ):
        raise Forbidden("Only a case manager with the admin right may manage webhooks")


async def _endpoint(
    s: AsyncSession, organizer_id: uuid.UUID, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    found = await s.get(WebhookEndpoint, endpoint_id)
    if found is None or found.organizer_id != organizer_id:
        raise NotFound("No such webhook endpoint")
    return found


def _view(e: WebhookEndpoint, pending: int = 0, failed: int = 0) -> Endpoint:
    return Endpoint(
        id=e.id,
        url=e.url,
        event_types=list(e.event_types),
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        created_at=e.created_at,
        pending=pending,
        failed=failed,
    )


async def create_endpoint(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    url: str,
    event_types: Iterable[str],
    policy: OutboundPolicy,
) -> tuple[Endpoint, str]:
    """Register an endpoint; returns it and its secret (shown this once). Audited."""
    policy.check_url(url)
    types = check_event_types(event_types)
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _require_admin(s, organizer_id, actor_id)
        # Endpoints of one organizer are added one at a time, so two cannot pass the cap together.
        await s.execute(select(Organizer.id).where(Organizer.id == organizer_id).with_for_update())
        count = (
            await s.execute(
                select(func.count())
                .select_from(WebhookEndpoint)
                .where(WebhookEndpoint.organizer_id == organizer_id)
            )
        ).scalar_one()
        if count >= MAX_ENDPOINTS:
            raise WebhookEndpointLimit(
                f"The organizer has {count} webhook endpoints, the most it may have",
                limit=MAX_ENDPOINTS,
            )
        secret = new_secret()
        row = WebhookEndpoint(
            organizer_id=organizer_id,
            url=url,
            secret=secret,
            event_types=types,
            enabled=True,
            created_by=actor_id,
            created_at=utcnow(),
        )
        s.add(row)
        await s.flush()
        audit.add(
            s,
            "webhook.created",
            actor_id=actor_id,
            organizer_id=organizer_id,
            detail=f"endpoint {row.id}: {host_of(url)}",
        )
        view = _view(row)
        await uow.commit()
    return view, secret


async def list_endpoints(db: Database, organizer_id: uuid.UUID) -> list[Endpoint]:
    """The organizer's endpoints, oldest first, with how many deliveries wait and failed."""
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        rows = (
            (
                await s.execute(
                    select(WebhookEndpoint)
                    .where(WebhookEndpoint.organizer_id == organizer_id)
                    .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
                )
            )
            .scalars()
            .all()
        )
        counts: dict[tuple[uuid.UUID, str], int] = {}
        if rows:
            found = await s.execute(
                select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
                .where(
                    WebhookDelivery.endpoint_id.in_([r.id for r in rows]),
                    WebhookDelivery.status.in_(("pending", "failed")),
                )
                .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)
            )
            counts = {(e, st): int(n) for e, st, n in found.all()}
    return [
        _view(r, counts.get((r.id, "pending"), 0), counts.get((r.id, "failed"), 0)) for r in rows
    ]


async def update_endpoint(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    endpoint_id: uuid.UUID,
    enabled: bool | None = None,
    event_types: Iterable[str] | None = None,
) -> Endpoint:
    """Turn an endpoint on or off, or change its event types. Turning it on clears the reason
    the server turned it off. Audited."""
    types = None if event_types is None else check_event_types(event_types)
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _require_admin(s, organizer_id, actor_id)
        row = await _endpoint(s, organizer_id, endpoint_id)
        changed = []
        if enabled is not None and enabled != row.enabled:
            row.enabled = enabled
            if enabled:
                row.disabled_reason = None
            changed.append("enabled" if enabled else "disabled")
        if types is not None and types != list(row.event_types):
            row.event_types = types
            changed.append("types " + ",".join(types))
        if changed:
            audit.add(
                s,
                "webhook.updated",
                actor_id=actor_id,
                organizer_id=organizer_id,
                detail=f"endpoint {row.id}: {'; '.join(changed)}",
            )
        view = _view(row)
        await uow.commit()
    return view


async def delete_endpoint(
    db: Database, *, organizer_id: uuid.UUID, actor_id: uuid.UUID | None, endpoint_id: uuid.UUID
) -> None:
    """Delete an endpoint and its delivery log (nothing more is sent to it). Audited."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _require_admin(s, organizer_id, actor_id)
        row = await _endpoint(s, organizer_id, endpoint_id)
        detail = f"endpoint {row.id}: {host_of(row.url)}"
        # Explicitly, not only by the foreign key's cascade: the log goes with the endpoint.
        await s.execute(
            WebhookDelivery.__table__.delete().where(WebhookDelivery.endpoint_id == row.id)  # type: ignore[attr-defined]
        )
        await s.delete(row)
        audit.add(s, "webhook.deleted", actor_id=actor_id, organizer_id=organizer_id, detail=detail)
        await uow.commit()


def _delivery(d: WebhookDelivery) -> Delivery:
    return Delivery(
        id=d.id,
        endpoint_id=d.endpoint_id,
        event_id=d.event_id,
        webhook_id=message_id(d.event_id, d.id),
        event_type=d.event_type,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )


async def list_deliveries(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> DeliveryPage:
    """An endpoint's delivery log, newest first, optionally one status; pages by cursor."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        await _endpoint(s, organizer_id, endpoint_id)
        q = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        if status is not None:
            q = q.where(WebhookDelivery.status == status)
        if cursor is not None:
            at, last = decode_cursor(cursor, datetime, uuid.UUID)
            q = q.where(
                or_(
                    WebhookDelivery.created_at < at,
                    and_(WebhookDelivery.created_at == at, WebhookDelivery.id < last),
                )
            )
        q = q.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(
            limit + 1
        )
        rows = list((await s.execute(q)).scalars().all())
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return DeliveryPage([_delivery(r) for r in rows], nxt)


async def replay(
    db: Database,
    *,
    organizer_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    delivery_id: uuid.UUID,
) -> Delivery:
    """Send a delivery again: pending now, a fresh retry schedule, the same ``webhook-id``
    and body. ``organizer_id`` None: the command line, for any organizer. Audited."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        row = await s.get(WebhookDelivery, delivery_id)
        if row is None or (organizer_id is not None and row.organizer_id != organizer_id):
            raise NotFound("No such webhook delivery")
        await _require_admin(s, row.organizer_id, actor_id)
        endpoint = await _endpoint(s, row.organizer_id, row.endpoint_id)
        if not endpoint.enabled:
            raise WebhookEndpointDisabled()
        row.status = "pending"
        row.attempts = 0
        row.next_attempt_at = utcnow()
        row.delivered_at = None
        audit.add(
            s,
            "webhook.replayed",
            actor_id=actor_id,
            organizer_id=row.organizer_id,
            detail=f"delivery {row.id} (webhook-id {message_id(row.event_id, row.id)})",
        )
        await s.flush()
        view = _delivery(row)
        await uow.commit()
    poke_senders()
    return view


async def ping(
    db: Database, *, organizer_id: uuid.UUID, actor_id: uuid.UUID | None, endpoint_id: uuid.UUID
) -> Delivery:
    """Queue a test delivery (type ``webhook.ping``) to one endpoint."""
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _require_admin(s, organizer_id, actor_id)
        endpoint = await _endpoint(s, organizer_id, endpoint_id)
        if not endpoint.enabled:
            raise WebhookEndpointDisabled()
        body = msgspec.json.encode(
            {"type": PING, "timestamp": now.isoformat(), "data": {"endpoint_id": str(endpoint.id)}}
        ).decode()
        row = WebhookDelivery(
            endpoint_id=endpoint.id,
            organizer_id=organizer_id,
            event_id=None,
            event_type=PING,
            body=body,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        s.add(row)
        await s.flush()
        view = _delivery(row)
        await uow.commit()
    poke_senders()
    return view


# Finished deliveries (their bodies hold wallet ids and balances) are deleted by the retention
# prune (payments.people.retention) after WALLET_RETENTION_WEBHOOK_DELIVERIES_DAYS; pending ones
# stay until sent or given up.


# --- enqueue: in the dispatcher's round ----------------------------------------------------

_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_DELIVERIES = cast(Table, WebhookDelivery.__table__)


def _enabled_of(dialect: Dialect) -> tuple[BatchRows, Any]:
    orgs = BatchRows(dialect, "orgs", id=Uuid())
    return orgs, select(_ENDPOINTS.c.id, _ENDPOINTS.c.organizer_id, _ENDPOINTS.c.event_types).where(
        orgs.has(_ENDPOINTS.c.organizer_id), _ENDPOINTS.c.enabled.is_(True)
    )


_ENABLED_OF = PerEngine(_enabled_of)
_INSERT = {
    "postgresql": pg_insert(_DELIVERIES).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_id"]
    ),
    "sqlite": sqlite_insert(_DELIVERIES).on_conflict_do_nothing(
        index_elements=["endpoint_id", "event_id"]
    ),
}


async def enqueue(session: AsyncSession, events: Sequence[ev.Event], now: datetime) -> int:
    """In the caller's transaction (the dispatcher's round): one pending delivery per event and
    enabled endpoint of the event's organizer that subscribed to its type. Idempotent per
    (endpoint, event). One indexed query when no organizer in the round has endpoints."""
    if not events:
        return 0
    orgs = list({e.organizer_id for e in events})
    endpoints = (await session.execute(*with_list(session, _ENABLED_OF, orgs))).all()
    if not endpoints:
        return 0
    by_org: dict[uuid.UUID, list[tuple[uuid.UUID, frozenset[str]]]] = {}
    for endpoint_id, organizer_id, types in endpoints:
        by_org.setdefault(organizer_id, []).append((endpoint_id, frozenset(types or ())))
    rows = []
    for e in events:
        wanted = [eid for eid, types in by_org.get(e.organizer_id, ()) if e.type in types]
        if not wanted:
            continue
        body = body_of(e)
        for endpoint_id in wanted:
            rows.append(
                {
                    "id": new_id(),
                    "endpoint_id": endpoint_id,
                    "organizer_id": e.organizer_id,
                    "event_id": e.id,
                    "event_type": e.type,
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    if rows:
        dialect = session.get_bind().dialect.name
        await session.execute(_INSERT["postgresql" if dialect == "postgresql" else "sqlite"], rows)
    return len(rows)


# --- the sender ----------------------------------------------------------------------------

_senders: set[WebhookSender] = set()


def poke_senders() -> None:
    """Wake this process's senders: something is due now."""
    for sender in list(_senders):
        sender.poke()


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    endpoint_id: uuid.UUID
    organizer_id: uuid.UUID
    event_id: int | None
    body: str
    attempts: int
    url: str
    secret: str


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: ``status`` 0 is a network failure or a timeout."""

    status: int
    error: str | None = None
    retry_after: str | None = None


class WebhookSender(PollingSender):
    """Claims due deliveries and sends them through ``http`` (the process's
    ``OutboundClient``; without one, ``start`` opens its own and ``stop`` closes it)."""

    def __init__(
        self,
        db: Database,
        *,
        http: OutboundClient | None = None,
        policy: OutboundPolicy | None = None,
        poll_s: float = 1.0,
        batch: int = 20,
        concurrency: int = 8,
        schedule: Sequence[float] = BACKOFF_S,
        lease_s: float = LEASE_S,
        rnd: random.Random | None = None,
    ) -> None:
        self.db = db
        self.http = http
        self.policy = http.policy if http is not None else (policy or OutboundPolicy())
        self._own_http = False
        self.poll_s = poll_s
        self.batch = batch
        self.schedule = tuple(schedule)
        self.max_attempts = len(self.schedule) + 1
        self.lease_s = lease_s
        self.rnd = rnd or random.Random()
        self._limit = asyncio.Semaphore(concurrency)
        self.sent = 0
        self.failed = 0
        self.retried = 0

    def start(self) -> None:
        if self.http is None:
            self.http = OutboundClient(self.policy, timeout_s=TIMEOUT_S)
            self._own_http = True
        _senders.add(self)
        self.start_polling()

    async def stop(self) -> None:
        _senders.discard(self)
        await self.stop_polling()
        if self._own_http and self.http is not None:
            await self.http.close()
            self.http, self._own_http = None, False

    async def run_once(self) -> int:
        """Claim a batch of due deliveries, send them, record each outcome. Returns how many
        were attempted."""
        claimed = await self._claim()
        if claimed:
            await asyncio.gather(*(self._deliver(c) for c in claimed))
        return len(claimed)

    async def _claim(self) -> list[_Claimed]:
        now = utcnow()
        q = (
            select(
                WebhookDelivery.id,
                WebhookDelivery.endpoint_id,
                WebhookDelivery.organizer_id,
                WebhookDelivery.event_id,
                WebhookDelivery.body,
                WebhookDelivery.attempts,
                WebhookEndpoint.url,
                WebhookEndpoint.secret,
            )
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                WebhookEndpoint.enabled.is_(True),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(self.batch)
        )
        # A read first: most polls find nothing due, and on SQLite a write transaction would
        # take the one write lock (which money movements wait for) every second for nothing.
        async with UnitOfWork(self.db, readonly=True) as uow:
            if (await uow.session.execute(q.limit(1))).first() is None:
                return []
        if self.db.is_postgres:
            q = q.with_for_update(skip_locked=True, of=WebhookDelivery)
        async with UnitOfWork(self.db) as uow:
            s = uow.session
            rows = [_Claimed(*r) for r in (await s.execute(q)).all()]
            if not rows:
                return []
            await s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([r.id for r in rows]))
                .values(next_attempt_at=now + timedelta(seconds=self.lease_s))
            )
            await uow.commit()
        return rows

    async def post(self, url: str, secret: str, msg_id: str, body: str) -> Attempt:
        """One signed POST through the outbound client. Raises ``UrlNotAllowed``."""
        http = self.http
        if http is None:
            raise RuntimeError("WebhookSender.start() was not called")
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signed_headers(secret, msg_id, utcnow(), body),
        }
        try:
            resp = await http.post(url, data=body.encode(), headers=headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            what = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            return Attempt(0, f"network: {what}"[:200])
        try:
            return Attempt(resp.status, None, resp.headers.get("Retry-After"))
        finally:
            resp.release()

    async def _deliver(self, c: _Claimed) -> None:
        msg_id = message_id(c.event_id, c.id)
        try:
            async with self._limit:
                result = await self.post(c.url, c.secret, msg_id, c.body)
        except UrlNotAllowed as exc:
            await self._refused(c, exc)
            return
        await self._record(c, result)

    async def _record(self, c: _Claimed, result: Attempt) -> None:
        now = utcnow()
        attempts = c.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_status_code": result.status or None}
        if 200 <= result.status < 300:
            self.sent += 1
            values.update(
                status="succeeded", delivered_at=now, next_attempt_at=None, last_error=None
            )
        else:
            error = result.error or f"HTTP {result.status}"
            retryable = result.status in (0, 429) or result.status >= 500
            delay = next_delay(attempts, self.rnd, schedule=self.schedule) if retryable else None
            if delay is not None and result.retry_after and result.retry_after.isdigit():
                delay = max(delay, min(float(result.retry_after), self.schedule[-1]))
            if delay is None:
                self.failed += 1
                if retryable:
                    error = f"{error}; gave up after {attempts} attempts"
                values.update(status="failed", next_attempt_at=None, last_error=error[:200])
                log.warning("webhook delivery %s failed: %s", c.id, error)
            else:
                self.retried += 1
                values.update(
                    next_attempt_at=now + timedelta(seconds=delay), last_error=error[:200]
                )
        async with UnitOfWork(self.db) as uow:
            await uow.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == c.id, WebhookDelivery.status == "pending")
                .values(**values)
            )
            await uow.commit()

    async def _refused(self, c: _Claimed, exc: UrlNotAllowed) -> None:
        """The outbound policy refused the endpoint's address at send time (a name that now
        resolves inside a network): fail this delivery and disable the endpoint, with the
        reason, in one transaction (audited)."""
        self.failed += 1
        host = exc.host or host_of(c.url) or "?"
        reason = f"{host}: {exc.reason}"[:200]
        log.warning(
            "webhook endpoint %s disabled by the outbound policy: %s", c.endpoint_id, reason
        )
        async with UnitOfWork(self.db) as uow:
            s = uow.session
            await s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == c.id)
                .values(
                    status="failed",
                    attempts=c.attempts + 1,
                    next_attempt_at=None,
                    last_status_code=None,
                    last_error=f"refused by the outbound policy: {reason}"[:200],
                )
            )
            disabled = await s.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == c.endpoint_id, WebhookEndpoint.enabled.is_(True))
                .values(enabled=False, disabled_reason=reason)
            )
            if disabled.rowcount:  # type: ignore[attr-defined]
                audit.add(
                    s,
                    "webhook.disabled",
                    actor_id=None,
                    organizer_id=c.organizer_id,
                    detail=f"endpoint {c.endpoint_id}: {reason}",
                )
            await uow.commit()
