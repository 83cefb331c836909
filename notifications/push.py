"""Web Push: VAPID keys, device subscriptions, notification payloads and the sender.

Pushes are sent with pywebpush's async API (``webpush_async``) on the event loop, through one
``OutboundClient`` (an aiohttp session) per process: the live machinery opens it when it
starts and closes it when it stops, and connections to a push service are reused. A 404 or
410 from the push service means the subscription is gone, so it is deleted; 429, 5xx, network
errors and timeouts are retried with exponential backoff (honouring ``Retry-After``). Each
notification's ``tag`` is its event id, so a duplicate delivery (the outbox is at-least-once)
replaces the first notification instead of showing twice.

Endpoints are URLs that a person chose, so the server calls them only as the outbound policy
(``notifications.outbound``) allows: checked when registered and again when sent, through a
client that connects only to the checked address, follows no redirect and times out. A push
the policy refuses at send time is logged and audited and its subscription deleted, as for a
410: a public push service never resolves to an inside address, so it is not tried again. A
3xx is a failed delivery. A person has at most ``MAX_DEVICES`` subscriptions, and an endpoint
stays with the person who registered it first.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from notifications import events as ev
from notifications.models import PushSubscription
from notifications.outbound import (
    PRINTABLE_URL,
    OutboundClient,
    OutboundPolicy,
    UrlNotAllowed,
    host_of,
)
from notifications.rules import Follower, Preferences, preferences_of, wallet_followers
from payments.clock import utcnow
from payments.db import Database
from payments.errors import Conflict, InvalidInput
from payments.models import AuditEvent, Principal
from payments.outbox import (
    BALANCE_LOW,
    CHARGE_CAPTURED,
    ENVELOPE_FUNDED,
    PAYMENT_APPROVED,
    PAYMENT_DECLINED,
    PAYMENT_EXPIRED,
    PAYMENT_REQUESTED,
    REFUND_CREATED,
    REMAINDER_EXPIRED,
    STATEMENT_READY,
)
from payments.uow import UnitOfWork

log = logging.getLogger("wallet.push")

# (TTL seconds, urgency) per type: a payment request is useless after its time limit; a
# monthly top-up can wait for the phone to wake up.
DELIVERY: dict[str, tuple[int, str]] = {
    PAYMENT_REQUESTED: (600, "high"),
    PAYMENT_APPROVED: (600, "high"),
    PAYMENT_DECLINED: (600, "high"),
    PAYMENT_EXPIRED: (3600, "normal"),
    CHARGE_CAPTURED: (86_400, "normal"),
    REFUND_CREATED: (86_400, "normal"),
    BALANCE_LOW: (3 * 86_400, "normal"),
    ENVELOPE_FUNDED: (7 * 86_400, "low"),
    REMAINDER_EXPIRED: (7 * 86_400, "low"),
    STATEMENT_READY: (7 * 86_400, "low"),
}
PROVIDER_TYPES = frozenset({PAYMENT_APPROVED, PAYMENT_DECLINED, PAYMENT_EXPIRED})

TEXT: dict[str, dict[str, str]] = {
    "fi": {
        CHARGE_CAPTURED: "Maksu",
        REFUND_CREATED: "Palautus",
        BALANCE_LOW: "Budjetti vähissä",
        PAYMENT_REQUESTED: "Maksupyyntö",
        PAYMENT_APPROVED: "Maksu hyväksytty",
        PAYMENT_DECLINED: "Maksu hylätty",
        PAYMENT_EXPIRED: "Maksupyyntö vanheni",
        ENVELOPE_FUNDED: "Kuukauden budjetti",
        REMAINDER_EXPIRED: "Käyttämätön raha vanheni",
        STATEMENT_READY: "Kuukausiote on valmis",
        "remaining": "Jäljellä",
        "approve": "Hyväksy",
        "decline": "Hylkää",
        "other": "Budjetti",
    },
    "sv": {
        CHARGE_CAPTURED: "Betalning",
        REFUND_CREATED: "Återbetalning",
        BALANCE_LOW: "Budgeten tar snart slut",
        PAYMENT_REQUESTED: "Betalningsbegäran",
        PAYMENT_APPROVED: "Betalningen godkänd",
        PAYMENT_DECLINED: "Betalningen avslagen",
        PAYMENT_EXPIRED: "Betalningsbegäran gick ut",
        ENVELOPE_FUNDED: "Månadens budget",
        REMAINDER_EXPIRED: "Förra månadens rest återfördes",
        STATEMENT_READY: "Månadsutdraget är klart",
        "remaining": "Kvar",
        "approve": "Godkänn",
        "decline": "Avslå",
        "other": "Budget",
    },
    "en": {
        CHARGE_CAPTURED: "Payment",
        REFUND_CREATED: "Refund",
        BALANCE_LOW: "Budget running low",
        PAYMENT_REQUESTED: "Payment request",
        PAYMENT_APPROVED: "Payment approved",
        PAYMENT_DECLINED: "Payment declined",
        PAYMENT_EXPIRED: "Payment request expired",
        ENVELOPE_FUNDED: "This month's budget",
        REMAINDER_EXPIRED: "Last month's remainder returned",
        STATEMENT_READY: "Your monthly statement is ready",
        "remaining": "Left",
        "approve": "Approve",
        "decline": "Decline",
        "other": "Budget",
    },
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generate_vapid_keys() -> tuple[str, str]:
    """A new VAPID pair: (private key as base64url of the raw 32-byte scalar, public key as
    base64url of the uncompressed P-256 point, which browsers take as applicationServerKey)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = _b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    public = _b64url(
        key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )
    return private, public


