"""Corrections: a case manager corrects a wrong charge after its month has closed (issue 18).

While a charge's month is open the provider refunds it, back to the client's envelope. Once the
month has closed, a refund goes to the organizer's budget (``refund_closed``), and only the
provider can make it. A correction is the county's own way: a case manager takes (part of) the
charge back from the provider's payable account to the organizer's budget by a ``correction``
transfer, with a reason. The client's envelope is never refilled: a closed month stays closed,
and the envelope never holds more than one month's budget. If the provider has already been
paid, its payable goes below zero and the next settlement nets it off.

Above the organizer's ``correction_approval_above_cents`` a correction waits (``pending``) for a
second case manager, who may not be the one who asked; at or below it the case manager's own
word moves the money at once. Either way the money moves in the transaction that approves it:

* bounded with refunds by one conditional update of the charge's ``refunded_cents``
  (:func:`payments.checkout.charges.take_back`), so refunds and corrections together never
  exceed what the wallet paid;
* approved once: the approving UPDATE claims the pending row (``decided_by IS NULL``), so of two
  case managers approving at once exactly one moves money; the transfer's ``dedupe_key`` is the
  correction's id, and ``transfer_id`` is unique;
* audited (``charge.correction_requested``, ``charge.corrected``, ``charge.correction_rejected``)
  and told (``charge.corrected`` in the outbox) in the same transaction.

``wallet check`` proves every approved correction has its transfer of the same amount and
charge, and every ``correction`` transfer its approved correction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from payments import idempotency
from payments.checkout.charges import MAX_LINES, MAX_UNIT_PRICE_CENTS, take_back
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    CorrectionNotPending,
    CorrectionTooLarge,
    InvalidInput,
    MonthStillOpen,
    NotFound,
    SecondApproverRequired,
)
from payments.ledger import transfers
from payments.models import (
    Account,
    Charge,
    ChargeLine,
    Client,
    Correction,
    Organizer,
    Principal,
    Provider,
    Transfer,
    Wallet,
)
from payments.outbox import CHARGE_CORRECTED, emit
from payments.people import audit
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, CorrectionStatus, TransferKind

MAX_REASON = 500
MAX_APPROVAL_LIMIT_CENTS = 100_000_000  # a million euros: anything above is a typo


def check_reason(reason: object, *, required: bool = True) -> str | None:
    """A reason or note: printable text of at most 500 characters (required for a correction)."""
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        if required:
            raise InvalidInput("Give the reason for the correction", field="reason")
        return None
    if (
        not isinstance(reason, str)
        or len(reason) > MAX_REASON
        or not reason.replace("\n", "").isprintable()
    ):
        raise InvalidInput(
            f"The reason is text of at most {MAX_REASON} printable characters", field="reason"
        )
    return reason.strip()


def _check_amount(amount_cents: object) -> int:
    if (
        not isinstance(amount_cents, int)
        or isinstance(amount_cents, bool)
        or not 0 < amount_cents <= MAX_UNIT_PRICE_CENTS * MAX_LINES
    ):
        raise InvalidInput("amount_cents must be a positive whole number of cents")
    return amount_cents


async def _month_closed(s: AsyncSession, charge: Charge) -> bool:
    """Whether the month the charge's money belongs to has closed for every envelope it came
    from: none is still funded for that month and unexpired. Months only ever close, so a
    "closed" read here stays true until the transaction commits."""
    period = (
        await s.execute(
            select(func.min(Transfer.period)).where(
                Transfer.charge_id == charge.id, Transfer.kind == TransferKind.CHARGE
            )
        )
    ).scalar_one_or_none() or charge.period
    still_open = await s.execute(
        select(
            exists().where(
                Account.id.in_(
                    select(ChargeLine.envelope_id).where(ChargeLine.charge_id == charge.id)
                ),
                Account.funded_period == period,
                (Account.expired_period.is_(None)) | (Account.expired_period < period),
            )
        )
    )
    return not still_open.scalar_one()


async def _client_of(s: AsyncSession, wallet_id: uuid.UUID) -> uuid.UUID:
    return uuid.UUID(
        str((await s.execute(select(Wallet.client_id).where(Wallet.id == wallet_id))).scalar_one())
    )


async def correct_charge(
    db: Database,
    *,
    case_manager_id: uuid.UUID,
    organizer_id: uuid.UUID,
    charge_id: uuid.UUID,
    amount_cents: int,
    reason: str,
    idempotency_key: str,
    request_hash: str,
    now: datetime | None = None,
) -> Outcome:
    """Correct part or all of a charge of a closed month (see the module doc).

    At or below the organizer's limit the money moves at once (``CREATED``, status
    ``approved``); above it the correction waits for a second case manager
    (``PENDING_APPROVAL``, status ``pending``). Refused: ``month-open`` while the charge's month
    is open (the provider refunds it), ``correction-exceeds-charge`` beyond what is left of the
    charge after its refunds, corrections and other pending corrections."""
    amount = _check_amount(amount_cents)
    text = check_reason(reason)
    assert text is not None
    now = now or utcnow()
    scope = f"correction:{case_manager_id}"
    async with UnitOfWork(db) as uow:
        s = uow.session
        replay = await idempotency.claim(
            s, scope=scope, key=idempotency_key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return replay
        charge = (
            await s.execute(
                select(Charge).where(Charge.id == charge_id, Charge.organizer_id == organizer_id)
            )
        ).scalar_one_or_none()
        if charge is None:
            raise NotFound("No such charge")
        if not await _month_closed(s, charge):
            raise MonthStillOpen()
        waiting = int(
            (
                await s.execute(
                    select(func.coalesce(func.sum(Correction.amount_cents), 0)).where(
                        Correction.charge_id == charge_id,
                        Correction.status == CorrectionStatus.PENDING,
                    )
                )
            ).scalar_one()
        )
        left = charge.total_cents - charge.refunded_cents - waiting
        if amount > left:
            raise CorrectionTooLarge(
                f"At most {max(left, 0)} cents of this charge can still be corrected"
            )
        limit = await _limit(s, organizer_id)
        correction = Correction(
            id=uuid.uuid4(),
            organizer_id=organizer_id,
            charge_id=charge_id,
            amount_cents=amount,
            reason=text,
            status=CorrectionStatus.PENDING,
            requested_by=case_manager_id,
            requested_at=now,
        )
        s.add(correction)
        await s.flush()
        client_id = await _client_of(s, charge.wallet_id)
        if amount > limit:
            audit.add(
                s,
                "charge.correction_requested",
                actor_id=case_manager_id,
                organizer_id=organizer_id,
                subject_client_id=client_id,
                detail=f"charge {charge_id}: {amount} cents; waits for a second case manager",
            )
            what = Happened.PENDING_APPROVAL
        else:
            await s.execute(
                update(Correction)
                .where(Correction.id == correction.id)
                .values(decided_by=case_manager_id, decided_at=now)
            )
            await _move(s, correction.id, charge, amount, case_manager_id, client_id, now)
            what = Happened.CREATED
        outcome = Outcome(what, await _view(s, correction.id))
        await idempotency.store_result(s, scope=scope, key=idempotency_key, outcome=outcome)
        await uow.commit()
        return outcome


async def approve_correction(
    db: Database,
    *,
    case_manager_id: uuid.UUID,
    organizer_id: uuid.UUID,
    correction_id: uuid.UUID,
    now: datetime | None = None,
) -> Outcome:
    """A second case manager approves a pending correction: the money moves now. Refused to
    the one who asked (``second-approver-required``) and for a decided one
    (``correction-not-pending``); ``correction-exceeds-charge`` if refunds since have left less
    of the charge than the correction (reject it then)."""
    now = now or utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        # Claims the row: of two approvers at once, the second finds decided_by set.
        claimed = (
            await s.execute(
                update(Correction)
                .where(
                    Correction.id == correction_id,
                    Correction.organizer_id == organizer_id,
                    Correction.status == CorrectionStatus.PENDING,
                    Correction.decided_by.is_(None),
                    Correction.requested_by != case_manager_id,
                )
                .values(decided_by=case_manager_id, decided_at=now)
                .returning(Correction.charge_id, Correction.amount_cents)
            )
        ).first()
        if claimed is None:
            await _why_not(s, correction_id, organizer_id, case_manager_id)
        assert claimed is not None
        charge = (
            await s.execute(select(Charge).where(Charge.id == claimed.charge_id))
        ).scalar_one()
        client_id = await _client_of(s, charge.wallet_id)
        await _move(
            s, correction_id, charge, int(claimed.amount_cents), case_manager_id, client_id, now
        )
        outcome = Outcome(Happened.DONE, await _view(s, correction_id))
        await uow.commit()
        return outcome


async def reject_correction(
    db: Database,
    *,
    case_manager_id: uuid.UUID,
    organizer_id: uuid.UUID,
    correction_id: uuid.UUID,
    note: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Reject a pending correction: nothing moves. Another case manager rejects it, or the one
    who asked withdraws it."""
    text = check_reason(note, required=False)
    now = now or utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        done = (
            await s.execute(
                update(Correction)
                .where(
                    Correction.id == correction_id,
                    Correction.organizer_id == organizer_id,
                    Correction.status == CorrectionStatus.PENDING,
                    Correction.decided_by.is_(None),
                )
                .values(
                    status=CorrectionStatus.REJECTED,
                    decided_by=case_manager_id,
                    decided_at=now,
                    decision_note=text,
                )
                .returning(Correction.charge_id, Correction.amount_cents)
            )
        ).first()
        if done is None:
            await _why_not(s, correction_id, organizer_id, None)
        assert done is not None
        wallet_id = (
            await s.execute(select(Charge.wallet_id).where(Charge.id == done.charge_id))
        ).scalar_one()
        audit.add(
            s,
            "charge.correction_rejected",
            actor_id=case_manager_id,
            organizer_id=organizer_id,
            subject_client_id=await _client_of(s, wallet_id),
            detail=f"charge {done.charge_id}: {done.amount_cents} cents",
        )
        outcome = Outcome(Happened.DONE, await _view(s, correction_id))
        await uow.commit()
        return outcome


