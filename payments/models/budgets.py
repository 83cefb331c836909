"""Budgets: the organizer, its service catalogue, clients, wallets and budget decisions."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from payments.models.base import Base, UtcDateTime, new_id


class Organizer(Base):
    """A wellbeing services county: the tenant that owns the money and the catalogue."""

    __tablename__ = "organizers"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    help_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A correction of a charge above this amount waits for a second case manager's approval
    # (payments.checkout.corrections); at or below it, the case manager's own word moves it.
    correction_approval_above_cents: Mapped[int] = mapped_column(
        BigInteger, default=10_000, server_default="10000"
    )


class ServiceCategory(Base):
    """A service in the organizer's catalogue, with its unit and optional price cap."""

    __tablename__ = "service_categories"
    __table_args__ = (
        UniqueConstraint("organizer_id", "code"),
        CheckConstraint("price_cap_cents IS NULL OR price_cap_cents > 0", name="cap_positive"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    code: Mapped[str] = mapped_column(String(40))
    name_fi: Mapped[str] = mapped_column(String(200))
    name_sv: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(10))  # hour, visit, trip, day, km, meal
    price_cap_cents: Mapped[int | None] = mapped_column(BigInteger)
    # The groups of services it belongs to (space-separated codes, sorted; may be empty), so a
    # decision line can fund a whole group (the decision form picks a group's categories).
    groups: Mapped[str] = mapped_column(String(200), default="", server_default="")


class Client(Base):
    """A person who holds a personal budget. Phone numbers are stored in E.164."""

    __tablename__ = "clients"
    __table_args__ = (
        UniqueConstraint("organizer_id", "phone_e164"),
        # Migration 0015: the county's own reference, by which an import finds the client again.
        Index("ix_clients_external_ref", "organizer_id", "external_ref", unique=True),
        Index("ix_clients_closed", "closed_at"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone_e164: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2), default="fi")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The client's reference in the county's client information system (``wallet import
    # clients``); None for a client made by hand.
    external_ref: Mapped[str | None] = mapped_column(String(64))
    # Migration 0018 (payments.budgets.closing): a closed account finds no charge, and after
    # WALLET_RETENTION_CLOSED_CLIENT_YEARS the prune replaces its personal fields with a
    # pseudonym (payments.people.retention); the ids and the books stay.
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pseudonymised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Wallet(Base):
    """A client's wallet. Its money lives in envelopes (accounts of kind ``envelope``)."""

    __tablename__ = "wallets"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"), unique=True)


class Decision(Base):
    """A case manager's budget decision for a client, valid over a date range."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
        CheckConstraint("carry_over IN ('none', 'capped')", name="carry_policy"),
        CheckConstraint("carry_over_cap_cents >= 0", name="carry_cap"),
        Index("ix_decisions_external_ref", "organizer_id", "external_ref", unique=True),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    carry_over: Mapped[str] = mapped_column(String(10), default="none")
    carry_over_cap_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The decision's reference in the county's system (``wallet import clients``), or None.
    external_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DecisionLine(Base):
    """One line of a decision: a monthly amount for a category or a group of categories.

    A *service voucher* line also has ``voucher_value_cents``: the most the wallet pays per
    unit; above it the difference is the client's own share (``hours_per_week`` records how
    the monthly amount was computed, for the decision's reader).
    """

    __tablename__ = "decision_lines"
    __table_args__ = (
        CheckConstraint("monthly_amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "voucher_value_cents IS NULL OR voucher_value_cents > 0", name="voucher_positive"
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decisions.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    monthly_amount_cents: Mapped[int] = mapped_column(BigInteger)
    voucher_value_cents: Mapped[int | None] = mapped_column(BigInteger)
    hours_per_week: Mapped[str | None] = mapped_column(String(12))  # exact decimal as text


class DecisionLineCategory(Base):
    __tablename__ = "decision_line_categories"
    line_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("decision_lines.id"), primary_key=True)
    category_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service_categories.id"), primary_key=True
    )


# Account kinds. Only the constrained ones keep a stored balance.
