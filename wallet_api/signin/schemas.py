"""Request and response Structs of sign-in, invites, passkeys, mandates and the audit trail."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from payments.clock import utcnow
from payments.people.sessions import SessionInfo
from wallet_api.types import ONE_LINE, whole

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
PasskeyName = Annotated[str, Meta(max_length=100, pattern=ONE_LINE)]
Scope = Annotated[str, Meta(pattern=whole("view|approve|manage-providers"))]


class CredentialCreate(Struct, forbid_unknown_fields=True):
    """The browser's ``PublicKeyCredential.toJSON()``, and an optional name for a new key."""

    credential: dict[str, Any]
    passkey_name: PasskeyName = ""


class ApplicantService(Struct):
    code: str
    name: str
    unit: str
    price_cap_cents: int | None


class CountyForApplicants(Struct):
    """A county's services, for a provider's application form."""

    organizer: str
    name: str
    services: list[ApplicantService]


class CeremonyOptions(Struct):
    """Pass ``publicKey`` to ``navigator.credentials.create`` or ``.get``."""

    publicKey: dict[str, Any]


class InviteRedemptionCreate(Struct, forbid_unknown_fields=True):
    code: Annotated[str, Meta(min_length=4, max_length=40, pattern=ONE_LINE)]


class InviteFor(Struct):
    display_name: str
    role: str
    organizer_name: str
    expires_at: datetime


class InviteOptions(Struct):
    invite: InviteFor
    publicKey: dict[str, Any]


class SessionStatus(Struct):
    """Seconds left before the session ends; warn at ``warn_before_s``."""

    seconds_left: int
    idle_timeout_s: int
    idle_expires_at: datetime
    expires_at: datetime
    warn_before_s: int


# Warn this many seconds before a session ends.
WARN_BEFORE_S = 120


def session_status(info: SessionInfo) -> SessionStatus:
    return SessionStatus(
        seconds_left=info.seconds_left(utcnow()),
        idle_timeout_s=info.idle_timeout_s,
        idle_expires_at=info.idle_expires_at,
        expires_at=info.expires_at,
        warn_before_s=WARN_BEFORE_S,
    )


class SignedIn(Struct):
    principal_id: uuid.UUID
    role: str
    display_name: str
    csrf_token: str
    session: SessionStatus
    provider_id: uuid.UUID | None = None


class Passkey(Struct):
    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool


class DeviceSession(Struct):
    """One of your live sessions: a browser where you are signed in. ``current`` is the one
    asking; ``passkey_name`` is the passkey it began with (no browser details are stored)."""

    id: uuid.UUID
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool
    passkey_name: str | None


class InviteCreate(Struct, forbid_unknown_fields=True):
    """Staff invite an existing person: by ``client_id`` (a client) or ``principal_id`` (a
    carer or a provider's staff member). ``revoke_passkeys`` is for a lost phone: it also ends
    the person's sessions, API keys and push subscriptions."""

    client_id: uuid.UUID | None = None
    principal_id: uuid.UUID | None = None
    revoke_passkeys: bool = False


class CarerInviteCreate(Struct, forbid_unknown_fields=True):
    display_name: Name
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=3)]
    valid_until: date | None = None


class Invite(Struct):
    """Shown once: the code, the link and a printable QR code (SVG) of the link."""

    invite_id: uuid.UUID
    principal_id: uuid.UUID
    display_name: str
    role: str
    code: str
    link: str
    expires_at: datetime
    qr_svg: str


class MandateUpdate(Struct, forbid_unknown_fields=True):
    carer_id: uuid.UUID
    scopes: Annotated[list[Scope], Meta(min_length=1, max_length=3)]
    valid_until: date | None = None


class Mandate(Struct):
    """``status``: ``active``; ``pending`` (the carer must accept it before it grants
    anything); ``declined`` by the carer; or ``ended`` (revoked, withdrawn or past
    ``valid_until``). ``active`` is ``status == "active"``."""

    carer_id: uuid.UUID
    carer_name: str
    client_id: uuid.UUID
    client_name: str
    wallet_id: uuid.UUID | None
    scopes: list[str]
    valid_until: date | None
    active: bool
    status: Literal["active", "pending", "declined", "ended"]


class AuditEntry(Struct):
    id: int
    created_at: datetime
    action: str
    actor_id: uuid.UUID | None
    actor_name: str | None
    actor_role: str | None
    subject_client_id: uuid.UUID | None
    detail: str | None = None
    # For the case manager's log (``/api/audit``): who and what the entry concerns, by name.
    client_name: str | None = None
    provider_name: str | None = None
    person_name: str | None = None
    person_role: str | None = None
    card_number: str | None = None
