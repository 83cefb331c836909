"""Tables of the providers' marketplace: onboarding profiles and settlements.

They share ``payments.models.Base`` (and so its naming convention and migrations) but live in
their own module so the core tables stay untouched.

* ``provider_profiles``: what a provider gave when it applied (bank account, contact, area,
  languages) and the case manager's last decision about it. The provider row itself keeps the
  status that the charge path reads.
* ``settlements``: one payout to one provider, with its ISO 11649 (RF) creditor reference and
  the ONE ledger transfer (provider payable -> organizer's settlement account) that books it;
  ``status`` is what the bank said of it (``wallet bank import``), and a rejected payout keeps
  the transfer that gave the money back to the provider's payable account.
* ``settlement_lines``: the ledger transfers (charges, refunds) that a settlement covers, signed
  as the provider sees them. ``transfer_id`` is unique, so a transfer is settled at most once.
* ``catalogue_versions``: one row, whose token every change to the providers, their listings,
  their prices and the categories replaces (triggers, migration 0025): a process's copy of the
  listings (:mod:`payments.marketplace.listings_cache`) holds only while the token does.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.models.base import Base, BigId, UtcDateTime, new_id
from payments.vocabulary import SettlementStatus, sql_in

# Provider statuses. Only ``approved`` may charge (checkout.charges reads providers.status).
APPLIED = "applied"
APPROVED = "approved"
REJECTED = "rejected"
SUSPENDED = "suspended"
PROVIDER_STATUSES = (APPLIED, APPROVED, REJECTED, SUSPENDED)


class ProviderProfile(Base):
    """A provider's onboarding data: bank account, contact, service area and languages."""

    __tablename__ = "provider_profiles"
    __table_args__ = (UniqueConstraint("organizer_id", "business_id"),)
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    business_id: Mapped[str] = mapped_column(String(9))
    iban: Mapped[str] = mapped_column(String(34))
    bic: Mapped[str] = mapped_column(String(11))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_phone: Mapped[str] = mapped_column(String(16))
    languages: Mapped[list[Any]] = mapped_column(JSON)
    municipalities: Mapped[list[Any]] = mapped_column(JSON)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Settlement(Base):
    """What one provider is paid in one settlement run, booked by one ledger transfer."""

    __tablename__ = "settlements"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        # Migration 0014.
        CheckConstraint(sql_in("status", SettlementStatus), name="status_known"),
        Index("ix_settlements_provider_created", "provider_id", "created_at"),
        Index("ix_settlements_org_created", "organizer_id", "created_at"),
        # A transfer gives back at most one payout.
        Index("ix_settlements_returned_transfer", "returned_transfer_id", unique=True),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    batch_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    reference: Mapped[str] = mapped_column(String(25), unique=True)
    until: Mapped[date] = mapped_column(Date)
    cutoff_at: Mapped[datetime] = mapped_column(UtcDateTime)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(
        String(10), default=SettlementStatus.PENDING, server_default=SettlementStatus.PENDING
    )
    # When the bank's answer was imported, and its reason for a rejection (code and text).
    bank_status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    bank_reason: Mapped[str | None] = mapped_column(String(140))
    # The ``settlement_returned`` transfer of a rejected payout. No foreign key: SQLite cannot
    # add one to an existing table without rebuilding it; ``wallet check`` proves it instead.
    returned_transfer_id: Mapped[int | None] = mapped_column(BigId)


class SettlementLine(Base):
    """One ledger transfer that a settlement covers: + a charge, - a refund."""

    __tablename__ = "settlement_lines"
    __table_args__ = (CheckConstraint("amount_cents <> 0", name="amount_nonzero"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    settlement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("settlements.id"), index=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), unique=True)
    charge_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(20))
    period: Mapped[str] = mapped_column(String(7))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    booked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Provider(Base):
    """A service provider. Only ``approved`` providers may charge."""

    __tablename__ = "providers"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    name: Mapped[str] = mapped_column(String(200))
    business_id: Mapped[str] = mapped_column(String(9))
    status: Mapped[str] = mapped_column(String(20), default="approved")
    language: Mapped[str] = mapped_column(String(2), default="fi")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProviderPrice(Base):
    """A provider's listing of one category, and whether it is approved to charge it.

    The price itself has versions (:class:`ProviderPriceVersion`).
    """

    __tablename__ = "provider_prices"
    __table_args__ = (UniqueConstraint("provider_id", "category_id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_categories.id"))
    approved: Mapped[bool] = mapped_column(Boolean, default=True)


class ProviderPriceVersion(Base):
    """One version of a provider's unit price for a category, in force from ``effective_from``
    (a Helsinki date) until the next version. Versions are never updated or deleted, so a
    price change never rewrites the past (and charges store their own unit price anyway)."""

    __tablename__ = "provider_price_versions"
    __table_args__ = (
        UniqueConstraint("provider_id", "category_id", "effective_from"),
        CheckConstraint("unit_price_cents > 0", name="price_positive"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"))
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("service_categories.id"))
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    effective_from: Mapped[date] = mapped_column(Date)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CatalogueVersion(Base):
    """The catalogue's token: replaced, by triggers, in every transaction that changes
    ``providers``, ``provider_prices``, ``provider_price_versions`` or ``service_categories``.
    One row; a random token, so an emptied or restored database never counts back to one a
    process holds."""

    __tablename__ = "catalogue_versions"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[int] = mapped_column(BigInteger)
