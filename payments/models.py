"""Tables of the wallet: organizers, catalogue, people, decisions, the ledger and the outbox.

Money columns are integer cents (``BigInteger``). Ledger rows (``transfers``) are never
updated or deleted. Only accounts whose balance is *constrained* (envelopes and holds) keep
a stored running balance; credit-only accounts (provider payable, expired, settlement) and the
organizer's budget derive theirs from the transfers, so a busy provider is never a hot row.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    and_,
    or_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL keeps the zone; SQLite does not and would hand back naive datetimes, which
    serialise without an offset and compare wrongly with aware ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # Naive values are taken as UTC, the only zone this code base stores.
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# Integer primary keys that SQLite turns into rowid aliases and PostgreSQL into bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class Organizer(Base):
    """A wellbeing services county: the tenant that owns the money and the catalogue."""

    __tablename__ = "organizers"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    help_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


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


class Client(Base):
    """A person who holds a personal budget. Phone numbers are stored in E.164."""

    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("organizer_id", "phone_e164"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    phone_e164: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2), default="fi")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Wallet(Base):
    """A client's wallet. Its money lives in envelopes (accounts of kind ``envelope``)."""

    __tablename__ = "wallets"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"), unique=True)


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


class Decision(Base):
    """A case manager's budget decision for a client, valid over a date range."""

    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
        CheckConstraint("carry_over IN ('none', 'capped')", name="carry_policy"),
        CheckConstraint("carry_over_cap_cents >= 0", name="carry_cap"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    carry_over: Mapped[str] = mapped_column(String(10), default="none")
    carry_over_cap_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
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
ORGANIZER_BUDGET = "organizer_budget"
ENVELOPE = "envelope"
HOLD = "hold"
PROVIDER_PAYABLE = "provider_payable"
EXPIRED = "expired"
SETTLEMENT = "settlement"
ACCOUNT_KINDS = (ORGANIZER_BUDGET, ENVELOPE, HOLD, PROVIDER_PAYABLE, EXPIRED, SETTLEMENT)
STORED_BALANCE_KINDS = (ENVELOPE, HOLD)


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
        CheckConstraint(
            "kind IN ('organizer_budget','envelope','hold','provider_payable','expired',"
            "'settlement')",
            name="kind_known",
        ),
        UniqueConstraint("decision_line_id", "kind"),
        Index("ix_accounts_wallet", "wallet_id"),
        Index("ix_accounts_org_kind", "organizer_id", "kind"),
        # Room on each page for in-place (HOT) balance updates: migration 0008.
        {"postgresql_with": {"fillfactor": 70}},
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    kind: Mapped[str] = mapped_column(String(20))
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
        Index("ix_transfers_debit", "debit_account_id", "id"),
        Index("ix_transfers_credit", "credit_account_id", "id"),
        Index("ix_transfers_charge", "charge_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    debit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))  # funding, expiry, charge, refund, ...
    period: Mapped[str] = mapped_column(String(7))
    charge_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
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
    status: Mapped[str] = mapped_column(String(20))  # captured, refunded, partially_refunded
    total_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    period: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    client_share_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The month whose trusted-provider total this charge counted in (payments.trust), so a
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


class IdempotencyRecord(Base):
    """The first result of a retryable write, keyed by who sent it and their key."""

    __tablename__ = "idempotency_keys"
    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_undelivered", "delivered_at", "id"),)
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


class Principal(Base):
    """Someone who acts: a client, carer, provider's staff member or case manager.

    Passkeys and sessions (a later issue) attach to the same principal.
    """

    __tablename__ = "principals"
    __table_args__ = (
        CheckConstraint("role IN ('client','carer','provider','case_manager')", name="role_known"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    role: Mapped[str] = mapped_column(String(20))
    display_name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Mandate(Base):
    """A carer's rights over a client's wallet. Scopes: view, approve, manage-providers.

    A client's mandate to an existing carer is a request: it waits (``accepted_at`` NULL) until
    that carer accepts or declines it, and grants nothing meanwhile. A case manager's grant, and
    the mandate of a new carer whom the client invites, are accepted when made. Whoever reads
    mandates to authorize or to notify asks :meth:`in_force`, so a pending, declined, revoked
    or ended mandate is ignored the same way everywhere.
    """

    __tablename__ = "mandates"
    __table_args__ = (UniqueConstraint("carer_id", "client_id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    carer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id"))
    scopes: Mapped[str] = mapped_column(String(100))  # space separated
    valid_until: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # NULL: waiting
    declined_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # with revoked_at

    @staticmethod
    def in_force(today: date | ColumnElement[date]) -> ColumnElement[bool]:
        """The SQL condition of a mandate that grants its scopes on ``today`` (Helsinki)."""
        return and_(
            Mandate.accepted_at.is_not(None),
            Mandate.revoked_at.is_(None),
            or_(Mandate.valid_until.is_(None), Mandate.valid_until >= today),
        )


class ApiKey(Base):
    """An API key: shown once, stored as a SHA-256 of its high-entropy secret."""

    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuditEvent(Base):
    """Who did or looked at what. Health-related data: every staff view is recorded."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_subject", "subject_client_id", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organizer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(60))
    subject_client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
