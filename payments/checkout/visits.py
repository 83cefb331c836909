"""Visit holds: hold the expected price at check-in, capture at most that at check-out and
release the rest, or void; the scheduler expires what nobody closed (issue 4).

The money moves through :mod:`payments.checkout.holds`; every close is decided by its conditional
status update, so a capture, a void and the expiry job racing for one hold have one winner.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from payments import idempotency
from payments.checkout.charges import (
    ChargeLineInput,
    Customer,
    Item,
    Pricing,
    _find_wallet,
    validate_lines,
    write_charge,
)
from payments.checkout.holds import (
    DEFAULT_HOLD_TTL,
    MAX_HOLD_TTL,
    close_hold_money,
    hold_lines,
    hold_view,
    place_hold,
    transition,
)
from payments.checkout.trust import count_consented, hold_by_phone
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    CaptureExceedsHold,
    HoldNotOpen,
    InvalidInput,
    NotFound,
    ProviderNotApproved,
)
from payments.models import Hold, Provider
from payments.outbox import HOLD_CAPTURED, HOLD_EXPIRED, HOLD_VOIDED, emit
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from payments.vocabulary import HoldStatus


async def create_visit_hold(
    db: Database,
    *,
    provider_id: uuid.UUID,
    customer: Customer,
    lines: list[ChargeLineInput],
    idempotency_key: str,
    request_hash: str,
    ttl: timedelta = DEFAULT_HOLD_TTL,
    trusted_only: bool = False,
    now: datetime | None = None,
) -> Outcome:
    """Hold the expected price of a visit at check-in; capture at most that at check-out.

    The customer is identified like a charge (token, code, wallet after a card PIN). By phone
    number (``trusted_only``) only a trusted provider may hold, within its per-charge cap and
    what is left of its monthly cap; anyone else gets the same ``consent-required`` as an
    unknown number (as a charge by phone does). For a trusted provider the whole held amount
    counts toward its month at once (with a token or card too, never refused); capture, void
    and expiry give back what was not used (:mod:`payments.checkout.trust`).
    """
    validate_lines(lines)
    if not timedelta(minutes=1) <= ttl <= MAX_HOLD_TTL:
        raise InvalidInput("A hold lasts from one minute to two days")
    now = utcnow(now)
    scope = f"hold:{provider_id}"
    async with UnitOfWork(db) as uow:
        s = uow.session
        replay = await idempotency.claim(
            s, scope=scope, key=idempotency_key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return replay
        provider = await s.get(Provider, provider_id)
        if provider is None or provider.status != "approved":
            raise ProviderNotApproved("The provider is not approved to charge")
        pricing = await Pricing.check(s, provider, lines, now)
        # By phone number only a client who trusts this provider is found (as for a charge).
        trusting = provider_id if trusted_only else None
        wallet = await _find_wallet(s, provider.organizer_id, customer, trusting=trusting)
        priced = await pricing.for_wallet(s, wallet, now)
        # Trust caps bound wallet money, like a charge's: the wallet's part.
        total = sum(p.amount_cents for p in priced)
        if trusted_only:
            counted: str | None = await hold_by_phone(s, wallet.id, provider_id, total, now)
        else:
            counted = await count_consented(s, wallet.id, provider_id, total, now)
        hold = await place_hold(
            s,
            provider=provider,
            wallet_id=wallet.id,
            priced=priced,
            purpose="visit",
            expires_at=now + ttl,
            now=now,
            trust_period=counted,
        )
        body = hold_view(hold, await hold_lines(s, hold.id), provider.name)
        outcome = Outcome(Happened.CREATED, body)
        await idempotency.store_result(s, scope=scope, key=idempotency_key, outcome=outcome)
        await uow.commit()
        return outcome


async def _own_hold(s: AsyncSession, provider_id: uuid.UUID, hold_id: uuid.UUID) -> Hold:
    hold = await s.get(Hold, hold_id)
    if hold is None or hold.provider_id != provider_id or hold.purpose != "visit":
        raise NotFound("No such hold")
    return hold


async def capture_hold(
    db: Database,
    *,
    provider_id: uuid.UUID,
    hold_id: uuid.UUID,
    lines: list[ChargeLineInput],
    idempotency_key: str,
    request_hash: str,
    now: datetime | None = None,
) -> Outcome:
    """Capture what was delivered (at most what was held, per budget) and release the rest.

    Refusals: ``hold-not-open`` (already captured, voided or expired), ``capture-exceeds-hold``,
    and the price checks of a charge.
    """
    validate_lines(lines)
    now = utcnow(now)
    scope = f"hold-capture:{provider_id}"
    async with UnitOfWork(db) as uow:
        s = uow.session
        replay = await idempotency.claim(
            s, scope=scope, key=idempotency_key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return replay
        hold = await _own_hold(s, provider_id, hold_id)
        provider = await s.get(Provider, provider_id)
        assert provider is not None
        pricing = await Pricing.check(s, provider, lines, now)
        held = await hold_lines(s, hold_id)
        by_category = {line.category_id: line for line in held}
        for x in pricing.listed:
            if x.category_id not in by_category:
                raise CaptureExceedsHold(f"Nothing was held for {x.category}")
        # The envelopes the hold took its money from, with their vouchers.
        priced = await pricing.for_envelopes(
            s, {cat: line.envelope_id for cat, line in by_category.items()}
        )
        items: list[Item] = []
        captured: dict[int, int] = defaultdict(int)
        for p in priced:
            line = by_category[p.category_id]
            captured[line.envelope_id] += p.amount_cents
            items.append(p.item(line.period))
        per_env_held: dict[int, int] = defaultdict(int)
        for line in held:
            per_env_held[line.envelope_id] += line.amount_cents
        if any(captured[e] > per_env_held[e] for e in captured):
            raise CaptureExceedsHold(f"At most {hold.amount_cents} cents were held")
        total = sum(captured.values())
        # The race is decided here: of a capture, a void and the expiry job, one moves money.
        if not await transition(
            s, hold_id, HoldStatus.CAPTURED, now, require_unexpired=True, captured_cents=total
        ):
            raise HoldNotOpen()
        charge_id = uuid.uuid4()
        await close_hold_money(s, hold, held, captured, now, charge_id)
        # The captured part stays counted in the month the hold counted in (close_hold_money
        # gave the rest back); a refund of this charge lowers that month.
        charge = await write_charge(
            s,
            charge_id=charge_id,
            provider=provider,
            wallet_id=hold.wallet_id,
            items=items,
            now=now,
            trust_period=hold.trust_period,
        )
        await s.execute(
            update(Hold)
            .execution_options(synchronize_session=False)
            .where(Hold.id == hold_id)
            .values(charge_id=uuid.UUID(charge["id"]))
        )
        body = {
            **hold_view(hold, held, provider.name),
            "status": HoldStatus.CAPTURED,
            "captured_cents": total,
            "charge_id": charge["id"],
            "charge": charge,
        }
        await emit(
            s,
            type=HOLD_CAPTURED,
            organizer_id=hold.organizer_id,
            wallet_id=hold.wallet_id,
            provider_id=provider_id,
            now=now,
            payload={
                "hold_id": str(hold_id),
                "captured_cents": total,
                "released_cents": hold.amount_cents - total,
            },
        )
        outcome = Outcome(Happened.DONE, body)
        await idempotency.store_result(s, scope=scope, key=idempotency_key, outcome=outcome)
        await uow.commit()
        return outcome


async def void_hold(
    db: Database, *, provider_id: uuid.UUID, hold_id: uuid.UUID, now: datetime | None = None
) -> Outcome:
    """Release a whole hold. Voiding a voided hold answers the same again (a safe retry)."""
    now = utcnow(now)
    async with UnitOfWork(db) as uow:
        s = uow.session
        hold = await _own_hold(s, provider_id, hold_id)
        provider = await s.get(Provider, provider_id)
        assert provider is not None
        held = await hold_lines(s, hold_id)
        if not await transition(s, hold_id, HoldStatus.VOIDED, now, require_unexpired=False):
            await s.refresh(hold)
            if hold.status == HoldStatus.VOIDED:
                return Outcome(
                    Happened.ALREADY_DONE, hold_view(hold, held, provider.name), replayed=True
                )
            raise HoldNotOpen()
        await close_hold_money(s, hold, held, {}, now)
        await emit(
            s,
            type=HOLD_VOIDED,
            organizer_id=hold.organizer_id,
            wallet_id=hold.wallet_id,
            provider_id=provider_id,
            now=now,
            payload={"hold_id": str(hold_id), "released_cents": hold.amount_cents},
        )
        await uow.commit()
        body = {
            **hold_view(hold, held, provider.name),
            "status": HoldStatus.VOIDED,
            "captured_cents": 0,
        }
        return Outcome(Happened.DONE, body)


async def expire_holds(db: Database, *, now: datetime | None = None, limit: int = 500) -> int:
    """Release visit holds past their time (the scheduler calls this). Each hold in its own
    transaction, behind the same conditional status update as capture and void, so a
    capture at the last second and this job never both move the money."""
    now = utcnow(now)
    async with UnitOfWork(db, readonly=True) as uow:
        due = list(
            (
                await uow.session.execute(
                    select(Hold.id)
                    .where(
                        Hold.status == HoldStatus.HELD,
                        Hold.purpose == "visit",
                        Hold.expires_at <= now,
                    )
                    .order_by(Hold.expires_at)
                    .limit(limit)
                )
            ).scalars()
        )
    done = 0
    for hold_id in due:
        async with UnitOfWork(db) as uow:
            s = uow.session
            hold = await s.get(Hold, hold_id)
            assert hold is not None
            if not await transition(s, hold_id, HoldStatus.EXPIRED, now, require_unexpired=False):
                continue
            await close_hold_money(s, hold, await hold_lines(s, hold_id), {}, now)
            await emit(
                s,
                type=HOLD_EXPIRED,
                organizer_id=hold.organizer_id,
                wallet_id=hold.wallet_id,
                provider_id=hold.provider_id,
                now=now,
                payload={"hold_id": str(hold_id), "released_cents": hold.amount_cents},
            )
            await uow.commit()
            done += 1
    return done


async def get_hold(db: Database, *, provider_id: uuid.UUID, hold_id: uuid.UUID) -> dict[str, Any]:
    async with UnitOfWork(db, readonly=True) as uow:
        hold = await _own_hold(uow.session, provider_id, hold_id)
        provider = await uow.session.get(Provider, provider_id)
        assert provider is not None
        return hold_view(hold, await hold_lines(uow.session, hold_id), provider.name)
