"""Holds: reserved money, and the primitives that move it (issue 4).

A hold is a pending transfer. Placing it moves each envelope's share into that envelope's
hold account (kind ``hold``, one per envelope, stored balance >= 0). Closing it moves the hold
account's share out again: the captured part to the provider's payable, the rest back to the
envelope while the envelope's month is still open, else to the organizer's ``expired``
account (the month's remainder has already been returned; adding old money to a new month
would break money rule 4).

Every close starts with a conditional ``UPDATE holds SET status = ... WHERE status = 'held'``,
so a capture, a void and the expiry job racing for one hold produce exactly one winner.

Lock order, to keep PostgreSQL free of deadlocks: envelopes by id, each envelope before its
hold account (a hold account is always created after its envelope, so it has a larger id;
:func:`payments.ledger.transfers.move` updates the envelope side first). A first hold on an
envelope creates its hold account just before the move: a concurrent first hold on the same
envelope waits on that row's unique key, before it has locked the envelope.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.checkout import trust
from payments.checkout.charges import Priced, per_envelope
from payments.ledger import transfers
from payments.models import Account, Hold, HoldLine, Provider
from payments.outbox import (
    HOLD_PLACED,
    emit,
)
from payments.vocabulary import AccountKind, HoldStatus, TransferKind

DEFAULT_HOLD_TTL = timedelta(hours=12)


MAX_HOLD_TTL = timedelta(days=2)


async def ensure_hold_account(s: AsyncSession, envelope_id: int) -> int:
    """The hold account of an envelope, created on first use.

    ``accounts`` is UNIQUE(decision_line_id, kind), so two first holds at once create one
    account: the loser's insert does nothing (PostgreSQL waits for the winner's commit).
    """
    env = (
        await s.execute(
            select(Account.organizer_id, Account.wallet_id, Account.decision_line_id).where(
                Account.id == envelope_id
            )
        )
    ).one()
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    await s.execute(
        ins(Account)
        .values(
            organizer_id=env.organizer_id,
            kind=AccountKind.HOLD,
            wallet_id=env.wallet_id,
            decision_line_id=env.decision_line_id,
            balance_cents=0,
        )
        .on_conflict_do_nothing(index_elements=["decision_line_id", "kind"])
    )
    return int(
        (
            await s.execute(
                select(Account.id).where(
                    Account.decision_line_id == env.decision_line_id,
                    Account.kind == AccountKind.HOLD,
                )
            )
        ).scalar_one()
    )


async def place_hold(
    s: AsyncSession,
    *,
    provider: Provider,
    wallet_id: uuid.UUID,
    priced: list[Priced],
    purpose: str,
    expires_at: datetime,
    now: datetime,
    trust_period: str | None = None,
) -> Hold:
    """Move the priced lines' wallet parts (:class:`payments.charges.Pricing`) from their
    envelopes into the envelopes' hold accounts. A voucher line's own share is never held.
    ``insufficient-funds`` when an envelope does not cover its part.

    ``trust_period``: the month the caller counted the held amount in toward a trusted
    provider's cap (:mod:`payments.checkout.trust`), so that closing the hold gives the unused part
    back to that month."""
    held = per_envelope(priced)
    periods: dict[int, str] = {}
    hold_accounts: dict[int, int] = {}
    for env_id in sorted(held):
        hold_acc = await ensure_hold_account(s, env_id)
        hold_accounts[env_id] = hold_acc
        moved = await transfers.move(
            s,
            transfers.Envelope(env_id),
            transfers.Leg(transfers.HoldAccount(hold_acc), held[env_id], TransferKind.HOLD),
            organizer_id=provider.organizer_id,
            period=None,
            now=now,
        )
        periods[env_id] = moved.period
    hold = Hold(
        id=uuid.uuid4(),
        organizer_id=provider.organizer_id,
        provider_id=provider.id,
        wallet_id=wallet_id,
        purpose=purpose,
        status=HoldStatus.HELD,
        amount_cents=sum(held.values()),
        captured_cents=0,
        period=min(periods.values()),
        expires_at=expires_at,
        created_at=now,
        trust_period=trust_period,
    )
    s.add(hold)
    await s.flush()
    await s.execute(
        insert(HoldLine),
        [
            {
                "id": uuid.uuid4(),
                "hold_id": hold.id,
                "position": pos,
                "category_id": p.category_id,
                "envelope_id": p.envelope_id,
                "hold_account_id": hold_accounts[p.envelope_id],
                "period": periods[p.envelope_id],
                "quantity": p.quantity,
                "unit_price_cents": p.unit_price_cents,
                "amount_cents": p.amount_cents,
            }
            for pos, p in enumerate(priced)
        ],
    )
    await emit(
        s,
        type=HOLD_PLACED,
        organizer_id=provider.organizer_id,
        wallet_id=wallet_id,
        provider_id=provider.id,
        now=now,
        payload={
            "hold_id": str(hold.id),
            "provider_name": provider.name,
            "amount_cents": hold.amount_cents,
        },
    )
    return hold


async def hold_lines(s: AsyncSession, hold_id: uuid.UUID) -> list[HoldLine]:
    return list(
        (
            await s.execute(
                select(HoldLine).where(HoldLine.hold_id == hold_id).order_by(HoldLine.position)
            )
        )
        .scalars()
        .all()
    )


async def close_hold_money(
    s: AsyncSession,
    hold: Hold,
    lines: list[HoldLine],
    captured: dict[int, int],
    now: datetime,
    charge_id: uuid.UUID | None = None,
) -> None:
    """Empty the hold's accounts: ``captured[envelope]`` goes to the provider's payable as the
    transfers of the charge ``charge_id`` (which the caller writes); the rest goes back to the
    envelope if its month is open, else to the organizer's expired account.

    A hold that counted toward a trusted provider's month gives the part not captured back to
    that month's total (a capture keeps the captured part counted; a void or expiry gives all).
    """
    if hold.trust_period is not None:
        # First: the trust row comes before envelopes in every money path's lock order.
        await trust.give_back(
            s,
            hold.wallet_id,
            hold.provider_id,
            hold.amount_cents - sum(captured.values()),
            hold.trust_period,
        )
    held: dict[int, int] = defaultdict(int)
    meta: dict[int, tuple[int, str]] = {}
    for line in lines:
        held[line.envelope_id] += line.amount_cents
        meta[line.envelope_id] = (line.hold_account_id, line.period)
    payable: int | None = None
    for env_id in sorted(held):
        hold_acc, money_period = meta[env_id]
        take = captured.get(env_id, 0)
        release = held[env_id] - take
        assert release >= 0, "a capture never exceeds the held amount per envelope"
        legs: list[transfers.Leg] = []
        if release:
            # Back to the envelope while its month is open, else to the organizer's expired
            # account (hold_expired).
            legs.append(
                transfers.Leg(transfers.Envelope(env_id), release, TransferKind.HOLD_RELEASE)
            )
        if take:
            assert charge_id is not None, "a capture names its charge"
            if payable is None:
                payable = await transfers.provider_payable_account(s, hold.provider_id)
            legs.append(transfers.Leg(payable, take, TransferKind.CHARGE, charge_id=charge_id))
        try:
            await transfers.move(
                s,
                transfers.HoldAccount(hold_acc),
                *legs,
                organizer_id=hold.organizer_id,
                period=money_period,
                now=now,
            )
        except transfers.NotCovered as exc:
            # Impossible while check_books holds (hold balance = sum of open holds); refuse
            # rather than let a hold account go negative.
            raise RuntimeError(f"hold account {hold_acc} does not cover hold {hold.id}") from exc


async def transition(
    s: AsyncSession,
    hold_id: uuid.UUID,
    to: HoldStatus,
    now: datetime,
    *,
    require_unexpired: bool,
    captured_cents: int = 0,
    charge_id: uuid.UUID | None = None,
) -> bool:
    """Move a hold out of ``held``; True only for the one caller that wins."""
    cond = [Hold.id == hold_id, Hold.status == HoldStatus.HELD]
    if require_unexpired:
        cond.append(Hold.expires_at > now)
    result = await s.execute(
        update(Hold)
        .execution_options(synchronize_session=False)
        .where(*cond)
        .values(status=to, closed_at=now, captured_cents=captured_cents, charge_id=charge_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def hold_view(hold: Hold, lines: list[HoldLine], provider_name: str) -> dict[str, Any]:
    return {
        "id": str(hold.id),
        "status": hold.status,
        "provider_id": str(hold.provider_id),
        "provider_name": provider_name,
        "wallet_id": str(hold.wallet_id),
        "amount_cents": hold.amount_cents,
        "captured_cents": hold.captured_cents,
        "charge_id": str(hold.charge_id) if hold.charge_id else None,
        "expires_at": hold.expires_at.isoformat(),
        "created_at": hold.created_at.isoformat(),
        "categories": sorted({str(line.category_id) for line in lines}),
    }