async def _why_not(
    s: AsyncSession,
    correction_id: uuid.UUID,
    organizer_id: uuid.UUID,
    approver_id: uuid.UUID | None,
) -> None:
    row = (
        await s.execute(
            select(Correction.status, Correction.requested_by).where(
                Correction.id == correction_id, Correction.organizer_id == organizer_id
            )
        )
    ).first()
    if row is None:
        raise NotFound("No such correction")
    if row.status == CorrectionStatus.PENDING and row.requested_by == approver_id:
        raise SecondApproverRequired()
    raise CorrectionNotPending()


async def _move(
    s: AsyncSession,
    correction_id: uuid.UUID,
    charge: Charge,
    amount: int,
    case_manager_id: uuid.UUID,
    client_id: uuid.UUID,
    now: datetime,
) -> None:
    """Move a correction's money (payable -> organizer budget) and mark it approved."""
    await take_back(s, charge, amount, CorrectionTooLarge, "corrected")
    payable = await transfers.provider_payable_account(s, charge.provider_id)
    budget = await transfers.organizer_account(s, charge.organizer_id, AccountKind.ORGANIZER_BUDGET)
    dedupe_key = f"correction:{correction_id}"
    await transfers.move(
        s,
        payable,
        transfers.Leg(
            budget, amount, TransferKind.CORRECTION, charge_id=charge.id, dedupe_key=dedupe_key
        ),
        organizer_id=charge.organizer_id,
        period=charge.period,
        now=now,
    )
    transfer_id = (
        await s.execute(select(Transfer.id).where(Transfer.dedupe_key == dedupe_key))
    ).scalar_one()
    await s.execute(
        update(Correction)
        .where(Correction.id == correction_id)
        .values(status=CorrectionStatus.APPROVED, transfer_id=transfer_id)
    )
    audit.add(
        s,
        "charge.corrected",
        actor_id=case_manager_id,
        organizer_id=charge.organizer_id,
        subject_client_id=client_id,
        detail=f"charge {charge.id}: {amount} cents back to the organizer's budget",
    )
    await emit(
        s,
        type=CHARGE_CORRECTED,
        organizer_id=charge.organizer_id,
        wallet_id=charge.wallet_id,
        provider_id=charge.provider_id,
        now=now,
        payload={
            "id": str(correction_id),
            "charge_id": str(charge.id),
            "wallet_id": str(charge.wallet_id),
            "amount_cents": amount,
            "period": charge.period,
            "created_at": now.isoformat(),
        },
    )


