"""What each row of a wallet's history was about: the provider, the services and, for money
held for a payment request or a visit, what became of it.

The history is the envelopes' transfers (so its rows add up to the balance). A charge and a
refund name their charge; a hold and its release name no row, so they are matched to their
hold by what the hold's use case wrote in the same instant: the hold line's envelope and hold
account, and the hold's ``created_at`` (the hold transfer) or ``closed_at`` (the release).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import (
    Charge,
    ChargeLine,
    Hold,
    HoldLine,
    PaymentRequest,
    Provider,
    ServiceCategory,
    Transfer,
)
from payments.vocabulary import TransferKind

CHARGED = (TransferKind.CHARGE, TransferKind.REFUND)


@dataclass
class About:
    """One history row's story."""

    provider_name: str | None = None
    services: list[dict[str, Any]] = field(default_factory=list)
    hold: dict[str, Any] | None = None


def _name_col(lang: str) -> Any:
    return {
        "fi": ServiceCategory.name_fi,
        "sv": ServiceCategory.name_sv,
        "en": ServiceCategory.name_en,
    }.get(lang, ServiceCategory.name_fi)


async def describe(
    s: AsyncSession, rows: list[Transfer], env_set: set[int], lang: str
) -> dict[int, About]:
    """``About`` per transfer id, for the charges, refunds, holds and releases among ``rows``."""
    out: dict[int, About] = {}
    name = _name_col(lang)
    # Holds and releases: (hold account, envelope, instant) -> the transfer.
    placed: dict[tuple[int, int, datetime], Transfer] = {}
    released: dict[tuple[int, int, datetime], Transfer] = {}
    for t in rows:
        if t.kind == TransferKind.HOLD and t.debit_account_id in env_set:
            placed[(t.credit_account_id, t.debit_account_id, t.created_at)] = t
        elif t.kind == TransferKind.HOLD_RELEASE and t.credit_account_id in env_set:
            released[(t.debit_account_id, t.credit_account_id, t.created_at)] = t
    hold_of: dict[int, tuple[Hold, int]] = {}  # transfer id -> (hold, envelope)
    if placed or released:
        instants = {k[2] for k in placed} | {k[2] for k in released}
        accounts = {k[0] for k in placed} | {k[0] for k in released}
        found = (
            await s.execute(
                select(Hold, HoldLine.hold_account_id, HoldLine.envelope_id)
                .join(HoldLine, HoldLine.hold_id == Hold.id)
                .where(
                    HoldLine.hold_account_id.in_(accounts),
                    (Hold.created_at.in_(instants)) | (Hold.closed_at.in_(instants)),
                )
                .order_by(Hold.created_at, Hold.id)
            )
        ).all()
        for hold, acc, env in found:
            at_placing = placed.get((int(acc), int(env), hold.created_at))
            if at_placing is not None:
                hold_of.setdefault(at_placing.id, (hold, int(env)))
            if hold.closed_at is not None:
                at_release = released.get((int(acc), int(env), hold.closed_at))
                if at_release is not None:
                    hold_of.setdefault(at_release.id, (hold, int(env)))
    # Every charge a row names, directly or through its hold.
    charge_of: dict[int, tuple[uuid.UUID, int]] = {}  # transfer id -> (charge, envelope)
    for t in rows:
        if t.kind in CHARGED and t.charge_id is not None:
            env = t.debit_account_id if t.debit_account_id in env_set else t.credit_account_id
            charge_of[t.id] = (t.charge_id, env)
    for tid, (hold, env) in hold_of.items():
        if hold.charge_id is not None:
            charge_of[tid] = (hold.charge_id, env)
    lines: dict[tuple[uuid.UUID, int], list[dict[str, Any]]] = defaultdict(list)
    providers: dict[uuid.UUID, str] = {}
    charge_ids = {c for c, _ in charge_of.values()}
    if charge_ids:
        for cid, env, code, label, unit, qty, pname in (
            await s.execute(
                select(
                    ChargeLine.charge_id,
                    ChargeLine.envelope_id,
                    ServiceCategory.code,
                    name,
                    ServiceCategory.unit,
                    ChargeLine.quantity,
                    Provider.name,
                )
                .join(Charge, Charge.id == ChargeLine.charge_id)
                .join(Provider, Provider.id == Charge.provider_id)
                .join(ServiceCategory, ServiceCategory.id == ChargeLine.category_id)
                .where(ChargeLine.charge_id.in_(charge_ids))
                .order_by(ChargeLine.charge_id, ChargeLine.position)
            )
        ).all():
            providers[cid] = str(pname)
            lines[(cid, int(env))].append(
                {"code": code, "name": label, "unit": unit, "quantity": _qty(qty)}
            )
    held_lines: dict[tuple[uuid.UUID, int], list[dict[str, Any]]] = defaultdict(list)
    hold_ids = {h.id for h, _ in hold_of.values()}
    hold_extra: dict[uuid.UUID, tuple[str | None, str | None]] = {}
    if hold_ids:
        for hid, env, code, label, unit, qty in (
            await s.execute(
                select(
                    HoldLine.hold_id,
                    HoldLine.envelope_id,
                    ServiceCategory.code,
                    name,
                    ServiceCategory.unit,
                    HoldLine.quantity,
                )
                .join(ServiceCategory, ServiceCategory.id == HoldLine.category_id)
                .where(HoldLine.hold_id.in_(hold_ids))
                .order_by(HoldLine.hold_id, HoldLine.position)
            )
        ).all():
            held_lines[(hid, int(env))].append(
                {"code": code, "name": label, "unit": unit, "quantity": _qty(qty)}
            )
        for hid, pname, request_status in (
            await s.execute(
                select(Hold.id, Provider.name, PaymentRequest.status)
                .join(Provider, Provider.id == Hold.provider_id)
                .outerjoin(PaymentRequest, PaymentRequest.hold_id == Hold.id)
                .where(Hold.id.in_(hold_ids))
            )
        ).all():
            hold_extra[hid] = (str(pname), request_status)
    for t in rows:
        about = About()
        if t.id in hold_of:
            hold, env = hold_of[t.id]
            holder, asked = hold_extra.get(hold.id, (None, None))
            about.provider_name = holder
            about.hold = {
                "purpose": hold.purpose,
                "status": hold.status,
                "amount_cents": hold.amount_cents,
                "captured_cents": hold.captured_cents,
                "request_status": asked,
            }
            about.services = held_lines.get((hold.id, env), [])
        if t.id in charge_of:
            cid, env = charge_of[t.id]
            about.provider_name = providers.get(cid, about.provider_name)
            about.services = lines.get((cid, env)) or about.services
        if about.provider_name or about.hold or about.services:
            out[t.id] = about
    return out


def _qty(q: Any) -> str | None:
    return None if q is None else str(q)