def euros(cents: int, language: str) -> str:
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    if language == "en":
        return f"{sign}€{whole:,}.{part:02d}"
    return sign + f"{whole:,}".replace(",", "\u00a0") + f",{part:02d}\u00a0€"


def _amount(event: ev.Event) -> int | None:
    for k in ("total_cents", "amount_cents"):
        v = event.data.get(k)
        if isinstance(v, int):
            return v
    return None


def _remaining(event: ev.Event) -> int | None:
    balances = event.data.get("balances")
    if isinstance(balances, dict) and balances:
        return sum(int(v) for v in balances.values())
    v = event.data.get("balance_cents")
    return int(v) if isinstance(v, int) else None


def build_payload(event: ev.Event, prefs: Preferences, *, can_approve: bool) -> dict[str, Any]:
    """The JSON a service worker shows: who, what, amount and remaining balance (the amounts
    left out when the person hides amounts on the lock screen), and actions for requests."""
    t = TEXT.get(prefs.language, TEXT["fi"])
    title = t.get(event.type, t["other"])
    who = event.data.get("provider_name")
    amount, remaining = _amount(event), _remaining(event)
    payload: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "tag": f"wallet-event-{event.id}",
        "title": title,
        "lang": prefs.language,
        "wallet_id": str(event.wallet_id) if event.wallet_id else None,
        "url": f"/?wallet={event.wallet_id}" if event.wallet_id else "/",
        "who": who,
        "what": event.type,
    }
    parts = [str(who)] if who else []
    if not prefs.hide_amounts:
        payload["amount_cents"] = amount
        payload["remaining_cents"] = remaining
        if amount is not None:
            parts.append(euros(amount, prefs.language))
        if remaining is not None:
            parts.append(f"{t['remaining']} {euros(remaining, prefs.language)}")
    payload["body"] = " · ".join(parts) if parts else title
    if event.type == PAYMENT_REQUESTED:
        payload["request_id"] = event.data.get("request_id") or event.data.get("id")
        if can_approve:
            payload["actions"] = [
                {"action": "approve", "title": t["approve"]},
                {"action": "decline", "title": t["decline"]},
            ]
    return payload


# --- subscriptions -------------------------------------------------------------------------

# A person's devices (phone, tablet, a browser or two) fit well within this; it bounds what
# one account can make the server send, and the rows one account can write.
MAX_DEVICES = 10
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class PushDeviceLimit(Conflict):
    slug = "push-device-limit"
    title = "Notifications are already on in too many devices; turn them off in one first"


