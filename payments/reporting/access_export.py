"""The right of access (GDPR article 15): everything the system holds about one client.

Which services a person uses is health-related (article 9), and the county that runs the
wallet is the controller: it must be able to hand a client all of their data. ``export_client``
gathers it in one read transaction (a snapshot: PostgreSQL ``REPEATABLE READ``, SQLite's WAL
read), then records the download in the audit trail as ``data_export.viewed``, so it shows in
the client's "who looked at my data" when someone else downloaded it.

Secrets are never part of it: no PIN, token, code, session or API-key hash, no CSRF token, no
passkey public key, no push encryption keys (a push endpoint is given by its host only).

Every table that can name a client is either read here (``COVERED``) or left out for a stated
reason (``EXCLUDED``); ``tests/unit/test_access_export_tables.py`` fails when a new table that
refers to a client, a person, a wallet or their accounts is in neither.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    String,
    Uuid,
    and_,
    column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from payments.clock import utcnow
from payments.db import Database
from payments.errors import Forbidden, NotFound
from payments.ledger.periods import current_period
from payments.models import (
    Account,
    ApiKey,
    AuditEvent,
    Charge,
    ChargeLine,
    Client,
    Correction,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    Hold,
    HoldLine,
    Invite,
    Mandate,
    Organizer,
    OutboxEvent,
    Passkey,
    PaymentRequest,
    PaymentToken,
    Principal,
    Provider,
    QrCard,
    Refund,
    ServiceCategory,
    StatementNotice,
    Transfer,
    TrustedProvider,
    Wallet,
    WebSession,
)
from payments.reporting.statements import Flow, client_accounts, wallet_flows
from payments.uow import UnitOfWork
from payments.vocabulary import Role

EXPORT_ACTION = "data_export.viewed"
FORMAT_VERSION = 1

# Tables read into the export, and the section each lands in.
COVERED: dict[str, str] = {
    "clients": "person",
    "principals": "people",
    "wallets": "wallet",
    "accounts": "wallet",
    "decisions": "decisions",
    "decision_lines": "decisions",
    "decision_line_categories": "decisions",
    "transfers": "transfers",
    "charges": "charges",
    "charge_lines": "charges",
    "refunds": "charges",
    "corrections": "charges",
    "holds": "holds",
    "hold_lines": "holds",
    "payment_requests": "payment_requests",
    "payment_tokens": "payment_codes",
    "statement_notices": "statements",
    "mandates": "carers",
    "trusted_providers": "trusted_providers",
    "qr_cards": "qr_cards",
    "invites": "invites",
    "passkeys": "passkeys",
    "web_sessions": "sessions",
    "api_keys": "api_keys",
    "push_subscriptions": "push_devices",
    "notification_preferences": "notification_settings",
    "low_balance_alerts": "low_balance_alerts",
    "sms_optins": "sms_numbers",
    "sms_messages": "sms_texts",
    "outbox": "notifications",
    "audit_events": "audit",
}

# Tables that can refer to a client, a person or their money but are not exported, and why.
# They are listed in the export itself (``not_included``), so the reader knows they exist.
EXCLUDED: dict[str, str] = {
    "idempotency_keys": (
        "Stored answers to retried requests, kept 30 days so a retry is not done twice; "
        "they repeat charges and refunds that are in this export."
    ),
    "rate_counters": (
        "Counts of attempts per address or number in windows of minutes, to stop guessing; "
        "technical and short-lived."
    ),
    "webauthn_challenges": (
        "One-time values of a sign-in in progress, deleted when used and expiring in minutes."
    ),
    "provider_owners": "Which staff members own a provider; never a client.",
    "provider_profiles": "A provider's business and bank details and its contact person.",
    "provider_price_versions": (
        "A provider's price list and the case manager who approved it; not about a client."
    ),
    "settlements": (
        "A provider's payouts from the county; the client's charges they pay are in this export."
    ),
    "settlement_lines": (
        "The lines of a provider's payout; the client's charges they pay are in this export."
    ),
    "sms_reply_codes": (
        "Hashes of the one-time codes in payment requests' text messages, to check a reply; "
        "a code is a secret, and the texts that carried them are in this export."
    ),
    "webhook_endpoints": "The county's integrations, made by staff; never a client.",
    "webhook_deliveries": (
        "Copies of events sent to the county's integrations; the same events are listed under "
        "notifications."
    ),
}

# notifications' tables, by name (payments may not import notifications).
_PUSH = table(
    "push_subscriptions",
    column("principal_id", Uuid()),
    column("endpoint", String()),
    column("created_at", DateTime(timezone=True)),
    column("last_success_at", DateTime(timezone=True)),
)
_PREFS = table(
    "notification_preferences",
    column("principal_id", Uuid()),
    column("types", JSON()),
    column("hide_amounts", Boolean()),
    column("low_balance_cents", String()),
    column("language", String()),
    column("updated_at", DateTime(timezone=True)),
)
_LOW = table(
    "low_balance_alerts",
    column("principal_id", Uuid()),
    column("account_id", String()),
    column("period", String()),
    column("balance_cents", String()),
    column("threshold_cents", String()),
    column("created_at", DateTime(timezone=True)),
)


_SMS_OPTINS = table(
    "sms_optins",
    column("id", Uuid()),
    column("wallet_id", Uuid()),
    column("principal_id", Uuid()),
    column("phone_e164", String()),
    column("language", String()),
    column("events", JSON()),
    column("confirmed_at", DateTime(timezone=True)),
    column("created_at", DateTime(timezone=True)),
)
_SMS_MESSAGES = table(
    "sms_messages",
    column("optin_id", Uuid()),
    column("kind", String()),
    column("phone_e164", String()),
    column("body", String()),
    column("status", String()),
    column("created_at", DateTime(timezone=True)),
    column("sent_at", DateTime(timezone=True)),
)


def _iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        # SQLite hands back naive values through a table() reference: they are UTC.
        return value.isoformat() + "+00:00"
    return value.isoformat()


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


async def _authorize(
    s: AsyncSession, organizer_id: uuid.UUID, client_id: uuid.UUID, requested_by: uuid.UUID
) -> tuple[Client, Principal]:
    """The client themselves, or a case manager of their organizer. Another organizer's client,
    like one that does not exist, is ``not-found``; a carer is not the data subject."""
    client = await s.get(Client, client_id)
    if client is None or client.organizer_id != organizer_id:
        raise NotFound("No such client")
    who = await s.get(Principal, requested_by)
    if who is None or who.organizer_id != organizer_id or who.removed_at is not None:
        raise Forbidden("Unknown requester")
    if who.role == Role.CLIENT and who.client_id == client_id:
        return client, who
    if who.role == Role.CASE_MANAGER:
        return client, who
    raise Forbidden("Only the client or the county's case managers may download this data")


async def export_client(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    client_id: uuid.UUID,
    requested_by: uuid.UUID,
    fmt: str = "json",
) -> dict[str, Any]:
    """Everything held about ``client_id`` (see the module doc), for the client themselves or
    a case manager of ``organizer_id`` (``requested_by``, checked from the row); the download
    is audited as ``data_export.viewed`` with its format."""
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        if db.is_postgres:
            # One snapshot for every read below (the default would take one per statement).
            await s.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        client, who = await _authorize(s, organizer_id, client_id, requested_by)
        out = await _gather(s, client, who)
    # Right after the read, in a short write of its own: the read holds no write lock.
    async with UnitOfWork(db) as uow:
        uow.session.add(
            AuditEvent(
                action=EXPORT_ACTION,
                actor_id=requested_by,
                organizer_id=organizer_id,
                subject_client_id=client_id,
                detail=f"format {fmt}",
                created_at=utcnow(),
            )
        )
        await uow.commit()
    return out


async def _gather(s: AsyncSession, client: Client, who: Principal) -> dict[str, Any]:
    organizer = await s.get(Organizer, client.organizer_id)
    wallet = (
        await s.execute(select(Wallet).where(Wallet.client_id == client.id))
    ).scalar_one_or_none()
    people = list(
        (await s.execute(select(Principal).where(Principal.client_id == client.id))).scalars().all()
    )
    person_ids = [p.id for p in people]
    # Names are looked up per set of ids as each section needs them.
    names = _Names({}, {}, {})
    out: dict[str, Any] = {
        "export": {
            "version": FORMAT_VERSION,
            "generated_at": _iso(utcnow()),
            "client_id": str(client.id),
            "organizer": {
                "id": str(client.organizer_id),
                "name": organizer.name if organizer else None,
            },
            "requested_by": {"id": str(who.id), "name": who.display_name, "role": who.role},
        },
        "person": {
            "id": str(client.id),
            "first_name": client.first_name,
            "last_name": client.last_name,
            "phone": client.phone_e164,
            "language": client.language,
            "external_ref": client.external_ref,
            "created_at": _iso(client.created_at),
            # A closed account is still exported: the data is held until it is pseudonymised.
            "closed_at": _iso(client.closed_at),
            "pseudonymised_at": _iso(client.pseudonymised_at),
        },
        "people": [
            {
                "id": str(p.id),
                "role": p.role,
                "display_name": p.display_name,
                "created_at": _iso(p.created_at),
                "removed_at": _iso(p.removed_at),
            }
            for p in people
        ],
    }
    out["decisions"] = await _decisions(s, client.id, names)
    wallet_parts = await _wallet(s, wallet, names) if wallet else {}
    for key in (
        "wallet",
        "transfers",
        "charges",
        "holds",
        "payment_requests",
        "payment_codes",
        "statements",
        "trusted_providers",
        "qr_cards",
        "notifications",
    ):
        out[key] = wallet_parts.get(key, None if key == "wallet" else [])
    out["carers"] = await _carers(s, client.id, person_ids, names)
    out |= await _sign_in(s, person_ids, names)
    out |= await _notification_rows(s, person_ids)
    out |= await _sms(s, wallet.id if wallet else None, names)
    cards = [c["card_number"] for c in out["qr_cards"]]
    out["audit"] = await _audit(s, client.organizer_id, client.id, person_ids, cards)
    out["not_included"] = [{"table": t, "reason": why} for t, why in sorted(EXCLUDED.items())]
    return out


class _Names:
    """Names of people, providers and categories, read once for the whole export."""

    def __init__(
        self,
        people: dict[uuid.UUID, tuple[str, str]],
        providers: dict[uuid.UUID, str],
        categories: dict[uuid.UUID, str],
    ) -> None:
        self.people = people
        self.providers = providers
        self.categories = categories

    def person(self, pid: uuid.UUID | None) -> str | None:
        return self.people[pid][0] if pid in self.people and pid is not None else None

    def role(self, pid: uuid.UUID | None) -> str | None:
        return self.people[pid][1] if pid in self.people and pid is not None else None


async def _fill_people(s: AsyncSession, names: _Names, ids: Iterable[uuid.UUID | None]) -> None:
    wanted = {i for i in ids if i is not None and i not in names.people}
    if wanted:
        for pid, name, role in (
            await s.execute(
                select(Principal.id, Principal.display_name, Principal.role).where(
                    Principal.id.in_(wanted)
                )
            )
        ).all():
            names.people[pid] = (name, role)


async def _fill_providers(s: AsyncSession, names: _Names, ids: set[uuid.UUID]) -> None:
    wanted = ids - set(names.providers)
    if wanted:
        for pid, name in (
            await s.execute(select(Provider.id, Provider.name).where(Provider.id.in_(wanted)))
        ).all():
            names.providers[pid] = name


async def _fill_categories(s: AsyncSession, names: _Names, ids: set[uuid.UUID]) -> None:
    wanted = ids - set(names.categories)
    if wanted:
        for cid, code in (
            await s.execute(
                select(ServiceCategory.id, ServiceCategory.code).where(
                    ServiceCategory.id.in_(wanted)
                )
            )
        ).all():
            names.categories[cid] = code


async def _decisions(s: AsyncSession, client_id: uuid.UUID, names: _Names) -> list[dict[str, Any]]:
    decisions = list(
        (
            await s.execute(
                select(Decision)
                .where(Decision.client_id == client_id)
                .order_by(Decision.valid_from, Decision.created_at)
            )
        )
        .scalars()
        .all()
    )
    lines = (
        (
            await s.execute(
                select(DecisionLine)
                .where(DecisionLine.decision_id.in_([d.id for d in decisions]))
                .order_by(DecisionLine.id)
            )
        )
        .scalars()
        .all()
        if decisions
        else []
    )
    cats: dict[uuid.UUID, list[str]] = defaultdict(list)
    if lines:
        for line_id, code in (
            await s.execute(
                select(DecisionLineCategory.line_id, ServiceCategory.code)
                .join(ServiceCategory, ServiceCategory.id == DecisionLineCategory.category_id)
                .where(DecisionLineCategory.line_id.in_([ln.id for ln in lines]))
            )
        ).all():
            cats[line_id].append(str(code))
    envelopes = {
        line_id: acc_id
        for line_id, acc_id in (
            await s.execute(
                select(Account.decision_line_id, Account.id).where(
                    Account.decision_line_id.in_([ln.id for ln in lines]),
                    Account.kind == "envelope",
                )
            )
        ).all()
    }
    per_decision: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for ln in lines:
        per_decision[ln.decision_id].append(
            {
                "label": ln.label,
                "services": sorted(cats.get(ln.id, [])),
                "monthly_amount_cents": ln.monthly_amount_cents,
                "voucher_value_cents": ln.voucher_value_cents,
                "hours_per_week": ln.hours_per_week,
                "envelope_id": envelopes.get(ln.id),
            }
        )
    await _fill_people(s, names, {d.decided_by for d in decisions})
    return [
        {
            "id": str(d.id),
            "valid_from": _iso(d.valid_from),
            "valid_to": _iso(d.valid_to),
            "carry_over": d.carry_over,
            "carry_over_cap_cents": d.carry_over_cap_cents,
            "decided_by": names.person(d.decided_by),
            "external_ref": d.external_ref,
            "created_at": _iso(d.created_at),
            "lines": per_decision.get(d.id, []),
        }
        for d in decisions
    ]


async def _wallet(s: AsyncSession, wallet: Wallet, names: _Names) -> dict[str, Any]:
    accounts = (
        await s.execute(
            select(Account, DecisionLine.label)
            .outerjoin(DecisionLine, DecisionLine.id == Account.decision_line_id)
            .where(Account.id.in_(select(client_accounts(wallet.id).subquery().c.acc)))
            .order_by(Account.id)
        )
    ).all()
    acc_ids = [a.id for a, _ in accounts]
    out: dict[str, Any] = {
        "wallet": {
            "id": str(wallet.id),
            "accounts": [
                {
                    "id": a.id,
                    "kind": a.kind,
                    "label": label,
                    "balance_cents": a.balance_cents,
                    "funded_period": a.funded_period,
                    "expired_period": a.expired_period,
                }
                for a, label in accounts
            ],
        }
    }
    transfers = (
        (
            (
                await s.execute(
                    select(Transfer)
                    .where(
                        or_(
                            Transfer.debit_account_id.in_(acc_ids),
                            Transfer.credit_account_id.in_(acc_ids),
                        )
                    )
                    .order_by(Transfer.id)
                )
            )
            .scalars()
            .all()
        )
        if acc_ids
        else []
    )
    mine = set(acc_ids)
    out["transfers"] = [
        {
            "id": t.id,
            "created_at": _iso(t.created_at),
            "kind": t.kind,
            "period": t.period,
            # Signed as the wallet sees it: money in is positive, money out negative.
            "amount_cents": t.amount_cents if t.credit_account_id in mine else -t.amount_cents,
            "from_account": t.debit_account_id,
            "to_account": t.credit_account_id,
            "charge_id": _s(t.charge_id),
        }
        for t in transfers
    ]
    out["charges"] = await _charges(s, wallet.id, names)
    out["holds"] = await _holds(s, wallet.id, names)
    requests = (
        (
            await s.execute(
                select(PaymentRequest)
                .where(PaymentRequest.wallet_id == wallet.id)
                .order_by(PaymentRequest.created_at)
            )
        )
        .scalars()
        .all()
    )
    await _fill_providers(s, names, {r.provider_id for r in requests})
    await _fill_people(s, names, {r.decided_by for r in requests})
    out["payment_requests"] = [
        {
            "id": str(r.id),
            "created_at": _iso(r.created_at),
            "provider": names.providers.get(r.provider_id),
            "status": r.status,
            "total_cents": r.total_cents,
            "lines": r.lines,
            "charge_id": _s(r.charge_id),
            "decided_by": names.person(r.decided_by),
            "decided_at": _iso(r.decided_at),
            "expires_at": _iso(r.expires_at),
        }
        for r in requests
    ]
    tokens = (
        (
            await s.execute(
                select(PaymentToken)
                .where(PaymentToken.wallet_id == wallet.id)
                .order_by(PaymentToken.created_at)
            )
        )
        .scalars()
        .all()
    )
    await _fill_people(s, names, {t.created_by for t in tokens})
    out["payment_codes"] = [
        {
            "created_at": _iso(t.created_at),
            "created_by": names.person(t.created_by),
            "expires_at": _iso(t.expires_at),
            "used_at": _iso(t.used_at),
        }
        for t in tokens
    ]
    out["statements"] = await _statements(s, wallet.id)
    trusted = (
        (
            await s.execute(
                select(TrustedProvider)
                .where(TrustedProvider.wallet_id == wallet.id)
                .order_by(TrustedProvider.created_at)
            )
        )
        .scalars()
        .all()
    )
    await _fill_providers(s, names, {t.provider_id for t in trusted})
    await _fill_people(s, names, {t.created_by for t in trusted})
    out["trusted_providers"] = [
        {
            "provider": names.providers.get(t.provider_id),
            "per_charge_cap_cents": t.per_charge_cap_cents,
            "monthly_cap_cents": t.monthly_cap_cents,
            "month": t.month_period,
            "month_spent_cents": t.month_spent_cents,
            "added_by": names.person(t.created_by),
            "created_at": _iso(t.created_at),
        }
        for t in trusted
    ]
    cards = (
        (
            await s.execute(
                select(QrCard).where(QrCard.wallet_id == wallet.id).order_by(QrCard.created_at)
            )
        )
        .scalars()
        .all()
    )
    await _fill_people(s, names, {c.issued_by for c in cards})
    out["qr_cards"] = [
        {
            "card_number": c.card_number,
            "status": c.status,
            "failed_pin_attempts": c.failed_attempts,
            "issued_by": names.person(c.issued_by),
            "created_at": _iso(c.created_at),
            "locked_at": _iso(c.locked_at),
            "revoked_at": _iso(c.revoked_at),
        }
        for c in cards
    ]
    events = (
        (
            await s.execute(
                select(OutboxEvent)
                .where(OutboxEvent.wallet_id == wallet.id)
                .order_by(OutboxEvent.id)
            )
        )
        .scalars()
        .all()
    )
    out["notifications"] = [
        {
            "id": e.id,
            "created_at": _iso(e.created_at),
            "type": e.type,
            "detail": e.payload,
            "delivered_at": _iso(e.delivered_at),
        }
        for e in events
    ]
    return out


async def _charges(s: AsyncSession, wallet_id: uuid.UUID, names: _Names) -> list[dict[str, Any]]:
    charges = list(
        (
            await s.execute(
                select(Charge).where(Charge.wallet_id == wallet_id).order_by(Charge.created_at)
            )
        )
        .scalars()
        .all()
    )
    ids = [c.id for c in charges]
    lines: dict[uuid.UUID, list[ChargeLine]] = defaultdict(list)
    refunds: dict[uuid.UUID, list[Refund]] = defaultdict(list)
    fixes: dict[uuid.UUID, list[Correction]] = defaultdict(list)
    if ids:
        for ln in (
            (
                await s.execute(
                    select(ChargeLine)
                    .where(ChargeLine.charge_id.in_(ids))
                    .order_by(ChargeLine.position)
                )
            )
            .scalars()
            .all()
        ):
            lines[ln.charge_id].append(ln)
        for r in (
            (
                await s.execute(
                    select(Refund).where(Refund.charge_id.in_(ids)).order_by(Refund.created_at)
                )
            )
            .scalars()
            .all()
        ):
            refunds[r.charge_id].append(r)
        for fix in (
            (
                await s.execute(
                    select(Correction)
                    .where(Correction.charge_id.in_(ids))
                    .order_by(Correction.requested_at)
                )
            )
            .scalars()
            .all()
        ):
            fixes[fix.charge_id].append(fix)
    await _fill_providers(s, names, {c.provider_id for c in charges})
    await _fill_categories(s, names, {ln.category_id for ls in lines.values() for ln in ls})
    await _fill_people(
        s,
        names,
        [f.requested_by for fs in fixes.values() for f in fs]
        + [f.decided_by for fs in fixes.values() for f in fs],
    )
    return [
        {
            "id": str(c.id),
            "created_at": _iso(c.created_at),
            "provider": names.providers.get(c.provider_id),
            "status": c.status,
            "period": c.period,
            "total_cents": c.total_cents,
            "refunded_cents": c.refunded_cents,
            "client_share_cents": c.client_share_cents,
            "lines": [
                {
                    "service": names.categories.get(ln.category_id),
                    "quantity": ln.quantity,
                    "unit_price_cents": ln.unit_price_cents,
                    "amount_cents": ln.amount_cents,
                    "refunded_cents": ln.refunded_cents,
                    "client_share_cents": ln.client_share_cents,
                    "envelope_id": ln.envelope_id,
                }
                for ln in lines.get(c.id, [])
            ],
            "refunds": [
                {
                    "created_at": _iso(r.created_at),
                    "amount_cents": r.amount_cents,
                    "to_envelope": r.to_envelope,
                    "reason": r.reason,
                }
                for r in refunds.get(c.id, [])
            ],
            "corrections": [
                {
                    "requested_at": _iso(f.requested_at),
                    "requested_by": names.person(f.requested_by),
                    "amount_cents": f.amount_cents,
                    "reason": f.reason,
                    "status": f.status,
                    "decided_by": names.person(f.decided_by),
                    "decided_at": _iso(f.decided_at),
                    "decision_note": f.decision_note,
                }
                for f in fixes.get(c.id, [])
            ],
        }
        for c in charges
    ]


async def _holds(s: AsyncSession, wallet_id: uuid.UUID, names: _Names) -> list[dict[str, Any]]:
    holds = list(
        (await s.execute(select(Hold).where(Hold.wallet_id == wallet_id).order_by(Hold.created_at)))
        .scalars()
        .all()
    )
    lines: dict[uuid.UUID, list[HoldLine]] = defaultdict(list)
    if holds:
        for ln in (
            (
                await s.execute(
                    select(HoldLine)
                    .where(HoldLine.hold_id.in_([h.id for h in holds]))
                    .order_by(HoldLine.position)
                )
            )
            .scalars()
            .all()
        ):
            lines[ln.hold_id].append(ln)
    await _fill_providers(s, names, {h.provider_id for h in holds})
    await _fill_categories(s, names, {ln.category_id for ls in lines.values() for ln in ls})
    return [
        {
            "id": str(h.id),
            "created_at": _iso(h.created_at),
            # A visit (check-in and check-out) or the money behind a payment request.
            "purpose": h.purpose,
            "provider": names.providers.get(h.provider_id),
            "status": h.status,
            "amount_cents": h.amount_cents,
            "captured_cents": h.captured_cents,
            "period": h.period,
            "charge_id": _s(h.charge_id),
            "expires_at": _iso(h.expires_at),
            "closed_at": _iso(h.closed_at),
            "lines": [
                {
                    "service": names.categories.get(ln.category_id),
                    "quantity": ln.quantity,
                    "unit_price_cents": ln.unit_price_cents,
                    "amount_cents": ln.amount_cents,
                    "envelope_id": ln.envelope_id,
                }
                for ln in lines.get(h.id, [])
            ],
        }
        for h in holds
    ]


async def _statements(s: AsyncSession, wallet_id: uuid.UUID) -> list[dict[str, Any]]:
    """Each month with any movement, as its statement sums it (``statements.wallet_flows``),
    and whether its ``statement.ready`` notice was sent."""
    per_period = await wallet_flows(s, wallet_id)
    noticed = {
        str(p): created
        for p, created in (
            await s.execute(
                select(StatementNotice.period, StatementNotice.created_at).where(
                    StatementNotice.wallet_id == wallet_id
                )
            )
        ).all()
    }
    now = current_period()
    out = []
    balance = 0
    for period in sorted(set(per_period) | set(noticed)):
        f = per_period.get(period, Flow())
        opening = balance
        balance += f.net
        out.append(
            {
                "period": period,
                "closed": period < now,
                "opening_cents": opening,
                "funded_cents": f.funded,
                "spent_cents": f.spent,
                "refunded_cents": f.refunded,
                "expired_cents": f.expired,
                "other_cents": f.other,
                "closing_cents": balance,
                "notice_sent_at": _iso(noticed.get(period)),
            }
        )
    return out


async def _carers(
    s: AsyncSession, client_id: uuid.UUID, person_ids: list[uuid.UUID], names: _Names
) -> list[dict[str, Any]]:
    """Mandates over the client (their carers) and, should any of the client's identities act
    as a carer, the mandates it holds."""
    conds = [Mandate.client_id == client_id]
    if person_ids:
        conds.append(Mandate.carer_id.in_(person_ids))
    rows = list((await s.execute(select(Mandate).where(or_(*conds)))).scalars().all())
    await _fill_people(s, names, {m.carer_id for m in rows})
    return [
        {
            "direction": "carer_of_client" if m.client_id == client_id else "held_by_client",
            "carer": names.person(m.carer_id),
            "scopes": m.scopes.split(),
            "valid_until": _iso(m.valid_until),
            "accepted_at": _iso(m.accepted_at),
            "declined_at": _iso(m.declined_at),
            "revoked_at": _iso(m.revoked_at),
        }
        for m in rows
    ]


async def _sign_in(
    s: AsyncSession, person_ids: list[uuid.UUID], names: _Names
) -> dict[str, list[dict[str, Any]]]:
    if not person_ids:
        return {"invites": [], "passkeys": [], "sessions": [], "api_keys": []}
    invites = (
        (
            await s.execute(
                select(Invite)
                .where(Invite.principal_id.in_(person_ids))
                .order_by(Invite.created_at)
            )
        )
        .scalars()
        .all()
    )
    await _fill_people(s, names, {i.created_by for i in invites})
    passkeys = (
        (
            await s.execute(
                select(Passkey)
                .where(Passkey.principal_id.in_(person_ids))
                .order_by(Passkey.created_at)
            )
        )
        .scalars()
        .all()
    )
    sessions = (
        (
            await s.execute(
                select(WebSession)
                .where(WebSession.principal_id.in_(person_ids))
                .order_by(WebSession.created_at)
            )
        )
        .scalars()
        .all()
    )
    keys = (
        (
            await s.execute(
                select(ApiKey)
                .where(ApiKey.principal_id.in_(person_ids))
                .order_by(ApiKey.created_at)
            )
        )
        .scalars()
        .all()
    )
    return {
        "invites": [
            {
                "created_at": _iso(i.created_at),
                "created_by": names.person(i.created_by),
                "expires_at": _iso(i.expires_at),
                "used_at": _iso(i.used_at),
                "revoked_at": _iso(i.revoked_at),
            }
            for i in invites
        ],
        "passkeys": [
            {
                "name": p.name,
                "credential_id": p.credential_id,
                "backed_up": p.backed_up,
                "created_at": _iso(p.created_at),
                "last_used_at": _iso(p.last_used_at),
                "revoked_at": _iso(p.revoked_at),
            }
            for p in passkeys
        ],
        "sessions": [
            {
                "created_at": _iso(w.created_at),
                "last_seen_at": _iso(w.last_seen_at),
                "expires_at": _iso(w.expires_at),
                "ended_at": _iso(w.ended_at),
            }
            for w in sessions
        ],
        "api_keys": [
            {"name": k.name, "created_at": _iso(k.created_at), "revoked_at": _iso(k.revoked_at)}
            for k in keys
        ],
    }


async def _notification_rows(
    s: AsyncSession, person_ids: list[uuid.UUID]
) -> dict[str, list[dict[str, Any]]]:
    if not person_ids:
        return {"push_devices": [], "notification_settings": [], "low_balance_alerts": []}
    push = (
        await s.execute(
            select(_PUSH.c.endpoint, _PUSH.c.created_at, _PUSH.c.last_success_at)
            .where(_PUSH.c.principal_id.in_(person_ids))
            .order_by(_PUSH.c.created_at)
        )
    ).all()
    prefs = (
        await s.execute(
            select(
                _PREFS.c.types,
                _PREFS.c.hide_amounts,
                _PREFS.c.low_balance_cents,
                _PREFS.c.language,
                _PREFS.c.updated_at,
            ).where(_PREFS.c.principal_id.in_(person_ids))
        )
    ).all()
    low = (
        await s.execute(
            select(
                _LOW.c.account_id,
                _LOW.c.period,
                _LOW.c.balance_cents,
                _LOW.c.threshold_cents,
                _LOW.c.created_at,
            )
            .where(_LOW.c.principal_id.in_(person_ids))
            .order_by(_LOW.c.created_at)
        )
    ).all()
    return {
        # The endpoint's host says which push service (Google, Apple, Mozilla) the device
        # uses; the rest of the URL and the encryption keys are the device's secret.
        "push_devices": [
            {
                "push_service": urlsplit(str(endpoint)).hostname,
                "created_at": _iso(created),
                "last_success_at": _iso(last),
            }
            for endpoint, created, last in push
        ],
        "notification_settings": [
            {
                "types": dict(types or {}),
                "hide_amounts": bool(hide),
                "low_balance_cents": _int(low_cents),
                "language": language,
                "updated_at": _iso(updated),
            }
            for types, hide, low_cents, language, updated in prefs
        ],
        "low_balance_alerts": [
            {
                "envelope_id": _int(account),
                "period": period,
                "balance_cents": _int(balance),
                "threshold_cents": _int(threshold),
                "created_at": _iso(created),
            }
            for account, period, balance, threshold, created in low
        ],
    }


async def _sms(
    s: AsyncSession, wallet_id: uuid.UUID | None, names: _Names
) -> dict[str, list[dict[str, Any]]]:
    """The numbers that receive the wallet's text messages and the texts sent to them. A text
    waiting for its code shows ``{code}``: codes are never stored readable."""
    if wallet_id is None:
        return {"sms_numbers": [], "sms_texts": []}
    numbers = (
        await s.execute(
            select(
                _SMS_OPTINS.c.id,
                _SMS_OPTINS.c.principal_id,
                _SMS_OPTINS.c.phone_e164,
                _SMS_OPTINS.c.language,
                _SMS_OPTINS.c.events,
                _SMS_OPTINS.c.confirmed_at,
                _SMS_OPTINS.c.created_at,
            )
            .where(_SMS_OPTINS.c.wallet_id == wallet_id)
            .order_by(_SMS_OPTINS.c.created_at)
        )
    ).all()
    texts: Sequence[Any] = []
    if numbers:
        texts = (
            await s.execute(
                select(
                    _SMS_MESSAGES.c.phone_e164,
                    _SMS_MESSAGES.c.kind,
                    _SMS_MESSAGES.c.body,
                    _SMS_MESSAGES.c.status,
                    _SMS_MESSAGES.c.created_at,
                    _SMS_MESSAGES.c.sent_at,
                )
                .where(_SMS_MESSAGES.c.optin_id.in_([n[0] for n in numbers]))
                .order_by(_SMS_MESSAGES.c.created_at)
            )
        ).all()
    await _fill_people(s, names, (n[1] for n in numbers))
    return {
        "sms_numbers": [
            {
                "phone": phone,
                "person": names.person(person),
                "language": language,
                "events": list(events or []),
                "confirmed_at": _iso(confirmed),
                "created_at": _iso(created),
            }
            for _id, person, phone, language, events, confirmed, created in numbers
        ],
        "sms_texts": [
            {
                "phone": phone,
                "kind": kind,
                "text": body,
                "status": status,
                "created_at": _iso(created),
                "sent_at": _iso(sent),
            }
            for phone, kind, body, status, created, sent in texts
        ],
    }


async def _audit(
    s: AsyncSession,
    organizer_id: uuid.UUID,
    client_id: uuid.UUID,
    person_ids: list[uuid.UUID],
    card_numbers: list[str],
) -> list[dict[str, Any]]:
    """Every audit event about the client (who viewed or changed their data), every act of the
    client's own identities, and what staff did to the client's QR cards (by the card's number
    too: its changes named only the card before migration 0022), oldest first."""
    conds = [AuditEvent.subject_client_id == client_id]
    if person_ids:
        conds.append(AuditEvent.actor_id.in_(person_ids))
    if card_numbers:
        conds.append(
            and_(
                AuditEvent.organizer_id == organizer_id,
                AuditEvent.action.startswith("card."),
                AuditEvent.detail.in_([f"card {n}" for n in card_numbers]),
            )
        )
    rows = (
        await s.execute(
            select(AuditEvent, Principal.display_name, Principal.role)
            .outerjoin(Principal, Principal.id == AuditEvent.actor_id)
            .where(or_(*conds))
            .order_by(AuditEvent.id)
        )
    ).all()
    # As "who looked at my data" shows them: the details (internal ids) are left out.
    return [
        {
            "created_at": _iso(e.created_at),
            "action": e.action,
            "actor": name,
            "actor_role": role,
            "by_client": e.actor_id in person_ids if e.actor_id else False,
        }
        for e, name, role in rows
    ]
