"""Request and response bodies (msgspec Structs). Money is integer cents everywhere."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from msgspec import Meta, Struct

Cents = Annotated[int, Meta(gt=0, le=100_000_000, description="An amount in euro cents")]
Code = Annotated[str, Meta(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")]
Name = Annotated[str, Meta(min_length=1, max_length=100)]


class ChargeLineCreate(Struct, forbid_unknown_fields=True):
    category: Code
    quantity: Annotated[Decimal, Meta(description="Units delivered, e.g. 1.5 (hours)")]
    unit_price_cents: Annotated[int, Meta(gt=0, le=10_000_000)]


class ChargeCreate(Struct, forbid_unknown_fields=True):
    """Identify the customer by ``phone`` (the client tells it) or ``wallet_id``."""

    lines: Annotated[list[ChargeLineCreate], Meta(min_length=1, max_length=20)]
    phone: Annotated[str, Meta(min_length=1, max_length=32)] | None = None
    wallet_id: uuid.UUID | None = None


class ChargeLine(Struct):
    category: str
    quantity: str
    unit_price_cents: int
    amount_cents: int


class Charge(Struct):
    id: uuid.UUID
    status: str
    provider_id: uuid.UUID
    provider_name: str
    wallet_id: uuid.UUID
    total_cents: int
    refunded_cents: int
    period: str
    created_at: str
    lines: list[ChargeLine]


class ChargePage(Struct):
    items: list[Charge]
    next_cursor: str | None


class RefundCreate(Struct, forbid_unknown_fields=True):
    """Omit ``amount_cents`` to refund everything that is left of the charge."""

    amount_cents: Cents | None = None
    reason: Annotated[str, Meta(max_length=500)] | None = None


class Refund(Struct):
    id: uuid.UUID
    charge_id: uuid.UUID
    amount_cents: int
    charge_refunded_cents: int
    returned_to: str
    created_at: str


class Envelope(Struct):
    id: int
    label: str
    categories: list[str]
    balance_cents: int
    monthly_amount_cents: int
    period: str | None
    funded_cents: int
    spent_cents: int
    expires_at: str | None
    carry_over: str
    valid_from: str
    valid_to: str | None


class WalletClient(Struct):
    id: uuid.UUID
    first_name: str
    last_name: str
    language: str


class Wallet(Struct):
    id: uuid.UUID
    client: WalletClient
    current_period: str
    envelopes: list[Envelope]


class Transaction(Struct):
    id: int
    kind: str
    amount_cents: int
    envelope_id: int
    period: str
    charge_id: uuid.UUID | None
    provider_name: str | None
    created_at: str


class TransactionPage(Struct):
    items: list[Transaction]
    next_cursor: str | None


class ClientCreate(Struct, forbid_unknown_fields=True):
    first_name: Name
    last_name: Name
    phone: Annotated[str, Meta(min_length=1, max_length=32)]
    language: Annotated[str, Meta(pattern="^(fi|sv|en)$")] = "fi"


class ClientCreated(Struct):
    client_id: uuid.UUID
    wallet_id: uuid.UUID


class DecisionLineCreate(Struct, forbid_unknown_fields=True):
    label: Annotated[str, Meta(min_length=1, max_length=200)]
    monthly_amount_cents: Cents
    categories: Annotated[list[Code], Meta(min_length=1, max_length=20)]


class DecisionCreate(Struct, forbid_unknown_fields=True):
    valid_from: date
    lines: Annotated[list[DecisionLineCreate], Meta(min_length=1, max_length=20)]
    valid_to: date | None = None
    carry_over: Annotated[str, Meta(pattern="^(none|capped)$")] = "none"
    carry_over_cap_cents: Annotated[int, Meta(ge=0, le=100_000_000)] = 0


class DecisionCreated(Struct):
    decision_id: uuid.UUID


class Category(Struct):
    code: str
    name: str
    unit: str
    price_cap_cents: int | None


class Me(Struct):
    principal_id: uuid.UUID
    role: str
    display_name: str
    organizer_id: uuid.UUID
    client_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    wallets: list[uuid.UUID]


class Health(Struct):
    status: str
    database: str