# --- reading ---------------------------------------------------------------------------------


@dataclass
class CorrectionView:
    id: uuid.UUID
    charge_id: uuid.UUID
    wallet_id: uuid.UUID
    client_name: str
    provider_name: str
    period: str
    charge_total_cents: int
    amount_cents: int
    reason: str
    status: str
    requested_by: uuid.UUID
    requested_by_name: str
    requested_at: datetime
    decided_by: uuid.UUID | None
    decided_by_name: str | None
    decided_at: datetime | None
    decision_note: str | None


def _select_views() -> Any:
    asker, decider = aliased(Principal), aliased(Principal)
    return (
        select(
            Correction,
            Charge.wallet_id,
            Charge.period,
            Charge.total_cents,
            Client.first_name,
            Client.last_name,
            Provider.name,
            asker.display_name,
            decider.display_name,
        )
        .join(Charge, Charge.id == Correction.charge_id)
        .join(Wallet, Wallet.id == Charge.wallet_id)
        .join(Client, Client.id == Wallet.client_id)
        .join(Provider, Provider.id == Charge.provider_id)
        .join(asker, asker.id == Correction.requested_by)
        .outerjoin(decider, and_(decider.id == Correction.decided_by))
    )


def _to_view(row: Any) -> CorrectionView:
    c: Correction = row[0]
    return CorrectionView(
        id=c.id,
        charge_id=c.charge_id,
        wallet_id=row[1],
        client_name=f"{row[4]} {row[5]}",
        provider_name=str(row[6]),
        period=str(row[2]),
        charge_total_cents=int(row[3]),
        amount_cents=c.amount_cents,
        reason=c.reason,
        status=c.status,
        requested_by=c.requested_by,
        requested_by_name=str(row[7]),
        requested_at=c.requested_at,
        # A pending correction being approved has decided_by set only inside that transaction.
        decided_by=c.decided_by if c.status != CorrectionStatus.PENDING else None,
        decided_by_name=str(row[8]) if c.status != CorrectionStatus.PENDING else None,
        decided_at=c.decided_at if c.status != CorrectionStatus.PENDING else None,
        decision_note=c.decision_note,
    )


