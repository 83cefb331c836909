"""SMS (issue 20): receipts and alerts to a basic phone, approval of a payment request by reply,
and the balance by ``SALDO``.

**Opt-in.** A case manager turns SMS on for a client's wallet: the client's own number or a
carer's, a language and the events wanted (:data:`SMS_EVENTS`). A six-digit code goes to the
number at once; nothing else is sent until the code comes back: replied from that number, told
to the case manager, or typed in the app (:func:`confirm`). Five wrong codes or 15 minutes end
it.

**Codes are never stored readable.** A code is derived when its text is sent:
HMAC-SHA256 of the code's reference under a key derived from ``WALLET_SMS_INBOUND_SECRET``
(:func:`derive_code`); the database holds only ``sha256(row id : code)``, and the text waiting
to be sent holds ``{code}``.

**Delivery** is a webhook delivery's twin (``notifications.webhooks``): the dispatcher's round
calls :func:`enqueue`, which writes one ``sms_messages`` row per (confirmed opt-in that wants
the event, event) with ``ON CONFLICT DO NOTHING``; :class:`SmsSender` claims due rows with a
lease, sends them through the gateway and the process's ``OutboundClient``, retries network
errors, 429 and 5xx with backoff, and gives up after :data:`MAX_ATTEMPTS`. Before a text's
first attempt the organizer's monthly cap is checked and counted in one conditional upsert
(``sms_usage``); a text over the cap is ``refused`` and counted as such.

**Approval by reply.** A payment request's text carries a four-digit one-time code, bound to
the request and the opt-in (its number), expiring with the request. :func:`handle_inbound`
takes the reply (``KYLLÄ/JA/YES`` or ``EI/NEJ/NO`` and the code, or ``SALDO``): limited per
number, then it approves or declines through ``payments.checkout.requests`` exactly as the app
does, as the opt-in's person, only if the number is opted in and confirmed, the code is theirs
and unused, and the request still valid. Every refusal is audited and (except for an unknown
number, which gets nothing, so no one can make us text strangers) answered with a helpful text.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import hmac
import logging
import random
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifications import events as ev
from notifications.models import (
    SMS_EVENTS,
    SmsBudget,
    SmsMessage,
    SmsOptIn,
    SmsReplyCode,
    SmsUsage,
)
from notifications.outbound import OutboundClient, UrlNotAllowed
from notifications.polling import PollingSender
from notifications.rules import followers_of
from notifications.sms_gateway import GatewayAnswer, SmsGateway
from notifications.sms_texts import LANGUAGES, clock, money, render
from payments.checkout import requests as payment_requests
from payments.clock import utcnow
from payments.db import Database
from payments.errors import ClientClosed, DomainError, InvalidInput, NotFound, Refusal
from payments.ledger.periods import HELSINKI, period_of
from payments.models import Account, Client, Mandate, Principal, Wallet, new_id
from payments.outbox import (
    BALANCE_LOW,
    CHARGE_CAPTURED,
    ENVELOPE_FUNDED,
    PAYMENT_REQUESTED,
    REFUND_CREATED,
    STATEMENT_READY,
)
from payments.people import audit, ratelimits
from payments.people.mandates import mandate_scopes, scopes_of
from payments.people.phones import to_e164
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, Role

log = logging.getLogger("wallet.sms")

# Which outbox event each SMS event choice hears.
EVENT_OF = {
    CHARGE_CAPTURED: "receipt",
    REFUND_CREATED: "refund",
    PAYMENT_REQUESTED: "request",
    BALANCE_LOW: "low_balance",
    STATEMENT_READY: "statement",
    ENVELOPE_FUNDED: "funding",
}
BACKOFF_S: tuple[float, ...] = (5, 30, 120, 600, 3600)
MAX_ATTEMPTS = len(BACKOFF_S) + 1
LEASE_S = 60.0
CONFIRM_TTL = timedelta(minutes=15)
CONFIRM_ATTEMPTS = 5
CONFIRM_DIGITS = 6
REPLY_DIGITS = 4
YES = frozenset({"KYLLÄ", "KYLLA", "JA", "YES"})
NO = frozenset({"EI", "NEJ", "NO"})
BALANCE_WORDS = frozenset({"SALDO", "BALANCE"})
_REPLY = re.compile(r"^\s*([A-ZÄÖÅ]+)\s*[:.,-]?\s*([0-9]{4})\s*[.!]?\s*$")


class SmsNotConfigured(DomainError):
    kind = Refusal.CONFLICT
    slug = "sms-not-configured"
    title = "SMS is not set up on this server"


class SmsCodeWrong(InvalidInput):
    slug = "sms-code-wrong"
    title = "The confirmation code does not match"


@dataclass(frozen=True)
class SmsConfig:
    """What the SMS feature needs, built from the settings."""

    gateway: SmsGateway
    inbound_secret: str
    monthly_cap: int
    reply_limit: int = 10
    reply_window_s: int = 3600

    @property
    def key(self) -> bytes:
        return hmac.new(self.inbound_secret.encode(), b"wallet-sms-codes", "sha256").digest()


def derive_code(key: bytes, ref: str, digits: int) -> str:
    """The code of reference ``ref``: the same whenever it is derived under ``key``."""
    n = int.from_bytes(hmac.new(key, ref.encode(), "sha256").digest()[:8], "big")
    return f"{n % 10**digits:0{digits}d}"


def code_hash(row_id: uuid.UUID, code: str) -> str:
    return hashlib.sha256(f"{row_id}:{code}".encode()).hexdigest()


async def _client_of(s: AsyncSession, wallet_id: uuid.UUID) -> uuid.UUID | None:
    """The client whose wallet it is: audit entries name them, so the client's own audit view
    and the case manager's filter by client show them."""
    wallet = await s.get(Wallet, wallet_id)
    return None if wallet is None else wallet.client_id


