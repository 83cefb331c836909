"""Read models: a wallet with its envelopes, a wallet's history, a provider's charges.

Reads run in read-only units of work; they never take SQLite's write lock.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Uuid, and_, column, func, or_, select, table
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from payments.db import Database
from payments.errors import NotFound
from payments.ledger.periods import current_period, next_period, period_start_utc
from payments.models import (
    Account,
    Charge,
    ChargeLine,
    Client,
    Correction,
    Decision,
    DecisionLine,
    DecisionLineCategory,
    Hold,
    PaymentRequest,
    Principal,
    Provider,
    QrCard,
    ServiceCategory,
    Settlement,
    Transfer,
    Wallet,
)
from payments.reporting import history
from payments.reporting.cursors import decode_cursor, encode_cursor
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, TransferKind

MAX_PAGE = 100


# Every kind of row a request can name by id, and the column that says whose it is.
OwnedKind = Literal[
    "wallet",
    "client",
    "provider",
    "charge",
    "hold",
    "payment_request",
    "card",
    "settlement",
    "principal",
    "correction",
    "webhook_endpoint",
    "webhook_delivery",
    "sms_optin",
]
# notifications' webhook and SMS tables, by name (payments may not import notifications).
_WEBHOOK_ENDPOINTS = table(
    "webhook_endpoints", column("id", Uuid()), column("organizer_id", Uuid())
)
_WEBHOOK_DELIVERIES = table(
    "webhook_deliveries", column("id", Uuid()), column("organizer_id", Uuid())
)
_SMS_OPTINS = table("sms_optins", column("id", Uuid()), column("organizer_id", Uuid()))
_ORGANIZER_OF = {
    "wallet": (Wallet.id, Wallet.organizer_id),
    "client": (Client.id, Client.organizer_id),
    "provider": (Provider.id, Provider.organizer_id),
    "charge": (Charge.id, Charge.organizer_id),
    "hold": (Hold.id, Hold.organizer_id),
    "payment_request": (PaymentRequest.id, PaymentRequest.organizer_id),
    "card": (QrCard.id, QrCard.organizer_id),
    "settlement": (Settlement.id, Settlement.organizer_id),
    "principal": (Principal.id, Principal.organizer_id),
    "correction": (Correction.id, Correction.organizer_id),
    "webhook_endpoint": (_WEBHOOK_ENDPOINTS.c.id, _WEBHOOK_ENDPOINTS.c.organizer_id),
    "webhook_delivery": (_WEBHOOK_DELIVERIES.c.id, _WEBHOOK_DELIVERIES.c.organizer_id),
    "sms_optin": (_SMS_OPTINS.c.id, _SMS_OPTINS.c.organizer_id),
}


async def organizer_of(db: Database, kind: OwnedKind, row_id: uuid.UUID) -> uuid.UUID | None:
    """The organizer a wallet, client, provider, charge, hold, payment request, card,
    settlement, person (principal), correction, webhook endpoint or delivery, or SMS opt-in
    belongs to, or None if there is no such row. For authorization: another organizer's rows
    are, to a caller, rows that do not exist."""
    key, organizer = _ORGANIZER_OF[kind]
    async with UnitOfWork(db, readonly=True) as uow:
        found = (await uow.session.execute(select(organizer).where(key == row_id))).first()
    return None if found is None else found[0]


async def wallet_owner(db: Database, wallet_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(organizer id, client id) of a wallet, for authorization."""
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(Wallet.organizer_id, Wallet.client_id).where(Wallet.id == wallet_id)
            )
        ).first()
    return None if row is None else (row[0], row[1])


async def wallet_with_client(s: AsyncSession, wallet_id: uuid.UUID) -> tuple[Wallet, Client]:
    """The wallet and its client, or ``not-found``."""
    found = (
        await s.execute(
            select(Wallet, Client)
            .join(Client, Client.id == Wallet.client_id)
            .where(Wallet.id == wallet_id)
        )
    ).first()
    if found is None:
        raise NotFound("No such wallet")
    return found[0], found[1]


