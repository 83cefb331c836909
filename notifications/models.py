"""Tables of the live-events feature, on the same metadata as ``payments.models``.

The outbox itself (``payments.models.OutboxEvent``) is the dispatcher's cursor: a row is done
when its ``delivered_at`` is set, so no separate cursor table is needed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from payments.models import Base, UtcDateTime, new_id


class PushSubscription(Base):
    """One device's Web Push subscription (the browser's PushSubscription JSON)."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (Index("ix_push_subscriptions_principal", "principal_id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    endpoint: Mapped[str] = mapped_column(String(2000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class NotificationPreference(Base):
    """A person's notification rules. No row means the defaults in ``notifications.rules``."""

    __tablename__ = "notification_preferences"
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    # Overrides of the default on/off per event type, e.g. {"envelope.funded": true}.
    types: Mapped[dict[str, Any]] = mapped_column()
    hide_amounts: Mapped[bool] = mapped_column(Boolean, default=False)
    # NULL: a fifth of the envelope's monthly allotment.
    low_balance_cents: Mapped[int | None] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(2), default="fi")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LowBalanceAlert(Base):
    """That a person was told an envelope ran low in a month: the key makes the alert once-only."""

    __tablename__ = "low_balance_alerts"
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    threshold_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DispatchLock(Base):
    """One row per dispatcher kind, locked ``FOR UPDATE`` for the length of a round.

    On PostgreSQL this makes rounds of several processes' dispatchers take turns, so claims
    never interleave: interleaved claims of one wallet's rows would have to be held back to
    keep the wallet's order, and two dispatchers would keep holding back each other's rows.
    A plain row lock is portable (CockroachDB has it; advisory locks it has not), and it is
    released by commit, rollback or a dead connection alike.
    """

    __tablename__ = "dispatch_locks"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