def _masked(phone: str) -> str:
    """A number as the audit trail shows it: enough to tell two apart, not to call."""
    return phone[:4] + "…" + phone[-3:] if len(phone) > 7 else "…"


# --- opt-in: the case manager's and the client's use cases -----------------------------------


@dataclass(frozen=True)
class OptIn:
    id: uuid.UUID
    wallet_id: uuid.UUID
    principal_id: uuid.UUID
    phone: str
    language: str
    events: list[str]
    confirmed: bool
    code_expires_at: datetime | None
    created_at: datetime


def _view(o: SmsOptIn) -> OptIn:
    return OptIn(
        id=o.id,
        wallet_id=o.wallet_id,
        principal_id=o.principal_id,
        phone=o.phone_e164,
        language=o.language,
        events=list(o.events),
        confirmed=o.confirmed_at is not None,
        code_expires_at=o.code_expires_at if o.confirmed_at is None else None,
        created_at=o.created_at,
    )


def check_events(events: Iterable[str]) -> list[str]:
    wanted = list(events)
    unknown = sorted(set(wanted) - set(SMS_EVENTS))
    if unknown:
        raise InvalidInput(f"Unknown SMS events: {', '.join(unknown)}", known=list(SMS_EVENTS))
    return [e for e in SMS_EVENTS if e in wanted]


def _confirm_ref(o: SmsOptIn) -> str:
    assert o.code_expires_at is not None
    return f"confirm:{o.id}:{int(o.code_expires_at.timestamp())}"


