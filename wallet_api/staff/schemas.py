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


class DecisionLineOut(msgspec.Struct):
    label: str
    monthly_amount_cents: int
    categories: list[str]


class DecisionOut(msgspec.Struct):
    decision_id: uuid.UUID
    valid_from: date
    valid_to: date | None
    carry_over: str
    carry_over_cap_cents: int
    created_at: datetime
    lines: list[DecisionLineOut]


class CardOut(msgspec.Struct):
    card_id: uuid.UUID
    card_number: str
    status: str
    has_pin: bool
    failed_attempts: int
    created_at: datetime


class InviteOut(msgspec.Struct):
    created_at: datetime
    expires_at: datetime
    status: str


class ClientFileOut(msgspec.Struct):
    client: ClientSummary
    decisions: list[DecisionOut]
    cards: list[CardOut]
    invites: list[InviteOut]


class FundingRunOut(msgspec.Struct):
    period: str
    funded_envelopes: int
    funded_cents: int
    expired_envelopes: int
    expired_cents: int
    started_at: datetime | None
    finished_at: datetime | None
    envelopes_eligible: int


class OpenVisitLineOut(msgspec.Struct):
    category: str
    quantity: str | None
    unit_price_cents: int | None
    amount_cents: int


class OpenVisitOut(msgspec.Struct):
    hold_id: uuid.UUID
    amount_cents: int
    created_at: datetime
    expires_at: datetime
    lines: list[OpenVisitLineOut]
