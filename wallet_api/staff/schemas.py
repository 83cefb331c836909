"""Bodies of the staff routes: the client list and file, funding runs, open visits; and the
organizer's case managers and a provider's staff (issue 15)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec

from wallet_api.types import Name


class ClientSummary(msgspec.Struct):
    client_id: uuid.UUID
    wallet_id: uuid.UUID
    first_name: str
    last_name: str
    phone: str
    language: str
    created_at: datetime
    has_passkey: bool
    closed_at: datetime | None = None  # the account was closed (POST /api/clients/{id}/close)


class ClientList(msgspec.Struct):
    items: list[ClientSummary]
    next_cursor: str | None


class FileDecisionLine(msgspec.Struct):
    label: str
    monthly_amount_cents: int
    categories: list[str]


class FileDecision(msgspec.Struct):
    decision_id: uuid.UUID
    valid_from: date
    valid_to: date | None
    carry_over: str
    carry_over_cap_cents: int
    created_at: datetime
    lines: list[FileDecisionLine]


class FileCard(msgspec.Struct):
    card_id: uuid.UUID
    card_number: str
    status: str
    has_pin: bool
    failed_attempts: int
    created_at: datetime


class FileInvite(msgspec.Struct):
    created_at: datetime
    expires_at: datetime
    status: str


class ClientFile(msgspec.Struct):
    client: ClientSummary
    decisions: list[FileDecision]
    cards: list[FileCard]
    invites: list[FileInvite]


class FundingRun(msgspec.Struct):
    period: str
    funded_envelopes: int
    funded_cents: int
    expired_envelopes: int
    expired_cents: int
    started_at: datetime | None
    finished_at: datetime | None
    envelopes_eligible: int


class OpenVisitLine(msgspec.Struct):
    category: str
    quantity: str | None
    unit_price_cents: int | None
    amount_cents: int


class OpenVisit(msgspec.Struct):
    hold_id: uuid.UUID
    amount_cents: int
    created_at: datetime
    expires_at: datetime
    lines: list[OpenVisitLine]


# --- staff management (issue 15): an organizer's case managers, a provider's staff -----------


class StaffMember(msgspec.Struct):
    """A case manager (``admin``: may manage case managers) or a provider's staff member
    (``owner``: may manage the provider's staff). ``signed_up``: has a passkey in use;
    ``invite_expires_at``: an unused invite waits until then; ``removed_at``: removed, can no
    longer sign in."""

    principal_id: uuid.UUID
    display_name: str
    admin: bool
    owner: bool
    signed_up: bool
    removed_at: datetime | None
    invite_expires_at: datetime | None
    created_at: datetime


class StaffCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new case manager; ``admin`` gives them the admin right."""

    display_name: Name
    admin: bool = False


class ProviderStaffCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A provider's new staff member; ``owner`` makes them an owner too."""

    display_name: Name
    owner: bool = False


class StaffUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """A case manager's admin right."""

    admin: bool