async def wallet_view(db: Database, wallet_id: uuid.UUID) -> dict[str, Any]:
    """The wallet with each envelope: balance, the month's allotment, spent, when it expires."""
    period = current_period()
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        wallet, client = await wallet_with_client(s, wallet_id)
        envs = (
            await s.execute(
                select(Account, DecisionLine, Decision)
                .join(DecisionLine, DecisionLine.id == Account.decision_line_id)
                .join(Decision, Decision.id == DecisionLine.decision_id)
                .where(Account.wallet_id == wallet_id, Account.kind == AccountKind.ENVELOPE)
                .order_by(Account.id)
            )
        ).all()
        env_ids = [acc.id for acc, _, _ in envs]
        flows: dict[int, dict[str, int]] = {}
        if env_ids:
            signed_kind = (
                await s.execute(
                    select(
                        Account.id,
                        Transfer.kind,
                        func.sum(Transfer.amount_cents),
                    )
                    .join(
                        Transfer,
                        or_(
                            Transfer.credit_account_id == Account.id,
                            Transfer.debit_account_id == Account.id,
                        ),
                    )
                    .where(Account.id.in_(env_ids), Transfer.period == Account.funded_period)
                    .group_by(Account.id, Transfer.kind)
                )
            ).all()
            for acc_id, kind, amount in signed_kind:
                flows.setdefault(int(acc_id), {})[str(kind)] = int(amount)
        # What open holds and payment requests reserve, per decision line: the client's money
        # still, not yet spent (a request may be declined, a visit captures less).
        held: dict[uuid.UUID | None, int] = {
            line_id: int(balance or 0)
            for line_id, balance in (
                await s.execute(
                    select(Account.decision_line_id, Account.balance_cents).where(
                        Account.kind == AccountKind.HOLD,
                        Account.decision_line_id.in_([line.id for _, line, _ in envs]),
                    )
                )
            ).all()
        }
        cats = (
            await s.execute(
                select(DecisionLineCategory.line_id, ServiceCategory.code)
                .join(ServiceCategory, ServiceCategory.id == DecisionLineCategory.category_id)
                .where(DecisionLineCategory.line_id.in_([line.id for _, line, _ in envs]))
            )
        ).all()
    categories: dict[uuid.UUID, list[str]] = {}
    for line_id, code in cats:
        categories.setdefault(line_id, []).append(code)
    envelopes = []
    for acc, line, decision in envs:
        f = flows.get(acc.id, {})
        funded_period = acc.funded_period
        envelopes.append(
            {
                "id": acc.id,
                "label": line.label,
                "categories": sorted(categories.get(line.id, [])),
                "balance_cents": int(acc.balance_cents or 0),
                "monthly_amount_cents": line.monthly_amount_cents,
                "voucher_value_cents": line.voucher_value_cents,
                "period": funded_period,
                "funded_cents": f.get(TransferKind.FUNDING, 0),
                # Money out of the envelope this month: charges, and holds not released,
                # less what open holds still reserve (that is held, not spent).
                "spent_cents": f.get(TransferKind.CHARGE, 0)
                + f.get(TransferKind.HOLD, 0)
                - f.get(TransferKind.HOLD_RELEASE, 0)
                - f.get(TransferKind.REFUND, 0)
                - held.get(line.id, 0),
                "held_cents": held.get(line.id, 0),
                "expires_at": period_start_utc(next_period(funded_period)).isoformat()
                if funded_period
                else None,
                "carry_over": decision.carry_over,
                # With "capped", up to this much carries over; the rest expires at month end.
                "carry_over_cap_cents": decision.carry_over_cap_cents,
                "valid_from": decision.valid_from.isoformat(),
                "valid_to": decision.valid_to.isoformat() if decision.valid_to else None,
            }
        )
    return {
        "id": str(wallet.id),
        "client": {
            "id": str(client.id),
            "first_name": client.first_name,
            "last_name": client.last_name,
            "language": client.language,
        },
        "current_period": period,
        "envelopes": envelopes,
    }


async def wallet_history(
    db: Database,
    wallet_id: uuid.UUID,
    *,
    cursor: str | None = None,
    limit: int = 50,
    kind: str | None = None,
    period: str | None = None,
    lang: str = "fi",
) -> dict[str, Any]:
    """The wallet's transfers, newest first, paged by an opaque cursor; each says what it was
    about (:mod:`payments.reporting.history`), service names in ``lang``."""
    limit = max(1, min(limit, MAX_PAGE))
    env = aliased(Account)
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        env_ids = (
            (
                await s.execute(
                    select(env.id).where(
                        env.wallet_id == wallet_id, env.kind == AccountKind.ENVELOPE
                    )
                )
            )
            .scalars()
            .all()
        )
        if not env_ids:
            return {"items": [], "next_cursor": None}
        stmt = (
            select(Transfer, Provider.name)
            .outerjoin(Charge, Charge.id == Transfer.charge_id)
            .outerjoin(Provider, Provider.id == Charge.provider_id)
            .where(
                or_(
                    Transfer.debit_account_id.in_(env_ids),
                    Transfer.credit_account_id.in_(env_ids),
                )
            )
            .order_by(Transfer.id.desc())
            .limit(limit + 1)
        )
        if cursor:
            (before,) = decode_cursor(cursor, int)
            stmt = stmt.where(Transfer.id < before)
        if kind:
            stmt = stmt.where(Transfer.kind == kind)
        if period:
            stmt = stmt.where(Transfer.period == period)
        rows = (await s.execute(stmt)).all()
        # The client's own share above a voucher, per (charge, envelope): shown beside the
        # charge's ledger row; it is information only and never moved in the ledger.
        charge_ids = {
            t.charge_id for t, _ in rows[:limit] if t.kind == TransferKind.CHARGE and t.charge_id
        }
        shares: dict[tuple[uuid.UUID, int], int] = {}
        if charge_ids:
            for cid, env_id, share in (
                await s.execute(
                    select(
                        ChargeLine.charge_id,
                        ChargeLine.envelope_id,
                        func.sum(ChargeLine.client_share_cents),
                    )
                    .where(ChargeLine.charge_id.in_(charge_ids))
                    .group_by(ChargeLine.charge_id, ChargeLine.envelope_id)
                )
            ).all():
                shares[(cid, int(env_id))] = int(share or 0)
        env_set = set(env_ids)
        about = await history.describe(s, [t for t, _ in rows[:limit]], env_set, lang)
    items = []
    for t, provider_name in rows[:limit]:
        incoming = t.credit_account_id in env_set
        env_id = t.credit_account_id if incoming else t.debit_account_id
        story = about.get(t.id) or history.About()
        items.append(
            {
                "id": t.id,
                "kind": t.kind,
                "amount_cents": t.amount_cents if incoming else -t.amount_cents,
                "envelope_id": env_id,
                "period": t.period,
                "charge_id": str(t.charge_id) if t.charge_id else None,
                "provider_name": story.provider_name or provider_name,
                "created_at": t.created_at.isoformat(),
                "client_share_cents": shares.get((t.charge_id, env_id), 0)
                if t.kind == TransferKind.CHARGE and t.charge_id
                else 0,
                "services": story.services,
                "hold": story.hold,
            }
        )
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


