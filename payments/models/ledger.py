"""The ledger: accounts (envelopes are accounts) and immutable transfers.

Only accounts whose balance is *constrained* (envelopes and holds) keep a stored running
balance; credit-only accounts (provider payable, expired, settlement) and the organizer's
budget derive theirs from the transfers, so a busy provider is never a hot row.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.models.base import Base, BigId, UtcDateTime
from payments.vocabulary import AccountKind, TransferKind, sql_in

STORED_BALANCE_KINDS = (AccountKind.ENVELOPE, AccountKind.HOLD)


class Account(Base):
    """A ledger account. An envelope is the account that one decision line funds.

    ``balance_cents`` is kept only for envelopes and holds (never negative, checked in the
    debiting statement and by the CHECK constraint); it is NULL for derived accounts.
    ``funded_period`` and ``expired_period`` record how far monthly funding has got, so a
    rerun of a funding job moves nothing twice.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("balance_cents IS NULL OR balance_cents >= 0", name="balance_nonnegative"),
        CheckConstraint(sql_in("kind", AccountKind), name="kind_known"),
        UniqueConstraint("decision_line_id", "kind"),
        Index("ix_accounts_wallet", "wallet_id"),
        Index("ix_accounts_org_kind", "organizer_id", "kind"),
        # Room on each page for in-place (HOT) balance updates: migration 0008.
        {"postgresql_with": {"fillfactor": 70}},
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    kind: Mapped[str] = mapped_column(String(20))  # an AccountKind
    wallet_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallets.id"))
    decision_line_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("decision_lines.id"))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id"), unique=True)
    balance_cents: Mapped[int | None] = mapped_column(BigInteger)
    funded_period: Mapped[str | None] = mapped_column(String(7))
    expired_period: Mapped[str | None] = mapped_column(String(7))


class Transfer(Base):
    """An immutable movement of money from ``debit_account`` to ``credit_account``.

    ``period`` is the budget month the money belongs to. ``dedupe_key`` makes jobs idempotent
    (for example ``fund:<account>:<period>``); the unique index turns a duplicate into an error
    instead of a second movement.
    """

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        # Migration 0011.
        CheckConstraint(sql_in("kind", TransferKind), name="kind_known"),
        Index("ix_transfers_debit", "debit_account_id", "id"),
        Index("ix_transfers_credit", "credit_account_id", "id"),
        Index("ix_transfers_charge", "charge_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))  # a TransferKind
    period: Mapped[str] = mapped_column(String(7))
    charge_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