def _new_message(
    o: SmsOptIn, kind: str, body: str, now: datetime, *, code_ref: str | None = None
) -> SmsMessage:
    return SmsMessage(
        id=new_id(),
        organizer_id=o.organizer_id,
        optin_id=o.id,
        event_id=None,
        kind=kind,
        phone_e164=o.phone_e164,
        body=body,
        code_ref=code_ref,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def _issue_code(config: SmsConfig, o: SmsOptIn, now: datetime) -> SmsMessage:
    o.code_expires_at = now + CONFIRM_TTL
    o.code_attempts = 0
    ref = _confirm_ref(o)
    o.code_hash = code_hash(o.id, derive_code(config.key, ref, CONFIRM_DIGITS))
    return _new_message(o, "confirm", render("confirm", o.language), now, code_ref=ref)


async def turn_on(
    db: Database,
    config: SmsConfig | None,
    *,
    organizer_id: uuid.UUID,
    wallet_id: uuid.UUID,
    actor_id: uuid.UUID,
    phone: str,
    language: str,
    events: Iterable[str],
    carer_id: uuid.UUID | None = None,
) -> OptIn:
    """A case manager turns SMS on for a client's wallet, to the client's own number or to a
    carer's (``carer_id``: a carer with a mandate over the client). The number gets a
    confirmation code at once; a number already on this wallet gets a new code, its new
    language and events, and must be confirmed again. Audited."""
    if config is None:
        raise SmsNotConfigured("SMS is not set up on this server")
    if language not in LANGUAGES:
        raise InvalidInput("Choose a language: fi, sv or en")
    chosen = check_events(events)
    e164 = to_e164(phone)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        wallet = await s.get(Wallet, wallet_id)
        if wallet is None or wallet.organizer_id != organizer_id:
            raise NotFound("No such wallet")
        closed = await s.scalar(select(Client.closed_at).where(Client.id == wallet.client_id))
        if closed is not None:  # closing turned its numbers off (payments.budgets.closing)
            raise ClientClosed()
        if carer_id is None:
            who = (
                await s.execute(
                    select(Principal.id)
                    .where(Principal.client_id == wallet.client_id, Principal.role == Role.CLIENT)
                    .order_by(Principal.created_at)
                    .limit(1)
                )
            ).scalar_one_or_none()
            if who is None:
                raise NotFound("The client has no sign-in of their own")
            principal_id = uuid.UUID(str(who))
        else:
            carer = await s.get(Principal, carer_id)
            if carer is None or carer.organizer_id != organizer_id or carer.role != Role.CARER:
                raise NotFound("No such carer")
            # Only a carer who follows the wallet now: the texts would reach nobody else (the
            # senders check the mandate again for every text and reply), and a number taken
            # for a stranger would only wait for a code.
            scopes = (
                await s.execute(
                    select(Mandate.scopes).where(
                        Mandate.carer_id == carer_id,
                        Mandate.client_id == wallet.client_id,
                        Mandate.in_force(now.astimezone(HELSINKI).date()),
                    )
                )
            ).scalar_one_or_none()
            if "view" not in scopes_of(scopes):
                raise NotFound("No such carer of this client")
            principal_id = carer_id
        row = (
            await s.execute(
                select(SmsOptIn).where(SmsOptIn.wallet_id == wallet_id, SmsOptIn.phone_e164 == e164)
            )
        ).scalar_one_or_none()
        if row is None:
            row = SmsOptIn(
                id=new_id(),
                organizer_id=organizer_id,
                wallet_id=wallet_id,
                principal_id=principal_id,
                phone_e164=e164,
                language=language,
                events=chosen,
                code_attempts=0,
                created_by=actor_id,
                created_at=now,
            )
            s.add(row)
        else:
            row.principal_id, row.language, row.events = principal_id, language, chosen
            row.confirmed_at = None
        await s.flush()
        s.add(_issue_code(config, row, now))
        audit.add(
            s,
            "sms.optin_created",
            actor_id=actor_id,
            organizer_id=organizer_id,
            subject_client_id=wallet.client_id,
            detail=f"opt-in {row.id}: {_masked(e164)} ({language}; {','.join(chosen) or '-'})",
        )
        view = _view(row)
        await uow.commit()
    poke_senders()
    return view


async def resend_code(
    db: Database, config: SmsConfig | None, *, optin_id: uuid.UUID, actor_id: uuid.UUID
) -> OptIn:
    """A new confirmation code (the old one stops working)."""
    if config is None:
        raise SmsNotConfigured("SMS is not set up on this server")
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        row = await s.get(SmsOptIn, optin_id)
        if row is None:
            raise NotFound("No such SMS number")
        if row.confirmed_at is None:
            s.add(_issue_code(config, row, now))
        view = _view(row)
        await uow.commit()
    poke_senders()
    return view


async def confirm(db: Database, *, optin_id: uuid.UUID, code: str, actor_id: uuid.UUID) -> OptIn:
    """Confirm a number with the code it received: five tries within 15 minutes. Audited."""
    now = utcnow()
    typed = code.strip()
    async with UnitOfWork(db) as uow:
        s = uow.session
        row = await s.get(SmsOptIn, optin_id)
        if row is None:
            raise NotFound("No such SMS number")
        if row.confirmed_at is not None:
            return _view(row)
        live = (
            row.code_hash is not None
            and row.code_expires_at is not None
            and row.code_expires_at > now
            and row.code_attempts < CONFIRM_ATTEMPTS
        )
        ok = live and hmac.compare_digest(row.code_hash or "", code_hash(row.id, typed))
        if not ok:
            row.code_attempts += 1
            audit.add(
                s,
                "sms.optin_code_refused",
                actor_id=actor_id,
                organizer_id=row.organizer_id,
                subject_client_id=await _client_of(s, row.wallet_id),
                detail=f"opt-in {row.id}: {'wrong code' if live else 'no live code'}",
            )
            await uow.commit()
            raise SmsCodeWrong(
                "The code does not match, or it is no longer valid: ask for a new one",
                attempts_left=max(0, CONFIRM_ATTEMPTS - row.code_attempts) if live else 0,
            )
        row.confirmed_at, row.code_hash, row.code_expires_at = now, None, None
        audit.add(
            s,
            "sms.optin_confirmed",
            actor_id=actor_id,
            organizer_id=row.organizer_id,
            subject_client_id=await _client_of(s, row.wallet_id),
            detail=f"opt-in {row.id}: {_masked(row.phone_e164)}",
        )
        view = _view(row)
        await uow.commit()
    return view


async def turn_off(db: Database, *, optin_id: uuid.UUID, actor_id: uuid.UUID) -> None:
    """Stop texting a number: the opt-in goes, with its texts and reply codes. Audited."""
    async with UnitOfWork(db) as uow:
        s = uow.session
        row = await s.get(SmsOptIn, optin_id)
        if row is None:
            raise NotFound("No such SMS number")
        await s.execute(_REPLY_CODES.delete().where(_REPLY_CODES.c.optin_id == row.id))
        await s.execute(_MESSAGES.delete().where(_MESSAGES.c.optin_id == row.id))
        audit.add(
            s,
            "sms.optin_removed",
            actor_id=actor_id,
            organizer_id=row.organizer_id,
            subject_client_id=await _client_of(s, row.wallet_id),
            detail=f"opt-in {row.id}: {_masked(row.phone_e164)}",
        )
        await s.delete(row)
        await uow.commit()


async def optins_of_wallet(db: Database, wallet_id: uuid.UUID) -> list[OptIn]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(SmsOptIn)
                .where(SmsOptIn.wallet_id == wallet_id)
                .order_by(SmsOptIn.created_at, SmsOptIn.id)
            )
        ).scalars()
        return [_view(r) for r in rows]


async def optin_wallet(db: Database, optin_id: uuid.UUID) -> uuid.UUID | None:
    """The wallet an opt-in belongs to (for the web layer's guards)."""
    async with UnitOfWork(db, readonly=True) as uow:
        found = (
            await uow.session.execute(select(SmsOptIn.wallet_id).where(SmsOptIn.id == optin_id))
        ).scalar_one_or_none()
    return None if found is None else uuid.UUID(str(found))


# --- enqueue: in the dispatcher's round ----------------------------------------------------

_OPTINS = cast(Table, SmsOptIn.__table__)
_MESSAGES = cast(Table, SmsMessage.__table__)
_REPLY_CODES = cast(Table, SmsReplyCode.__table__)


def _insert(session: AsyncSession, table: Table, keys: list[str]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)


