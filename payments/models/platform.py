"""Shared machinery: stored idempotency results and the transactional outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.models.base import Base, BigId, UtcDateTime


class IdempotencyRecord(Base):
    """The first result of a retryable write, keyed by who sent it and their key."""

    __tablename__ = "idempotency_keys"
    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


_UNDELIVERED: dict[str, Any] = {
    "postgresql_where": text("delivered_at IS NULL"),
    "sqlite_where": text("delivered_at IS NULL"),
}


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change it reports."""

    __tablename__ = "outbox"
    # Only the rows still owed, so the dispatcher's claim (in id order) and its wallet-order
    # check each read a few index entries, however long the delivered history and whatever
    # the planner's statistics say of it (migration 0024).
    __table_args__ = (
        Index("ix_outbox_undelivered", "id", **_UNDELIVERED),
        Index("ix_outbox_undelivered_wallet", "wallet_id", "id", **_UNDELIVERED),
    )
    # The row id is the event id that clients see (SSE ``id``) and use to drop duplicates.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    wallet_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(40))
    transfer_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
