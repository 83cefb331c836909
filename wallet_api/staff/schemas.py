"""Response bodies of the staff reads: the client list and file, funding runs, open visits."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec


class ClientSummary(msgspec.Struct):
    client_id: uuid.UUID
    wallet_id: uuid.UUID
    first_name: str
    last_name: str
    phone: str
    language: str
    created_at: datetime
    has_passkey: bool


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