async def _wallet_balance(s: AsyncSession, wallet_id: uuid.UUID) -> int:
    found = await s.execute(
        select(Account.balance_cents).where(
            Account.wallet_id == wallet_id, Account.kind == AccountKind.ENVELOPE
        )
    )
    return sum(int(b or 0) for b in found.scalars())


async def _text_for(
    s: AsyncSession, e: ev.Event, choice: str, lang: str, balances: dict[uuid.UUID, int]
) -> str | None:
    d = e.data
    if choice == "request":
        until = datetime.fromisoformat(str(d["expires_at"]))
        return render(
            "request",
            lang,
            provider=str(d.get("provider_name", "")),
            amount=money(int(d.get("total_cents", 0)), lang),
            until=clock(until),
        )
    if choice == "refund":
        return render("refund", lang, amount=money(int(d.get("amount_cents", 0)), lang))
    # What is left in the whole wallet now (a charge's event names only the envelopes it
    # touched, and an approved request's none), read once per wallet and round.
    assert e.wallet_id is not None
    if e.wallet_id not in balances:
        balances[e.wallet_id] = await _wallet_balance(s, e.wallet_id)
    if choice == "receipt":
        return render(
            "receipt",
            lang,
            amount=money(int(d.get("total_cents", 0)), lang),
            provider=str(d.get("provider_name", "")),
            balance=money(balances[e.wallet_id], lang),
        )
    if choice == "low_balance":
        return render("low_balance", lang, balance=money(int(d.get("balance_cents", 0)), lang))
    if choice == "statement":
        year, _, month = str(d.get("period", "")).partition("-")
        return render("statement", lang, period=f"{month}/{year}")
    if choice == "funding":
        return render(
            "funding",
            lang,
            amount=money(int(d.get("amount_cents", 0)), lang),
            balance=money(balances[e.wallet_id], lang),
        )
    return None


