"""Tables of checkout at the door: holds, payment requests, payment tokens, QR cards and
trusted providers (issue 4).

They live beside ``payments.models`` on the same ``Base``, so Alembic and ``check_books`` see
one schema. Money still moves only through ``transfers``; these rows record *why* it moved
and in which state a two-phase payment is. Every state change is a conditional UPDATE on
``status`` (``... WHERE status = 'held'``), so of two racing captures, or a capture and a
void, exactly one wins.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.models.base import Base, UtcDateTime, new_id
from payments.vocabulary import CorrectionStatus, HoldStatus, RequestStatus, sql_in


class Hold(Base):
    """Reserved money: moved from envelopes to their hold accounts, waiting to be captured,
    voided or expired. ``purpose`` is ``visit`` (check-in / check-out) or ``request`` (the
    money behind a payment request, whose expiry the request decides)."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "captured_cents >= 0 AND captured_cents <= amount_cents", name="captured_range"
        ),
        CheckConstraint(sql_in("status", HoldStatus), name="status_known"),
        Index("ix_holds_status_expires", "status", "expires_at"),
        Index("ix_holds_provider_created", "provider_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"))
    purpose: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))  # a HoldStatus
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    captured_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    period: Mapped[str] = mapped_column(String(7))
    charge_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The month whose trusted-provider total this hold counted in (payments.checkout.trust);
    # NULL when it did not count (a request's hold counts only at approval; an untrusted
    # provider's never).
    trust_period: Mapped[str | None] = mapped_column(String(7))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class HoldLine(Base):
    """What a hold reserves, per category: from which envelope into which hold account."""

    __tablename__ = "hold_lines"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("holds.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_categories.id"))
    envelope_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    hold_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    period: Mapped[str] = mapped_column(String(7))
    quantity: Mapped[str | None] = mapped_column(String(20))
    unit_price_cents: Mapped[int | None] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)


class PaymentRequest(Base):
    """A charge waiting for the client's (or a carer's) approval.

    Made from a phone number, it is bound to a wallet and its money is held at once, so the
    approval cannot fail later. Shown as a QR by the provider (``wallet_id`` NULL), it is bound
    to whoever approves it, and the money moves at approval.
    """

    __tablename__ = "payment_requests"
    __table_args__ = (
        CheckConstraint("total_cents > 0", name="total_positive"),
        CheckConstraint(sql_in("status", RequestStatus), name="status_known"),
        Index("ix_payment_requests_status_expires", "status", "expires_at"),
        Index("ix_payment_requests_wallet", "wallet_id", "status"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    wallet_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallets.id"))
    hold_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("holds.id"))
    status: Mapped[str] = mapped_column(String(10))  # a RequestStatus
    total_cents: Mapped[int] = mapped_column(BigInteger)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    charge_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PaymentToken(Base):
    """A single-use token the client's app shows as a QR (or as a short code).

    Only hashes are stored. ``used_at`` is set by one conditional UPDATE inside the charge's
    transaction, so a token presented to two providers at once pays exactly one of them.
    """

    __tablename__ = "payment_tokens"
    __table_args__ = (Index("ix_payment_tokens_code", "organizer_id", "code_hash"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class QrCard(Base):
    """A printed card for a client without a smartphone: a static card id and a PIN.

    The PIN is stored as scrypt with a per-card salt. ``failed_attempts`` is counted in its
    own transaction, so a refused charge cannot roll the count back; five wrong PINs lock it.
    """

    __tablename__ = "qr_cards"
    __table_args__ = (
        CheckConstraint("status IN ('active','locked','revoked')", name="status_known"),
        CheckConstraint("failed_attempts >= 0", name="attempts_nonnegative"),
        Index("ix_qr_cards_wallet", "wallet_id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"))
    card_number: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(10))
    pin_salt: Mapped[str | None] = mapped_column(String(64))
    pin_hash: Mapped[str | None] = mapped_column(String(128))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    issued_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TrustedProvider(Base):
    """A provider in the client's "my providers" list: it may charge by phone number without
    asking, within ``per_charge_cap_cents`` and, if set, ``monthly_cap_cents`` per month.

    ``month_period`` / ``month_spent_cents`` are the running monthly total of every way money
    left for this provider (charges, holds and their captures, approved requests, net of
    refunds and unused holds; see :mod:`payments.checkout.trust`), changed by one conditional
    UPDATE in the money transaction, so concurrent charges and holds cannot pass the cap.
    """

    __tablename__ = "trusted_providers"
    __table_args__ = (
        UniqueConstraint("wallet_id", "provider_id"),
        CheckConstraint("per_charge_cap_cents > 0", name="cap_positive"),
        CheckConstraint(
            "monthly_cap_cents IS NULL OR monthly_cap_cents > 0", name="monthly_cap_positive"
        ),
        CheckConstraint("month_spent_cents >= 0", name="spent_nonnegative"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    per_charge_cap_cents: Mapped[int] = mapped_column(BigInteger)
    monthly_cap_cents: Mapped[int | None] = mapped_column(BigInteger)
    month_period: Mapped[str | None] = mapped_column(String(7))
    month_spent_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Charge(Base):
    """A provider's charge of a wallet for delivered services.

    ``total_cents`` is what the wallet paid (what moved in the ledger); ``client_share_cents``
    is the client's own share above a voucher's value, collected by the provider outside the
    wallet: information only, never in the ledger.
    """

    __tablename__ = "charges"
    __table_args__ = (
        CheckConstraint("total_cents > 0", name="total_positive"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= total_cents", name="refunds"),
        CheckConstraint("client_share_cents >= 0", name="share_nonnegative"),
        Index("ix_charges_provider_created", "provider_id", "created_at"),
        Index("ix_charges_wallet_created", "wallet_id", "created_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"))
    status: Mapped[str] = mapped_column(String(20))  # a ChargeStatus
    total_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    period: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    client_share_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The month whose trusted-provider total this charge counted in (payments.checkout.trust), so a
    # refund lowers that month only; NULL when the provider was not trusted.
    trust_period: Mapped[str | None] = mapped_column(String(7))


class ChargeLine(Base):
    """One line of a charge. ``amount_cents`` is the wallet's part; the full price of the line
    is ``amount_cents + client_share_cents``."""

    __tablename__ = "charge_lines"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refunds"),
        CheckConstraint("client_share_cents >= 0", name="share_nonnegative"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    charge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charges.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_categories.id"))
    envelope_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    quantity: Mapped[str] = mapped_column(String(20))  # exact decimal as text
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    client_share_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="amount_positive"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    charge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charges.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    to_envelope: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Correction(Base):
    """A case manager's correction of a wrong charge whose month has closed: the amount goes
    from the provider's payable back to the organizer's budget by a ``correction`` transfer,
    never to the client's envelope (a closed month is not refilled).

    Above the organizer's ``correction_approval_above_cents`` it waits (``pending``) for a
    second case manager, who may not be the one who asked. ``transfer_id`` is set, once, when
    the money moves; ``wallet check`` proves every approved correction has its transfer and
    every ``correction`` transfer its approved correction.
    """

    __tablename__ = "corrections"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(sql_in("status", CorrectionStatus), name="status_known"),
        CheckConstraint(
            "(status = 'approved') = (transfer_id IS NOT NULL)", name="moved_when_approved"
        ),
        Index("ix_corrections_organizer_status", "organizer_id", "status", "requested_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    charge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("charges.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10))  # a CorrectionStatus
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(500))
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("transfers.id"), unique=True)
