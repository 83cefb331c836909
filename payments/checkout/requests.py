"""Phone-number checkout and payment requests (issue 4).

The provider types the client's number and the lines. A trusted provider within its caps is
captured at once. Anyone else creates a **payment request**: the amount is held right away, so
the approval cannot fail later, and the client or a carer with ``approve`` approves (the hold
is captured) or declines (voided) within the time limit; the expiry job voids what nobody
answered. A provider can also show a request as a QR (not bound to a wallet): whoever approves
it pays it, and its money moves at approval.

Every decision is a conditional ``UPDATE payment_requests SET status = ... WHERE status =
'pending'``: of an approval, a decline, a cancel and the expiry job, exactly one wins.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments import outbox
from payments.checkout import trust
from payments.checkout.charges import (
    Item,
    Pricing,
    charge_envelopes,
    per_envelope,
    write_charge,
)
from payments.checkout.holds import close_hold_money, hold_lines, transition
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    HoldNotOpen,
    NotFound,
    ProviderNotApproved,
    RequestDeclined,
    RequestExpired,
    RequestNotPending,
)
from payments.models import Hold, PaymentRequest, Provider, Wallet
from payments.outbox import emit
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from payments.vocabulary import HoldStatus, RequestStatus

REQUEST_CREATED = outbox.PAYMENT_REQUESTED
REQUEST_APPROVED = outbox.PAYMENT_APPROVED
REQUEST_DECLINED = outbox.PAYMENT_DECLINED
REQUEST_EXPIRED = outbox.PAYMENT_EXPIRED
REQUEST_CANCELLED = outbox.PAYMENT_CANCELLED
DEFAULT_REQUEST_TTL = timedelta(minutes=10)
_LINE_KEYS = ("category", "quantity", "unit_price_cents", "amount_cents")


def request_view(req: PaymentRequest, provider_name: str) -> dict[str, Any]:
    """A request as the client sees it before approving: ``total_cents`` is what the wallet
    pays, ``client_share_cents`` what the provider collects from the client outside the wallet
    (above a voucher's value; for a QR request not yet approved, known only at approval)."""
    return {
        "id": str(req.id),
        "status": req.status,
        "provider_id": str(req.provider_id),
        "provider_name": provider_name,
        "wallet_id": str(req.wallet_id) if req.wallet_id else None,
        "total_cents": req.total_cents,
        "client_share_cents": sum(int(line.get("client_share_cents", 0)) for line in req.lines),
        "lines": [
            {
                **{k: line[k] for k in _LINE_KEYS},
                "client_share_cents": int(line.get("client_share_cents", 0)),
            }
            for line in req.lines
        ],
        "charge_id": str(req.charge_id) if req.charge_id else None,
        "expires_at": req.expires_at.isoformat(),
        "created_at": req.created_at.isoformat(),
        "decided_at": req.decided_at.isoformat() if req.decided_at else None,
    }


async def request_parties(
    db: Database, request_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID | None] | None:
    """(organizer, provider, wallet or None) of a request, for the web layer's guards."""
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(
                    PaymentRequest.organizer_id,
                    PaymentRequest.provider_id,
                    PaymentRequest.wallet_id,
                ).where(PaymentRequest.id == request_id)
            )
        ).first()
    return None if row is None else (row[0], row[1], row[2])


async def wallet_of_client(db: Database, client_id: uuid.UUID) -> uuid.UUID:
    async with UnitOfWork(db, readonly=True) as uow:
        found = (
            await uow.session.execute(select(Wallet.id).where(Wallet.client_id == client_id))
        ).scalar_one_or_none()
    if found is None:
        raise NotFound("No such wallet")
    return uuid.UUID(str(found))


async def get_request(db: Database, request_id: uuid.UUID) -> dict[str, Any]:
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(PaymentRequest, Provider.name)
                .join(Provider, Provider.id == PaymentRequest.provider_id)
                .where(PaymentRequest.id == request_id)
            )
        ).first()
    if row is None:
        raise NotFound("No such payment request")
    return request_view(row[0], row[1])