async def _first_names(s: AsyncSession, wallet_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The clients' first names by wallet: a carer's texts say whose wallet they are about."""
    if not wallet_ids:
        return {}
    rows = await s.execute(
        select(Wallet.id, Client.first_name)
        .join(Client, Client.id == Wallet.client_id)
        .where(Wallet.id.in_(list(wallet_ids)))
    )
    return {w: str(name) for w, name in rows.all()}


async def enqueue(
    session: AsyncSession, events: Sequence[ev.Event], now: datetime, config: SmsConfig
) -> int:
    """In the dispatcher's transaction: a pending text per (confirmed opt-in of the event's
    wallet that chose it, event); idempotent per (opt-in, event). A payment request's text gets
    its one-time reply code (the code's row, its hash). One indexed query when no wallet of
    the round has opted in."""
    wanted = [e for e in events if e.type in EVENT_OF and e.wallet_id is not None]
    if not wanted:
        return 0
    wallets = list({e.wallet_id for e in wanted})
    optins = (
        (
            await session.execute(
                select(SmsOptIn).where(
                    SmsOptIn.wallet_id.in_(wallets), SmsOptIn.confirmed_at.is_not(None)
                )
            )
        )
        .scalars()
        .all()
    )
    if not optins:
        return 0
    # Who may hear of each wallet now: its client, and carers whose mandate in force has
    # ``view`` (a revoked carer's number hears nothing more); a request's code goes only to
    # those who may approve it.
    followers = await followers_of(session, {o.wallet_id for o in optins})
    allowed = {(w, f.principal_id): f.can_approve for w, fs in followers.items() for f in fs}
    carers = {(w, f.principal_id) for w, fs in followers.items() for f in fs if f.role != "client"}
    names = await _first_names(session, {w for w, _ in carers})
    by_wallet: dict[uuid.UUID, list[SmsOptIn]] = {}
    for o in optins:
        if (o.wallet_id, o.principal_id) in allowed:
            by_wallet.setdefault(o.wallet_id, []).append(o)
    messages: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    balances: dict[uuid.UUID, int] = {}
    for e in wanted:
        choice = EVENT_OF[e.type]
        assert e.wallet_id is not None
        for o in by_wallet.get(e.wallet_id, ()):
            if choice not in o.events:
                continue
            # A low-balance alert is one person's (their own threshold): only their number.
            if choice == "low_balance" and e.data.get("principal_id") != str(o.principal_id):
                continue
            if choice == "request" and not allowed[(o.wallet_id, o.principal_id)]:
                continue
            body = await _text_for(session, e, choice, o.language, balances)
            if body is None:
                continue
            if (o.wallet_id, o.principal_id) in carers:
                body = f"{names.get(o.wallet_id, '')}: {body}"
            code_ref = None
            if choice == "request":
                code_id = new_id()
                code_ref = f"reply:{code_id}"
                codes.append(
                    {
                        "id": code_id,
                        "request_id": uuid.UUID(str(e.data["id"])),
                        "optin_id": o.id,
                        "code_hash": code_hash(
                            code_id, derive_code(config.key, code_ref, REPLY_DIGITS)
                        ),
                        "expires_at": datetime.fromisoformat(str(e.data["expires_at"])),
                        "used_at": None,
                        "created_at": now,
                    }
                )
            messages.append(
                {
                    "id": new_id(),
                    "organizer_id": e.organizer_id,
                    "optin_id": o.id,
                    "event_id": e.id,
                    "kind": choice,
                    "phone_e164": o.phone_e164,
                    "body": body,
                    "code_ref": code_ref,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": None,
                    "gateway_id": None,
                    "created_at": now,
                    "sent_at": None,
                }
            )
    if codes:
        await session.execute(_insert(session, _REPLY_CODES, ["request_id", "optin_id"]), codes)
    if messages:
        await session.execute(_insert(session, _MESSAGES, ["optin_id", "event_id"]), messages)
    return len(messages)


# --- inbound: a person's reply ---------------------------------------------------------------


@dataclass(frozen=True)
class ReplyOutcome:
    """What a reply came to: ``result`` names it (``approved``, ``declined``, ``balance``,
    or why nothing changed), ``answered`` whether a text goes back."""

    result: str
    answered: bool


def parse_reply(text: str) -> tuple[str, str | None]:
    """``("yes"|"no", code)``, ``("balance", None)`` or ``("unknown", None)``."""
    words = " ".join(text.upper().split())
    if words.rstrip(".!") in BALANCE_WORDS:
        return "balance", None
    m = _REPLY.match(words)
    if m:
        if m.group(1) in YES:
            return "yes", m.group(2)
        if m.group(1) in NO:
            return "no", m.group(2)
    return "unknown", None


async def _answer(s: AsyncSession, o: SmsOptIn, kind: str, now: datetime, **values: str) -> None:
    """Queue an answer to ``o``'s number in ``s``'s transaction. ``o`` may come from another
    session: only its id, county, number and language are read (never merged back, which
    would write its stale state over the row)."""
    s.add(_new_message(o, "answer", render(kind, o.language, **values), now))


async def _refusal(
    s: AsyncSession, why: str, o: SmsOptIn | None, phone: str, detail: str = ""
) -> None:
    """A reply that changed nothing, with why (the detail starts with it) and the number
    masked. A number that is no one's belongs to no county (``organizer_id`` NULL)."""
    audit.add(
        s,
        "sms.reply_refused",
        actor_id=None,
        organizer_id=o.organizer_id if o is not None else None,
        subject_client_id=await _client_of(s, o.wallet_id) if o is not None else None,
        detail=f"{why}: {_masked(phone)}{'; ' + detail if detail else ''}",
    )


# Forged webhook calls audited per client address and five minutes; more are only refused, so
# a flood of them cannot fill the audit trail.
FORGED_AUDITED = 20


async def record_forged(db: Database, *, address: str) -> None:
    """A webhook call without the shared secret: audited (up to :data:`FORGED_AUDITED` per
    address and five minutes), nothing else."""
    REPLIES["forged"] += 1
    try:
        await ratelimits.take_attempt(
            db, f"sms-forged:{address}", limit=FORGED_AUDITED, window_s=300
        )
    except ratelimits.RateLimited:
        return
    async with UnitOfWork(db) as uow:
        audit.add(
            uow.session,
            "sms.inbound_forged",
            actor_id=None,
            organizer_id=None,
            detail=f"from {address}",
        )
        await uow.commit()


async def _may_approve(db: Database, o: SmsOptIn) -> bool:
    """The opt-in's person may approve for its wallet now: the client, or a carer whose
    mandate in force has ``approve`` (the app's rule, ``ensure_may_act``)."""
    async with UnitOfWork(db, readonly=True) as uow:
        who = await uow.session.get(Principal, o.principal_id)
        wallet = await uow.session.get(Wallet, o.wallet_id)
    if who is None or wallet is None or who.removed_at is not None:
        return False
    if who.role == Role.CLIENT:
        return who.client_id == wallet.client_id
    return who.role == Role.CARER and "approve" in await mandate_scopes(db, who.id, o.wallet_id)


# Replies this process handled, by what they came to (``forged``: webhook calls without the
# secret); read by the metrics as ``wallet_sms_replies_total``.
REPLIES: collections.Counter[str] = collections.Counter()


async def handle_inbound(
    db: Database, config: SmsConfig, *, phone: str, text: str, now: datetime | None = None
) -> ReplyOutcome:
    """Act on one text a person sent (the webhook has authenticated the gateway)."""
    done = await _handle_inbound(db, config, phone=phone, text=text, now=now)
    REPLIES[done.result] += 1
    return done


async def _handle_inbound(
    db: Database, config: SmsConfig, *, phone: str, text: str, now: datetime | None
) -> ReplyOutcome:
    now = utcnow(now)
    try:
        e164 = to_e164(phone)
    except InvalidInput:
        e164 = phone[:16]
    try:
        await ratelimits.take_attempt(
            db, f"sms-reply:{e164}", limit=config.reply_limit, window_s=config.reply_window_s
        )
    except ratelimits.RateLimited:
        async with UnitOfWork(db) as uow:
            await _refusal(uow.session, "rate-limited", None, e164)
            await uow.commit()
        return ReplyOutcome("rate-limited", False)
    async with UnitOfWork(db, readonly=True) as uow:
        optins = list(
            (
                await uow.session.execute(
                    select(SmsOptIn)
                    .where(SmsOptIn.phone_e164 == e164, SmsOptIn.confirmed_at.is_not(None))
                    .order_by(SmsOptIn.created_at)
                )
            ).scalars()
        )
    if optins:
        # Only while the person still follows the wallet: a carer whose mandate ended (or lost
        # ``view``) gets no balance and can decide nothing, whatever their number still has.
        async with UnitOfWork(db, readonly=True) as uow:
            followers = await followers_of(uow.session, {o.wallet_id for o in optins})
        live = [
            o
            for o in optins
            if any(f.principal_id == o.principal_id for f in followers[o.wallet_id])
        ]
        if not live:
            async with UnitOfWork(db) as uow:
                await _refusal(uow.session, "mandate-ended", optins[0], e164)
                await uow.commit()
            return ReplyOutcome("mandate-ended", False)
        optins = live
    if not optins:
        confirming = await _confirm_by_reply(db, e164, text, now)
        if confirming is not None:
            return confirming
        async with UnitOfWork(db) as uow:
            await _refusal(uow.session, "unknown-number", None, e164)
            await uow.commit()
        return ReplyOutcome("unknown-number", False)
    what, typed = parse_reply(text)
    if what == "balance":
        return await _balance(db, optins, now)
    if what == "unknown" or typed is None:
        async with UnitOfWork(db) as uow:
            o = optins[0]
            await _refusal(uow.session, "not-understood", o, e164)
            await _answer(uow.session, o, "help", now)
            await uow.commit()
        poke_senders()
        return ReplyOutcome("not-understood", True)
    return await _decide(db, optins, e164, what, typed, now)


async def _confirm_by_reply(
    db: Database, phone: str, text: str, now: datetime
) -> ReplyOutcome | None:
    """A number waiting for its confirmation may send the code back itself: the reply proves
    the number is theirs. None if the number waits for no code or the text is no code."""
    typed = text.strip()
    if len(typed) != CONFIRM_DIGITS or not re.fullmatch(r"[0-9]+", typed):
        return None
    async with UnitOfWork(db, readonly=True) as uow:
        waiting = list(
            (
                await uow.session.execute(
                    select(SmsOptIn)
                    .where(
                        SmsOptIn.phone_e164 == phone,
                        SmsOptIn.confirmed_at.is_(None),
                        SmsOptIn.code_hash.is_not(None),
                    )
                    .order_by(SmsOptIn.created_at.desc())
                )
            ).scalars()
        )
    if not waiting:
        return None
    for o in waiting:
        if hmac.compare_digest(o.code_hash or "", code_hash(o.id, typed)):
            try:
                await confirm(db, optin_id=o.id, code=typed, actor_id=o.principal_id)
            except SmsCodeWrong:
                break  # expired or out of tries: told below
            async with UnitOfWork(db) as uow:
                await _answer(uow.session, o, "confirmed", now)
                await uow.commit()
            poke_senders()
            return ReplyOutcome("confirmed", True)
    # A wrong code counts against the newest number's tries (and is audited there).
    with contextlib.suppress(SmsCodeWrong):
        await confirm(db, optin_id=waiting[0].id, code="-", actor_id=waiting[0].principal_id)
    async with UnitOfWork(db) as uow:
        await _answer(uow.session, waiting[0], "confirm_wrong", now)
        await uow.commit()
    poke_senders()
    return ReplyOutcome("confirm-wrong", True)


async def _balance(db: Database, optins: list[SmsOptIn], now: datetime) -> ReplyOutcome:
    async with UnitOfWork(db) as uow:
        s = uow.session
        for o in optins:
            balance = await _wallet_balance(s, o.wallet_id)
            who = await s.get(Principal, o.principal_id)
            prefix = ""
            if who is not None and who.role != Role.CLIENT:
                prefix = (await _first_names(s, {o.wallet_id})).get(o.wallet_id, "") + ": "
            text = prefix + render("balance", o.language, balance=money(balance, o.language))
            s.add(_new_message(o, "answer", text, now))
            audit.add(
                s,
                "sms.balance_sent",
                actor_id=o.principal_id,
                organizer_id=o.organizer_id,
                subject_client_id=await _client_of(s, o.wallet_id),
                detail=f"opt-in {o.id}",
            )
        await uow.commit()
    poke_senders()
    return ReplyOutcome("balance", True)


async def _decide(
    db: Database, optins: list[SmsOptIn], phone: str, what: str, typed: str, now: datetime
) -> ReplyOutcome:
    by_id = {o.id: o for o in optins}
    async with UnitOfWork(db, readonly=True) as uow:
        rows = list(
            (
                await uow.session.execute(
                    select(SmsReplyCode)
                    .where(SmsReplyCode.optin_id.in_(list(by_id)))
                    .order_by(SmsReplyCode.created_at.desc())
                )
            ).scalars()
        )
    match = next(
        (r for r in rows if hmac.compare_digest(r.code_hash, code_hash(r.id, typed))), None
    )
    first = optins[0]
    if match is None:
        return await _refuse(db, first, phone, "wrong-code", "wrong_code", now)
    o = by_id[match.optin_id]
    where = f"request {match.request_id}"
    if match.used_at is not None:
        return await _refuse(db, o, phone, "replayed-code", "used", now, where)
    if match.expires_at <= now:
        return await _refuse(db, o, phone, "expired", "expired", now, where)
    if not await _may_approve(db, o):
        return await _refuse(db, o, phone, "no-approve-right", "not_allowed", now, where)
    # Once-only: the code is spent in its own conditional update before the decision runs,
    # so two replies with one code cannot both decide.
    async with UnitOfWork(db) as uow:
        spent = await uow.session.execute(
            update(SmsReplyCode)
            .where(SmsReplyCode.id == match.id, SmsReplyCode.used_at.is_(None))
            .values(used_at=now)
        )
        await uow.commit()
    if not spent.rowcount:  # type: ignore[attr-defined]
        return await _refuse(db, o, phone, "replayed-code", "used", now, where)
    decide = payment_requests.approve_request if what == "yes" else payment_requests.decline_request
    try:
        outcome = await decide(
            db, request_id=match.request_id, wallet_id=o.wallet_id, actor_id=o.principal_id
        )
    except DomainError as exc:
        return await _refuse(db, o, phone, "expired", "expired", now, f"{where}: {exc.slug}")
    except Exception:
        # Nothing was decided (the use case rolled back): the code is the person's again, so
        # the gateway's retry of this webhook call (it retries what is not 2xx) can decide.
        async with UnitOfWork(db) as uow:
            await uow.session.execute(
                update(SmsReplyCode).where(SmsReplyCode.id == match.id).values(used_at=None)
            )
            await uow.commit()
        raise
    view = outcome.body
    result = "approved" if what == "yes" else "declined"
    async with UnitOfWork(db) as uow:
        s = uow.session
        audit.add(
            s,
            f"sms.reply_{result}",
            actor_id=o.principal_id,
            organizer_id=o.organizer_id,
            subject_client_id=await _client_of(s, o.wallet_id),
            detail=f"{where} by {_masked(phone)}",
        )
        await _answer(
            s,
            o,
            result,
            now,
            provider=str(view.get("provider_name", "")),
            amount=money(int(view.get("total_cents", 0)), o.language),
        )
        await uow.commit()
    poke_senders()
    return ReplyOutcome(result, True)


async def _refuse(
    db: Database,
    o: SmsOptIn,
    phone: str,
    why: str,
    text: str,
    now: datetime,
    detail: str = "",
) -> ReplyOutcome:
    async with UnitOfWork(db) as uow:
        s = uow.session
        await _refusal(s, why, o, phone, detail)
        await _answer(s, o, text, now)
        await uow.commit()
    poke_senders()
    return ReplyOutcome(why, True)


# --- retention -------------------------------------------------------------------------------

# Texts sent, failed or refused, and reply codes used or lapsed, are deleted by the retention
# prune (payments.people.retention, WALLET_RETENTION_SMS_MESSAGES_DAYS); texts owed stay.


# --- the monthly cap ---------------------------------------------------------------------------


async def _take_from_cap(
    s: AsyncSession, organizer_id: uuid.UUID, period: str, default_cap: int, *, is_pg: bool
) -> bool:
    """Count one text toward the organizer's month if the cap allows it (one conditional
    upsert, so parallel senders cannot overshoot); otherwise count it as refused."""
    cap = (
        await s.execute(select(SmsBudget.monthly_cap).where(SmsBudget.organizer_id == organizer_id))
    ).scalar_one_or_none()
    cap = default_cap if cap is None else int(cap)
    dialect_insert = pg_insert if is_pg else sqlite_insert
    if cap > 0:
        took = (
            await s.execute(
                dialect_insert(SmsUsage)
                .values(organizer_id=organizer_id, period=period, sent=1, refused=0)
                .on_conflict_do_update(
                    index_elements=[SmsUsage.organizer_id, SmsUsage.period],
                    set_={"sent": SmsUsage.sent + 1},
                    where=SmsUsage.sent < cap,
                )
                .returning(SmsUsage.sent)
            )
        ).first()
        if took is not None:
            return True
    await s.execute(
        dialect_insert(SmsUsage)
        .values(organizer_id=organizer_id, period=period, sent=0, refused=1)
        .on_conflict_do_update(
            index_elements=[SmsUsage.organizer_id, SmsUsage.period],
            set_={"refused": SmsUsage.refused + 1},
        )
    )
    return False


async def set_cap(db: Database, *, organizer_id: uuid.UUID, monthly_cap: int) -> None:
    """An organizer's own monthly cap (``wallet sms cap``)."""
    if monthly_cap < 0:
        raise InvalidInput("The cap may not be negative")
    async with UnitOfWork(db) as uow:
        s = uow.session
        row = await s.get(SmsBudget, organizer_id)
        if row is None:
            s.add(SmsBudget(organizer_id=organizer_id, monthly_cap=monthly_cap))
        else:
            row.monthly_cap = monthly_cap
        await uow.commit()


async def usage(
    db: Database, period: str, default_cap: int
) -> list[tuple[uuid.UUID, int, int, int]]:
    """(organizer, sent, refused, cap) for a month, for the metrics."""
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(
                    SmsUsage.organizer_id, SmsUsage.sent, SmsUsage.refused, SmsBudget.monthly_cap
                )
                .outerjoin(SmsBudget, SmsBudget.organizer_id == SmsUsage.organizer_id)
                .where(SmsUsage.period == period)
            )
        ).all()
    return [
        (o, int(sent), int(refused), default_cap if cap is None else int(cap))
        for o, sent, refused, cap in rows
    ]


