"""Outbox rows as the events clients see: loading, enrichment, channels and visibility.

An event's ``id`` is its outbox row id. Funding and expiry rows are written set-based with a
``transfer_id`` and no payload; their amount and balance are read from the transfer when the
event is loaded, so every event reaches clients in the same shape.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from payments.models import Account, OutboxEvent, Transfer
from payments.outbox import REMAINDER_EXPIRED

# What a provider may see of a wallet event: never the client's balances.
_PROVIDER_FIELDS = frozenset(
    {"charge_id", "request_id", "provider_name", "total_cents", "amount_cents", "status", "id"}
)


@dataclass(frozen=True)
class Event:
    """One delivered event, as published on the channels (JSON) and sent over SSE."""

    id: int
    type: str
    organizer_id: uuid.UUID
    wallet_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def channels(self) -> list[str]:
        """The channels this event is published on: its wallet's, provider's and organizer's."""
        out = [organizer_channel(self.organizer_id)]
        if self.wallet_id is not None:
            out.append(wallet_channel(self.wallet_id))
        if self.provider_id is not None:
            out.append(provider_channel(self.provider_id))
        return out

    def encode(self) -> bytes:
        return msgspec.json.encode(
            {
                "id": self.id,
                "type": self.type,
                "organizer_id": str(self.organizer_id),
                "wallet_id": str(self.wallet_id) if self.wallet_id else None,
                "provider_id": str(self.provider_id) if self.provider_id else None,
                "created_at": self.created_at.isoformat(),
                "data": self.data,
            }
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Event:
        d = msgspec.json.decode(raw)
        return cls(
            id=int(d["id"]),
            type=d["type"],
            organizer_id=uuid.UUID(d["organizer_id"]),
            wallet_id=uuid.UUID(d["wallet_id"]) if d["wallet_id"] else None,
            provider_id=uuid.UUID(d["provider_id"]) if d["provider_id"] else None,
            created_at=datetime.fromisoformat(d["created_at"]),
            data=d["data"] or {},
        )

    def for_client(self, *, provider_view: bool = False) -> str:
        """The SSE ``data`` line: what the person's app needs, without organizer internals."""
        data = self.data
        if provider_view:
            data = {k: v for k, v in data.items() if k in _PROVIDER_FIELDS}
        return msgspec.json.encode(
            {
                "id": self.id,
                "type": self.type,
                "wallet_id": None if provider_view or not self.wallet_id else str(self.wallet_id),
                "created_at": self.created_at.isoformat(),
                "data": data,
            }
        ).decode()


def wallet_channel(wallet_id: uuid.UUID) -> str:
    return f"w.{wallet_id}"


def provider_channel(provider_id: uuid.UUID) -> str:
    return f"p.{provider_id}"


def organizer_channel(organizer_id: uuid.UUID) -> str:
    return f"o.{organizer_id}"


def outbox_select() -> Any:
    """Outbox rows with what set-based funding rows need: their transfer and envelope."""
    return (
        select(
            OutboxEvent,
            Transfer.amount_cents,
            Transfer.period,
            Transfer.debit_account_id,
            Transfer.credit_account_id,
        )
        .outerjoin(Transfer, Transfer.id == OutboxEvent.transfer_id)
        .order_by(OutboxEvent.id)
    )


async def to_events(session: AsyncSession, rows: Any) -> list[Event]:
    """Turn rows of :func:`outbox_select` into events, reading envelope balances in one query."""
    rows = list(rows)
    envelope_of: dict[int, int] = {}
    for row in rows:
        ev: OutboxEvent = row[0]
        if ev.payload is None and ev.transfer_id is not None and row[1] is not None:
            # Expiry debits the envelope; funding credits it.
            envelope_of[ev.id] = int(row[3] if ev.type == REMAINDER_EXPIRED else row[4])
    balances: dict[int, int] = {}
    if envelope_of:
        result = await session.execute(
            select(Account.id, Account.balance_cents).where(
                Account.id.in_(set(envelope_of.values()))
            )
        )
        balances = {int(a): int(b or 0) for a, b in result.all()}
    events = []
    for row in rows:
        ev = row[0]
        data: dict[str, Any]
        if ev.payload is not None:
            data = dict(ev.payload)
        elif ev.id in envelope_of:
            acc = envelope_of[ev.id]
            data = {
                "transfer_id": ev.transfer_id,
                "account_id": acc,
                "amount_cents": int(row[1]),
                "period": row[2],
                # The balance now, not at the transfer: the app shows the current figure.
                "balance_cents": balances.get(acc, 0),
            }
        else:
            data = {}
        events.append(
            Event(
                id=int(ev.id),
                type=ev.type,
                organizer_id=ev.organizer_id,
                wallet_id=ev.wallet_id,
                provider_id=ev.provider_id,
                created_at=ev.created_at,
                data=data,
            )
        )
    return events
