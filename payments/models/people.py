"""Tables for signing people in: passkeys, invites, sessions, ceremony challenges, rate limits.

Secrets that people carry (invite codes, session tokens, ceremony cookies) are stored only as
SHA-256 hashes; each has at least 50 bits of entropy and its use is rate-limited or short-lived.
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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    and_,
    false,
    or_,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from payments.models.base import Base, BigId, UtcDateTime, new_id
from payments.vocabulary import Role, sql_in


class Passkey(Base):
    """A WebAuthn credential of a principal. Several per person, each with a name."""

    __tablename__ = "passkeys"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE key
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    name: Mapped[str] = mapped_column(String(100))
    transports: Mapped[str | None] = mapped_column(String(200))
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Invite(Base):
    """A one-time invitation for one principal to register their first (or a new) passkey."""

    __tablename__ = "invites"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A server-side sign-in session. The cookie carries the token; only its hash is kept."""

    __tablename__ = "web_sessions"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), index=True)
    passkey_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    csrf_token: Mapped[str] = mapped_column(String(64))
    idle_timeout_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)  # absolute limit
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Challenge(Base):
    """A WebAuthn challenge: random, single-use (deleted when used), expiring, bound to the
    browser that asked for it (hash of a ceremony cookie or of the session)."""

    __tablename__ = "webauthn_challenges"
    __table_args__ = (Index("ix_webauthn_challenges_expires", "expires_at"),)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    binding_hash: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(20))  # register, authenticate, apply, add
    challenge: Mapped[str] = mapped_column(String(200))  # base64url
    principal_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    invite_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    user_handle: Mapped[str | None] = mapped_column(String(100))  # base64url
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RateCounter(Base):
    """Attempts per key (e.g. ``signin:<ip>``) in a fixed time window."""

    __tablename__ = "rate_counters"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # epoch seconds
    hits: Mapped[int] = mapped_column(Integer)


class ProviderOwner(Base):
    """A provider's owner: may invite and re-invite the provider's staff."""

    __tablename__ = "provider_owners"
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    principal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("principals.id"), primary_key=True)


class Principal(Base):
    """Someone who acts: a client, carer, provider's staff member or case manager.

    Passkeys and sessions (a later issue) attach to the same principal.
    """

    __tablename__ = "principals"
    __table_args__ = (
        CheckConstraint(sql_in("role", Role), name="role_known"),
        # A client's own principal, found from a wallet (every charge's notification round).
        Index("ix_principals_client", "client_id"),
    )
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    organizer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizers.id"))
    role: Mapped[str] = mapped_column(String(20))  # a Role
    display_name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id"))
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("providers.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A case manager with the admin right invites, re-roles and removes the organizer's staff.
    admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Removed people keep their row (the ledger and the audit trail name them) but cannot
    # sign in, use an API key or redeem an invite.
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Mandate(Base):
    """A carer's rights over a client's wallet. Scopes: view, approve, manage-providers.

    A client's mandate to an existing carer is a request: it waits (``accepted_at`` NULL) until
    that carer accepts or declines it, and grants nothing meanwhile. A case manager's grant, and
    the mandate of a new carer whom the client invites, are accepted when made. Whoever reads
    mandates to authorize or to notify asks :meth:`in_force`, so a pending, declined, revoked
    or ended mandate is ignored the same way everywhere.
    """

    __tablename__ = "mandates"
    __table_args__ = (
        UniqueConstraint("carer_id", "client_id"),
        # A client's carers, found from a wallet (every charge's notification round).
        Index("ix_mandates_client", "client_id"),
    )
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
    """Who did or looked at what. Health-related data: every view by someone other than the
    client is recorded."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_subject", "subject_client_id", "created_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    organizer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(60))
    subject_client_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
