"""Tables of the live-events feature (and of webhooks, which deliver the same events to an
organizer's integrations), on the same metadata as ``payments.models``.

The outbox itself (``payments.models.OutboxEvent``) is the dispatcher's cursor: a row is done
when its ``delivered_at`` is set, so no separate cursor table is needed.
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
    Text,
    UniqueConstraint,
    Uuid,
)
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
    # Amounts stay off the lock screen unless the person chooses to show them (issue 19).
    hide_amounts: Mapped[bool] = mapped_column(Boolean, default=True)
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


# The states of one webhook delivery (``notifications.webhooks``).
DELIVERY_STATUSES = ("pending", "succeeded", "failed")


class WebhookEndpoint(Base):
    """An organizer's integration: a URL that receives the event types it subscribed to, each
    delivery signed with ``secret`` (Standard Webhooks, ``whsec_`` + base64). The secret is
    kept as it is, since signing needs it (docs/security.md); the API shows it only once."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_organizer", "organizer_id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    # The outbox event types (``payments.outbox.EVENT_TYPES``) this endpoint receives.
    event_types: Mapped[list[str]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why the server turned it off (the outbound policy refused its address at send time).
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookDelivery(Base):
    """One event on its way to one endpoint: enqueued by the dispatcher in the transaction that
    marks the outbox row delivered (once per endpoint and event: the unique key), then sent,
    retried and logged by ``notifications.webhooks.WebhookSender``. ``body`` is the exact JSON
    sent, so every retry and replay sends the same bytes under the same ``webhook-id``.
    ``event_id`` is NULL for a test ping."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_log", "endpoint_id", "created_at"),
        CheckConstraint(
            "status IN (" + ",".join(f"'{s}'" for s in DELIVERY_STATUSES) + ")",
            name="status_known",
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    # The endpoint's organizer, kept on the row: authorization resolves a delivery id to it.
    organizer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- SMS (issue 20, ``notifications.sms``) ----------------------------------------------------

# The events a person may choose to hear of by SMS, by their short names.
SMS_EVENTS = ("receipt", "refund", "request", "low_balance", "statement", "funding")
SMS_STATUSES = ("pending", "sent", "failed", "refused")


class SmsOptIn(Base):
    """A number that receives a wallet's texts: the client's own or a carer's (``principal_id``
    is whose number it is). A case manager turns it on; it sends nothing but its confirmation
    code until the code comes back (``confirmed_at``). The code is never stored, only its hash
    (``notifications.sms``)."""

    __tablename__ = "sms_optins"
    __table_args__ = (
        UniqueConstraint("wallet_id", "phone_e164"),
        Index("ix_sms_optins_phone", "phone_e164"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    wallet_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallets.id"))
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"))
    phone_e164: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2))
    # A subset of SMS_EVENTS.
    events: Mapped[list[str]] = mapped_column(JSON)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    code_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("principals.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SmsMessage(Base):
    """One text on its way to one number, sent and retried by ``SmsSender`` like a webhook
    delivery. An event's text is enqueued by the dispatcher's round, once per (opt-in, event):
    the unique key. ``body`` may hold ``{code}``, filled in only when it is sent from
    ``code_ref`` (so no code is ever stored readable)."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        UniqueConstraint("optin_id", "event_id"),
        Index("ix_sms_messages_due", "status", "next_attempt_at"),
        CheckConstraint(
            "status IN (" + ",".join(f"'{s}'" for s in SMS_STATUSES) + ")",
            name="status_known",
        ),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    optin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sms_optins.id", ondelete="CASCADE"))
    # NULL for a confirmation code or an answer to a reply.
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(20))
    phone_e164: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    code_ref: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    gateway_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SmsReplyCode(Base):
    """The one-time code a payment request's text carries, bound to the request and to the
    opt-in's number, valid while the request is; ``used_at`` makes it once-only."""

    __tablename__ = "sms_reply_codes"
    __table_args__ = (UniqueConstraint("request_id", "optin_id"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_requests.id"))
    optin_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sms_optins.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SmsUsage(Base):
    """Texts an organizer sent in a Helsinki month, and those its cap refused."""

    __tablename__ = "sms_usage"
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)


class SmsBudget(Base):
    """An organizer's own monthly cap on texts (no row: ``WALLET_SMS_MONTHLY_CAP``)."""

    __tablename__ = "sms_budgets"
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"), primary_key=True)
    monthly_cap: Mapped[int] = mapped_column(Integer)