class PushEndpointTaken(Conflict):
    """Says only that the endpoint is registered to someone else, never to whom."""

    slug = "push-endpoint-taken"
    title = "Notifications on this device belong to another account"


def _check_key(name: str, value: str, size: int) -> None:
    if not _BASE64URL.fullmatch(value):
        raise InvalidInput(f"keys.{name} must be base64url")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as exc:  # e.g. a length no base64 has
        raise InvalidInput(f"keys.{name} must be base64url") from exc
    if len(raw) != size:
        raise InvalidInput(f"keys.{name} must be {size} bytes")


async def subscribe(
    db: Database,
    principal_id: uuid.UUID,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    policy: OutboundPolicy,
) -> uuid.UUID:
    """Store a device's subscription for a person.

    The endpoint must pass the outbound policy. The same person registering the same endpoint
    again updates its keys (same row); another person gets ``PushEndpointTaken``; a person's
    eleventh device gets ``PushDeviceLimit``. Registrations of one person take turns on their
    principal row (SQLite: the write lock), so parallel ones cannot pass the cap together.
    """
    try:
        policy.check_url(endpoint)
    except UrlNotAllowed as exc:
        log.warning("push endpoint refused for %s: %s", principal_id, exc.detail)
        raise
    _check_key("p256dh", p256dh, 65)
    _check_key("auth", auth, 16)
    for attempt in range(2):
        try:
            return await _store_subscription(db, principal_id, endpoint, p256dh, auth)
        except IntegrityError:
            # Someone inserted the same endpoint between our look-up and insert: look again,
            # and that row's owner decides.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def _store_subscription(
    db: Database, principal_id: uuid.UUID, endpoint: str, p256dh: str, auth: str
) -> uuid.UUID:
    async with UnitOfWork(db) as uow:
        s = uow.session
        await s.execute(select(Principal.id).where(Principal.id == principal_id).with_for_update())
        existing = (
            await s.execute(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
        ).scalar_one_or_none()
        if existing is not None:
            if existing.principal_id != principal_id:
                raise PushEndpointTaken()
            existing.p256dh, existing.auth = p256dh, auth
            sub_id = existing.id
        else:
            count = (
                await s.execute(
                    select(func.count())
                    .select_from(PushSubscription)
                    .where(PushSubscription.principal_id == principal_id)
                )
            ).scalar_one()
            if count >= MAX_DEVICES:
                raise PushDeviceLimit(
                    f"Notifications are on in {count} devices, the most one person may have",
                    limit=MAX_DEVICES,
                )
            sub = PushSubscription(
                principal_id=principal_id,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                created_at=utcnow(),
            )
            s.add(sub)
            await s.flush()
            sub_id = sub.id
        await uow.commit()
    return sub_id


async def unsubscribe(db: Database, principal_id: uuid.UUID, endpoint: str) -> bool:
    """Forget one of the person's devices. False if it was not theirs or not known."""
    if not PRINTABLE_URL.fullmatch(endpoint):
        # No stored endpoint has these (the policy refuses them), and NUL would not even
        # reach PostgreSQL: refuse instead of looking.
        raise InvalidInput("endpoint has spaces, control or non-ASCII characters")
    async with UnitOfWork(db) as uow:
        result = await uow.session.execute(
            delete(PushSubscription).where(
                PushSubscription.endpoint == endpoint, PushSubscription.principal_id == principal_id
            )
        )
        await uow.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- sending -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VapidConfig:
    private_key: str
    public_key: str
    subject: str


@dataclass(frozen=True)
class Delivery:
    subscription_id: uuid.UUID
    principal_id: uuid.UUID
    info: dict[str, Any]
    payload: bytes
    ttl: int
    urgency: str


class PushSender:
    """Receives delivered events, works out who wants them, and sends them through ``http``
    (the process's ``OutboundClient``; without one, ``start`` opens its own and ``stop``
    closes it)."""

    def __init__(
        self,
        db: Database,
        vapid: VapidConfig,
        *,
        workers: int = 4,
        max_attempts: int = 5,
        base_delay_s: float = 1.0,
        timeout_s: float = 10.0,
        queue_size: int = 10_000,
        policy: OutboundPolicy | None = None,
        http: OutboundClient | None = None,
    ) -> None:
        from py_vapid import Vapid02

        self.db = db
        self.vapid = vapid
        self.policy = http.policy if http is not None else (policy or OutboundPolicy())
        self.http = http
        self._own_http = False
        self._signer = Vapid02.from_string(vapid.private_key)
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.timeout_s = timeout_s
        self._queue: asyncio.Queue[ev.Event] = asyncio.Queue(maxsize=queue_size)
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(16)
        self.sent = 0
        self.removed = 0
        self.refused = 0
        # Deliveries that ended without reaching the device (a redirect, a refusal, retries
        # exhausted): read by wallet_api.metrics as wallet_pushes_total{result="failed"}.
        self.failed = 0

    def enqueue(self, event: ev.Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            # The app still has the event over SSE and in its history; a push is a courtesy.
            log.warning("push queue full; dropping push for event %s", event.id)

    def start(self) -> None:
        """Start the workers (in a running event loop)."""
        if self.http is None:
            self.http = OutboundClient(self.policy, timeout_s=self.timeout_s)
            self._own_http = True
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        for t in [*self._tasks, *self._sends]:
            t.cancel()
        for t in [*self._tasks, *self._sends]:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        if self._own_http and self.http is not None:
            await self.http.close()
            self.http, self._own_http = None, False

    async def idle(self) -> None:
        """Wait until queued events and their sends (with retries) are done (tests)."""
        await self._queue.join()
        while self._sends:
            await asyncio.gather(*list(self._sends), return_exceptions=True)

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                for d in await self.deliveries(event):
                    task = asyncio.create_task(self._send(d))
                    self._sends.add(task)
                    task.add_done_callback(self._sends.discard)
            except Exception:
                log.exception("push for event %s failed", event.id)
            finally:
                self._queue.task_done()

    async def deliveries(self, event: ev.Event) -> list[Delivery]:
        """Who gets this event pushed, on which devices, with which payload."""
        ttl, urgency = DELIVERY.get(event.type, (86_400, "normal"))
        async with UnitOfWork(self.db, readonly=True) as uow:
            s = uow.session
            recipients: list[Follower] = []
            if event.type == BALANCE_LOW:
                target = event.data.get("principal_id")
                if target:
                    recipients = [Follower(uuid.UUID(target), "person", False)]
            elif event.wallet_id is not None:
                recipients = await wallet_followers(s, event.wallet_id)
            if event.type in PROVIDER_TYPES and event.provider_id is not None:
                staff = await s.execute(
                    select(Principal.id).where(
                        Principal.provider_id == event.provider_id, Principal.role == "provider"
                    )
                )
                recipients += [Follower(p, "provider", False) for p in staff.scalars().all()]
            if not recipients:
                return []
            prefs = await preferences_of(s, {r.principal_id for r in recipients})
            wanted = [r for r in recipients if prefs[r.principal_id].wants(event.type)]
            if not wanted:
                return []
            subs = (
                (
                    await s.execute(
                        select(PushSubscription).where(
                            PushSubscription.principal_id.in_({r.principal_id for r in wanted})
                        )
                    )
                )
                .scalars()
                .all()
            )
        by_person: dict[uuid.UUID, list[PushSubscription]] = {}
        for sub in subs:
            by_person.setdefault(sub.principal_id, []).append(sub)
        out = []
        for r in wanted:
            body = build_payload(event, prefs[r.principal_id], can_approve=r.can_approve)
            if r.role == "provider":
                body.pop("remaining_cents", None)
            data = msgspec.json.encode(body)
            for sub in by_person.get(r.principal_id, []):
                info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
                out.append(Delivery(sub.id, sub.principal_id, info, data, ttl, urgency))
        return out

    async def _post(self, d: Delivery) -> tuple[int, str | None]:
        """Encrypt (RFC 8291 aes128gcm), sign (VAPID) and POST through the process's
        ``OutboundClient``. Raises ``UrlNotAllowed`` if the policy refuses. Status 0 is a
        network failure or a timeout (retried)."""
        from pywebpush import WebPushException, webpush_async

        http = self.http
        if http is None:
            raise RuntimeError("PushSender.start() was not called")
        try:
            resp = await webpush_async(
                d.info,
                data=d.payload,
                vapid_private_key=self._signer,
                vapid_claims={"sub": self.vapid.subject},
                ttl=d.ttl,
                headers={"Urgency": d.urgency},
                content_encoding="aes128gcm",
                timeout=self.timeout_s,  # the client's own deadline applies whatever this is
                aiohttp_session=http,  # duck-typed: its post() keeps the policy
            )
        except WebPushException as exc:
            status = exc.status_code
            if status is None:
                return 0, None
            return int(status), exc.retry_after
        except (aiohttp.ClientError, TimeoutError):
            return 0, None
        return int(resp.status), None

    async def _send(self, d: Delivery) -> None:
        for attempt in range(self.max_attempts):
            try:
                async with self._limit:
                    status, retry_after = await self._post(d)
            except UrlNotAllowed as exc:
                await self._refuse(d, exc)
                return
            if 200 <= status < 300:
                self.sent += 1
                await self._touch(d.subscription_id)
                return
            if status in (404, 410):
                self.removed += 1
                await self._forget(d.subscription_id)
                return
            if 300 <= status < 400:
                # Not followed (the policy's session never does): a failed delivery.
                log.warning("push service answered %s (a redirect); not followed", status)
                self.failed += 1
                return
            if status == 429 or status >= 500 or status == 0:
                delay = self.base_delay_s * (2**attempt)
                if retry_after and retry_after.isdigit():
                    delay = max(delay, min(float(retry_after), 300.0))
                await asyncio.sleep(delay)
                continue
            log.warning("push refused with %s; not retrying", status)
            self.failed += 1
            return
        log.warning("push gave up after %s attempts", self.max_attempts)
        self.failed += 1

    async def _refuse(self, d: Delivery, exc: UrlNotAllowed) -> None:
        """The outbound policy refused the endpoint at send time (a row from before the
        policy, or a name that now resolves inside): log, audit, and delete the row so the
        next event does not try it again. Only the host is recorded: the path is the
        device's secret."""
        self.refused += 1
        host = exc.host or host_of(str(d.info.get("endpoint", ""))) or "?"
        detail = f"subscription {d.subscription_id}: {host}: {exc.reason}"
        log.warning("push refused by the outbound policy, subscription deleted: %s", detail)
        async with UnitOfWork(self.db) as uow:
            s = uow.session
            gone = await s.execute(
                delete(PushSubscription).where(PushSubscription.id == d.subscription_id)
            )
            if gone.rowcount:  # type: ignore[attr-defined]
                # In the same transaction: the row is never gone without its audit entry.
                # Once per row, however many events were on their way to it.
                organizer_id = (
                    await s.execute(
                        select(Principal.organizer_id).where(Principal.id == d.principal_id)
                    )
                ).scalar_one_or_none()
                await s.execute(
                    insert(AuditEvent).values(
                        action="push.endpoint_refused",
                        actor_id=None,
                        organizer_id=organizer_id,
                        detail=detail,
                        created_at=utcnow(),
                    )
                )
            await uow.commit()

    async def _forget(self, subscription_id: uuid.UUID) -> None:
        async with UnitOfWork(self.db) as uow:
            await uow.session.execute(
                delete(PushSubscription).where(PushSubscription.id == subscription_id)
            )
            await uow.commit()

    async def _touch(self, subscription_id: uuid.UUID) -> None:
        async with UnitOfWork(self.db) as uow:
            await uow.session.execute(
                update(PushSubscription)
                .where(PushSubscription.id == subscription_id)
                .values(last_success_at=utcnow())
            )
            await uow.commit()