def view_body(v: CorrectionView) -> dict[str, Any]:
    """A correction as JSON-able plain data (what a use case stores for its replay)."""
    return {
        "id": str(v.id),
        "charge_id": str(v.charge_id),
        "wallet_id": str(v.wallet_id),
        "client_name": v.client_name,
        "provider_name": v.provider_name,
        "period": v.period,
        "charge_total_cents": v.charge_total_cents,
        "amount_cents": v.amount_cents,
        "reason": v.reason,
        "status": v.status,
        "requested_by": str(v.requested_by),
        "requested_by_name": v.requested_by_name,
        "requested_at": v.requested_at.isoformat(),
        "decided_by": str(v.decided_by) if v.decided_by else None,
        "decided_by_name": v.decided_by_name,
        "decided_at": v.decided_at.isoformat() if v.decided_at else None,
        "decision_note": v.decision_note,
    }


async def _view(s: AsyncSession, correction_id: uuid.UUID) -> dict[str, Any]:
    s.expire_all()
    row = (await s.execute(_select_views().where(Correction.id == correction_id))).one()
    return view_body(_to_view(row))


async def list_corrections(
    db: Database,
    organizer_id: uuid.UUID,
    *,
    status: str | None = None,
    charge_id: uuid.UUID | None = None,
    limit: int = 100,
) -> list[CorrectionView]:
    """The organizer's corrections: waiting ones first (oldest first, the order to decide
    them), then the decided ones, newest first."""
    if status is not None and status not in set(CorrectionStatus):
        raise InvalidInput(f"status is one of {', '.join(CorrectionStatus)}", field="status")
    stmt = _select_views().where(Correction.organizer_id == organizer_id)
    if status is not None:
        stmt = stmt.where(Correction.status == status)
    if charge_id is not None:
        stmt = stmt.where(Correction.charge_id == charge_id)
    pending_first = (Correction.status != CorrectionStatus.PENDING).asc()
    stmt = stmt.order_by(
        pending_first,
        # Waiting ones oldest first; decided ones newest first.
        func.coalesce(Correction.decided_at, Correction.requested_at).desc(),
        Correction.id,
    ).limit(limit)
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(stmt)).all()
    return [_to_view(r) for r in rows]


async def set_approval_limit(
    db: Database, organizer_id: uuid.UUID, limit_cents: int, *, actor_id: uuid.UUID | None = None
) -> int:
    """Set the amount above which a correction waits for a second case manager (audited)."""
    if (
        not isinstance(limit_cents, int)
        or isinstance(limit_cents, bool)
        or not 0 <= limit_cents <= MAX_APPROVAL_LIMIT_CENTS
    ):
        raise InvalidInput(
            f"The limit is whole cents from 0 to {MAX_APPROVAL_LIMIT_CENTS}",
            field="correction_approval_above_cents",
        )
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Organizer)
            .where(Organizer.id == organizer_id)
            .values(correction_approval_above_cents=limit_cents)
        )
        audit.add(
            uow.session,
            "organizer.correction_limit_set",
            actor_id=actor_id,
            organizer_id=organizer_id,
            detail=f"corrections above {limit_cents} cents wait for a second case manager",
        )
        await uow.commit()
    return limit_cents


async def approval_limit(db: Database, organizer_id: uuid.UUID) -> int:
    """The amount above which the organizer's corrections wait for a second case manager."""
    async with UnitOfWork(db, readonly=True) as uow:
        return await _limit(uow.session, organizer_id)


async def _limit(s: AsyncSession, organizer_id: uuid.UUID) -> int:
    stmt = select(Organizer.correction_approval_above_cents).where(Organizer.id == organizer_id)
    return int((await s.execute(stmt)).scalar_one())