async def pending_for_wallet(db: Database, wallet_id: uuid.UUID) -> list[dict[str, Any]]:
    """The wallet's requests waiting for an answer, oldest first."""
    now = utcnow()
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (
            await uow.session.execute(
                select(PaymentRequest, Provider.name)
                .join(Provider, Provider.id == PaymentRequest.provider_id)
                .where(
                    PaymentRequest.wallet_id == wallet_id,
                    PaymentRequest.status == RequestStatus.PENDING,
                    PaymentRequest.expires_at > now,
                )
                .order_by(PaymentRequest.created_at)
            )
        ).all()
    return [request_view(r, name) for r, name in rows]


async def _refuse_decided(s: AsyncSession, request_id: uuid.UUID, now: datetime) -> None:
    """Explain why a request could not be decided: declined, expired or already decided."""
    req = await s.get(PaymentRequest, request_id, populate_existing=True)
    if req is None:
        raise NotFound("No such payment request")
    if req.status == RequestStatus.DECLINED:
        raise RequestDeclined()
    if req.status == RequestStatus.EXPIRED or (
        req.status == RequestStatus.PENDING and req.expires_at <= now
    ):
        raise RequestExpired()
    raise RequestNotPending(f"The payment request is {req.status}")


async def _decide(
    s: AsyncSession,
    request_id: uuid.UUID,
    to: RequestStatus,
    now: datetime,
    *,
    actor_id: uuid.UUID | None,
    wallet_id: uuid.UUID | None,
) -> bool:
    cond = [PaymentRequest.id == request_id, PaymentRequest.status == RequestStatus.PENDING]
    values: dict[str, Any] = {"status": to, "decided_at": now, "decided_by": actor_id}
    if to == RequestStatus.EXPIRED:
        cond.append(PaymentRequest.expires_at <= now)
    else:
        # Past its time a request can no longer be approved or declined, even before the
        # expiry job has run.
        cond.append(PaymentRequest.expires_at > now)
    if wallet_id is not None:
        cond.append(or_(PaymentRequest.wallet_id == wallet_id, PaymentRequest.wallet_id.is_(None)))
        values["wallet_id"] = wallet_id
    result = await s.execute(
        update(PaymentRequest)
        .execution_options(synchronize_session=False)
        .where(*cond)
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def approve_request(
    db: Database,
    *,
    request_id: uuid.UUID,
    wallet_id: uuid.UUID,
    actor_id: uuid.UUID,
    now: datetime | None = None,
) -> Outcome:
    """Approve a payment request for ``wallet_id`` (the web layer has checked that the actor
    may approve for it): the held money is captured, or for a provider's QR request the
    wallet's envelopes are charged now. Approving an approved request answers it again.

    An approval is consent: a trusted provider's monthly cap never refuses it, but the amount
    counts toward that provider's month (the month of the approval;
    :mod:`payments.checkout.trust`)."""
    now = utcnow(now)
    async with UnitOfWork(db) as uow:
        s = uow.session
        req = await s.get(PaymentRequest, request_id)
        if req is None or (req.wallet_id is not None and req.wallet_id != wallet_id):
            raise NotFound("No such payment request")
        provider = await s.get(Provider, req.provider_id)
        assert provider is not None
        if not await _decide(
            s, request_id, RequestStatus.APPROVED, now, actor_id=actor_id, wallet_id=wallet_id
        ):
            await s.refresh(req)
            if req.status == RequestStatus.APPROVED and req.wallet_id == wallet_id:
                return Outcome(
                    Happened.ALREADY_DONE, request_view(req, provider.name), replayed=True
                )
            await _refuse_decided(s, request_id, now)
        if req.hold_id is not None:
            hold = await s.get(Hold, req.hold_id)
            assert hold is not None
            held = await hold_lines(s, hold.id)
            captured: dict[int, int] = defaultdict(int)
            for line in held:
                captured[line.envelope_id] += line.amount_cents
            # A request's hold did not count while pending: the approval counts it now,
            # before any envelope is touched (the lock order of every money path).
            counted = hold.trust_period or await trust.count_consented(
                s, wallet_id, req.provider_id, hold.amount_cents, now
            )
            if not await transition(
                s,
                hold.id,
                HoldStatus.CAPTURED,
                now,
                require_unexpired=False,
                captured_cents=hold.amount_cents,
            ):
                raise HoldNotOpen()
            charge_id = uuid.uuid4()
            await close_hold_money(s, hold, held, captured, now, charge_id)
            cats = {line.category_id: line for line in held}
            items = []
            for stored in req.lines:
                line = cats[uuid.UUID(stored["category_id"])]
                # Priced (and split at the voucher) when the request was created and held.
                items.append(
                    Item(
                        line.category_id,
                        stored["category"],
                        stored["quantity"],
                        stored["unit_price_cents"],
                        stored["amount_cents"],
                        line.envelope_id,
                        line.period,
                        int(stored.get("client_share_cents", 0)),
                    )
                )
            charge = await write_charge(
                s,
                charge_id=charge_id,
                provider=provider,
                wallet_id=wallet_id,
                items=items,
                now=now,
                trust_period=counted,
            )
            await s.execute(
                update(Hold)
                .execution_options(synchronize_session=False)
                .where(Hold.id == hold.id)
                .values(charge_id=uuid.UUID(charge["id"]))
            )
        else:
            if provider.status != "approved":
                raise ProviderNotApproved("The provider is not approved to charge")
            wallet = await s.get(Wallet, wallet_id)
            assert wallet is not None
            # Prices were checked at creation; the approver's envelopes and vouchers decide now
            # what the wallet pays and what is the client's own share.
            priced = await Pricing.stored(req.lines).for_wallet(s, wallet, now)
            counted = await trust.count_consented(
                s, wallet_id, req.provider_id, sum(p.amount_cents for p in priced), now
            )
            charge_id = uuid.uuid4()
            debited = await charge_envelopes(
                s,
                provider=provider,
                charge_id=charge_id,
                per_envelope=per_envelope(priced),
                now=now,
            )
            items = [p.item(debited[p.envelope_id][1]) for p in priced]
            await s.execute(
                update(PaymentRequest)
                .execution_options(synchronize_session=False)
                .where(PaymentRequest.id == request_id)
                .values(
                    total_cents=sum(p.amount_cents for p in priced),
                    lines=[
                        {
                            "category": p.category,
                            "category_id": str(p.category_id),
                            "quantity": p.quantity,
                            "unit_price_cents": p.unit_price_cents,
                            "amount_cents": p.amount_cents,
                            "client_share_cents": p.client_share_cents,
                        }
                        for p in priced
                    ],
                )
            )
            charge = await write_charge(
                s,
                charge_id=charge_id,
                provider=provider,
                wallet_id=wallet_id,
                items=items,
                now=now,
                balances={k: v[0] for k, v in debited.items()},
                trust_period=counted,
            )
        await s.execute(
            update(PaymentRequest)
            .execution_options(synchronize_session=False)
            .where(PaymentRequest.id == request_id)
            .values(charge_id=uuid.UUID(charge["id"]))
        )
        await s.refresh(req)
        view = request_view(req, provider.name)
        await emit(
            s,
            type=REQUEST_APPROVED,
            organizer_id=req.organizer_id,
            wallet_id=wallet_id,
            provider_id=req.provider_id,
            now=now,
            payload=view,
        )
        await uow.commit()
        return Outcome(Happened.DONE, view)


async def _close_unapproved(
    s: AsyncSession, req: PaymentRequest, to: RequestStatus, hold_status: HoldStatus, now: datetime
) -> None:
    """After a decline, cancel or expiry: give the held money back."""
    if req.hold_id is None:
        return
    hold = await s.get(Hold, req.hold_id)
    assert hold is not None
    if not await transition(s, hold.id, hold_status, now, require_unexpired=False):
        raise HoldNotOpen()
    await close_hold_money(s, hold, await hold_lines(s, hold.id), {}, now)


async def decline_request(
    db: Database,
    *,
    request_id: uuid.UUID,
    wallet_id: uuid.UUID,
    actor_id: uuid.UUID,
    now: datetime | None = None,
) -> Outcome:
    """Decline a request bound to ``wallet_id``: the held money goes back to the budget."""
    now = utcnow(now)
    async with UnitOfWork(db) as uow:
        s = uow.session
        req = await s.get(PaymentRequest, request_id)
        if req is None or req.wallet_id != wallet_id:
            raise NotFound("No such payment request")
        provider = await s.get(Provider, req.provider_id)
        assert provider is not None
        if not await _decide(
            s, request_id, RequestStatus.DECLINED, now, actor_id=actor_id, wallet_id=None
        ):
            await s.refresh(req)
            if req.status == RequestStatus.DECLINED:
                return Outcome(
                    Happened.ALREADY_DONE, request_view(req, provider.name), replayed=True
                )
            await _refuse_decided(s, request_id, now)
        await _close_unapproved(s, req, RequestStatus.DECLINED, HoldStatus.VOIDED, now)
        await s.refresh(req)
        view = request_view(req, provider.name)
        await emit(
            s,
            type=REQUEST_DECLINED,
            organizer_id=req.organizer_id,
            wallet_id=wallet_id,
            provider_id=req.provider_id,
            now=now,
            payload=view,
        )
        await uow.commit()
        return Outcome(Happened.DONE, view)


async def cancel_request(
    db: Database, *, request_id: uuid.UUID, provider_id: uuid.UUID, now: datetime | None = None
) -> Outcome:
    """The provider withdraws its pending request; held money goes back."""
    now = utcnow(now)
    async with UnitOfWork(db) as uow:
        s = uow.session
        req = await s.get(PaymentRequest, request_id)
        if req is None or req.provider_id != provider_id:
            raise NotFound("No such payment request")
        provider = await s.get(Provider, provider_id)
        assert provider is not None
        if not await _decide(
            s, request_id, RequestStatus.CANCELLED, now, actor_id=None, wallet_id=None
        ):
            await s.refresh(req)
            if req.status == RequestStatus.CANCELLED:
                return Outcome(
                    Happened.ALREADY_DONE, request_view(req, provider.name), replayed=True
                )
            await _refuse_decided(s, request_id, now)
        await _close_unapproved(s, req, RequestStatus.CANCELLED, HoldStatus.VOIDED, now)
        await s.refresh(req)
        view = request_view(req, provider.name)
        await emit(
            s,
            type=REQUEST_CANCELLED,
            organizer_id=req.organizer_id,
            wallet_id=req.wallet_id,
            provider_id=provider_id,
            now=now,
            payload=view,
        )
        await uow.commit()
        return Outcome(Happened.DONE, view)


async def expire_requests(db: Database, *, now: datetime | None = None, limit: int = 500) -> int:
    """Expire requests nobody answered in time and release their holds (the scheduler calls
    this). Each in its own transaction behind the same conditional update as an approval."""
    now = utcnow(now)
    async with UnitOfWork(db, readonly=True) as uow:
        due = list(
            (
                await uow.session.execute(
                    select(PaymentRequest.id)
                    .where(
                        PaymentRequest.status == RequestStatus.PENDING,
                        PaymentRequest.expires_at <= now,
                    )
                    .order_by(PaymentRequest.expires_at)
                    .limit(limit)
                )
            ).scalars()
        )
    done = 0
    for request_id in due:
        async with UnitOfWork(db) as uow:
            s = uow.session
            if not await _decide(
                s, request_id, RequestStatus.EXPIRED, now, actor_id=None, wallet_id=None
            ):
                continue
            req = await s.get(PaymentRequest, request_id)
            assert req is not None
            await _close_unapproved(s, req, RequestStatus.EXPIRED, HoldStatus.EXPIRED, now)
            provider = await s.get(Provider, req.provider_id)
            assert provider is not None
            await emit(
                s,
                type=REQUEST_EXPIRED,
                organizer_id=req.organizer_id,
                wallet_id=req.wallet_id,
                provider_id=req.provider_id,
                now=now,
                payload=request_view(req, provider.name),
            )
            await uow.commit()
            done += 1
    return done