async def get_charge(db: Database, charge_id: uuid.UUID) -> dict[str, Any]:
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        row = (
            await s.execute(
                select(Charge, Provider.name)
                .join(Provider, Provider.id == Charge.provider_id)
                .where(Charge.id == charge_id)
            )
        ).first()
        if row is None:
            raise NotFound("No such charge")
        charge, provider_name = row
        lines = (
            await s.execute(
                select(ChargeLine, ServiceCategory.code)
                .join(ServiceCategory, ServiceCategory.id == ChargeLine.category_id)
                .where(ChargeLine.charge_id == charge_id)
                .order_by(ChargeLine.position)
            )
        ).all()
    return _charge_body(charge, provider_name, lines)


def _charge_body(charge: Charge, provider_name: str, lines: Any) -> dict[str, Any]:
    return {
        "id": str(charge.id),
        "status": charge.status,
        "provider_id": str(charge.provider_id),
        "provider_name": provider_name,
        "wallet_id": str(charge.wallet_id),
        "total_cents": charge.total_cents,
        "client_share_cents": charge.client_share_cents,
        "refunded_cents": charge.refunded_cents,
        "period": charge.period,
        "created_at": charge.created_at.isoformat(),
        "lines": [
            {
                "category": code,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
                "amount_cents": line.amount_cents,
                "client_share_cents": line.client_share_cents,
            }
            for line, code in lines
        ],
    }


async def charge_parties(
    db: Database, charge_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID] | None:
    """(organizer, provider, wallet) of a charge, for authorization."""
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(Charge.organizer_id, Charge.provider_id, Charge.wallet_id).where(
                    Charge.id == charge_id
                )
            )
        ).first()
    return None if row is None else (row[0], row[1], row[2])


async def provider_charges(
    db: Database, provider_id: uuid.UUID, *, cursor: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """A provider's own charges, newest first."""
    limit = max(1, min(limit, MAX_PAGE))
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        stmt = (
            select(Charge, Provider.name)
            .join(Provider, Provider.id == Charge.provider_id)
            .where(Charge.provider_id == provider_id)
            .order_by(Charge.created_at.desc(), Charge.id.desc())
            .limit(limit + 1)
        )
        if cursor:
            created_at, charge_uuid = decode_cursor(cursor, datetime, uuid.UUID)
            stmt = stmt.where(
                or_(
                    Charge.created_at < created_at,
                    and_(Charge.created_at == created_at, Charge.id < charge_uuid),
                )
            )
        rows = (await s.execute(stmt)).all()
        page = rows[:limit]
        ids = [c.id for c, _ in page]
        lines_by_charge: dict[uuid.UUID, list[Any]] = {}
        if ids:
            for line, code in (
                await s.execute(
                    select(ChargeLine, ServiceCategory.code)
                    .join(ServiceCategory, ServiceCategory.id == ChargeLine.category_id)
                    .where(ChargeLine.charge_id.in_(ids))
                    .order_by(ChargeLine.position)
                )
            ).all():
                lines_by_charge.setdefault(line.charge_id, []).append((line, code))
    items = [_charge_body(c, name, lines_by_charge.get(c.id, [])) for c, name in page]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1][0]
        next_cursor = encode_cursor(last.created_at, last.id)
    return {"items": items, "next_cursor": next_cursor}