# --- the sender -------------------------------------------------------------------------------

_senders: set[SmsSender] = set()


def poke_senders() -> None:
    for sender in list(_senders):
        sender.poke()


def sender_counts() -> dict[str, int]:
    """Texts this process's running senders sent, failed, refused (cap) and retried."""
    out = {"sent": 0, "failed": 0, "refused": 0, "retried": 0}
    for sender in list(_senders):
        out["sent"] += sender.sent
        out["failed"] += sender.failed
        out["refused"] += sender.refused
        out["retried"] += sender.retried
    return out


@dataclass(frozen=True)
class _Claimed:
    id: uuid.UUID
    organizer_id: uuid.UUID
    phone: str
    body: str
    code_ref: str | None
    attempts: int


def next_delay(attempts: int, rnd: random.Random, schedule: Sequence[float]) -> float | None:
    if attempts < 1 or attempts > len(schedule):
        return None
    return schedule[attempts - 1] * (0.8 + 0.4 * rnd.random())


@dataclass
class SmsSender(PollingSender):
    """Claims due texts and sends them through ``config.gateway`` and ``http``."""

    db: Database
    config: SmsConfig
    http: OutboundClient
    poll_s: float = 1.0
    batch: int = 20
    schedule: Sequence[float] = BACKOFF_S
    lease_s: float = LEASE_S
    rnd: random.Random = field(default_factory=random.Random)
    sent: int = 0
    failed: int = 0
    refused: int = 0
    retried: int = 0
    task_name = "sms-sender"

    def __hash__(self) -> int:
        return id(self)

    def start(self) -> None:
        _senders.add(self)
        self.start_polling()

    async def stop(self) -> None:
        _senders.discard(self)
        await self.stop_polling()

    async def run_once(self) -> int:
        """Claim a batch of due texts, send them, record each outcome."""
        claimed = await self._claim()
        for c in claimed:
            await self._deliver(c)
        return len(claimed)

    async def _claim(self) -> list[_Claimed]:
        now = utcnow()
        q = (
            select(
                SmsMessage.id,
                SmsMessage.organizer_id,
                SmsMessage.phone_e164,
                SmsMessage.body,
                SmsMessage.code_ref,
                SmsMessage.attempts,
            )
            .where(SmsMessage.status == "pending", SmsMessage.next_attempt_at <= now)
            .order_by(SmsMessage.next_attempt_at, SmsMessage.id)
            .limit(self.batch)
        )
        # A read first: most polls find nothing, and on SQLite a write would take the lock.
        async with UnitOfWork(self.db, readonly=True) as uow:
            if (await uow.session.execute(q.limit(1))).first() is None:
                return []
        if self.db.is_postgres:
            q = q.with_for_update(skip_locked=True)
        period = period_of(now)
        async with UnitOfWork(self.db) as uow:
            s = uow.session
            rows = [_Claimed(*r) for r in (await s.execute(q)).all()]
            out = []
            for r in rows:
                if r.attempts == 0 and not await _take_from_cap(
                    s, r.organizer_id, period, self.config.monthly_cap, is_pg=self.db.is_postgres
                ):
                    self.refused += 1
                    await s.execute(
                        update(SmsMessage)
                        .where(SmsMessage.id == r.id)
                        .values(
                            status="refused",
                            next_attempt_at=None,
                            last_error="the organizer's monthly SMS cap is used up",
                        )
                    )
                    continue
                out.append(r)
            if out:
                await s.execute(
                    update(SmsMessage)
                    .where(SmsMessage.id.in_([r.id for r in out]))
                    .values(next_attempt_at=now + timedelta(seconds=self.lease_s))
                )
            await uow.commit()
        return out

    async def _deliver(self, c: _Claimed) -> None:
        text = c.body
        if c.code_ref is not None:
            digits = CONFIRM_DIGITS if c.code_ref.startswith("confirm:") else REPLY_DIGITS
            text = text.replace("{code}", derive_code(self.config.key, c.code_ref, digits))
        try:
            answer = await self.config.gateway.send(self.http, to=c.phone, text=text)
        except UrlNotAllowed as exc:
            answer = GatewayAnswer(400, error=f"refused by the outbound policy: {exc.reason}")
        await self._record(c, answer)

    async def _record(self, c: _Claimed, answer: GatewayAnswer) -> None:
        now = utcnow()
        attempts = c.attempts + 1
        values: dict[str, Any] = {"attempts": attempts}
        if 200 <= answer.status < 300:
            self.sent += 1
            values.update(
                status="sent",
                sent_at=now,
                next_attempt_at=None,
                last_error=None,
                gateway_id=answer.gateway_id,
            )
        else:
            error = (answer.error or f"HTTP {answer.status}")[:200]
            retryable = answer.status in (0, 429) or answer.status >= 500
            delay = next_delay(attempts, self.rnd, self.schedule) if retryable else None
            if delay is None:
                self.failed += 1
                values.update(status="failed", next_attempt_at=None, last_error=error)
                log.warning("sms %s failed: %s", c.id, error)
            else:
                self.retried += 1
                values.update(next_attempt_at=now + timedelta(seconds=delay), last_error=error)
        async with UnitOfWork(self.db) as uow:
            await uow.session.execute(
                update(SmsMessage)
                .where(SmsMessage.id == c.id, SmsMessage.status == "pending")
                .values(**values)
            )
            await uow.commit()


def new_inbound_secret() -> str:
    return secrets.token_urlsafe(32)
