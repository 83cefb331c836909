"""Response bodies of a wallet and its transactions. Money is integer cents everywhere."""

from __future__ import annotations

import uuid

from msgspec import Struct


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
    voucher_value_cents: int | None = None  # a service voucher: the most paid per unit
    carry_over_cap_cents: int = 0  # with carry_over "capped": what may stay past month's end


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
    client_share_cents: int = 0  # a charge's own share above a voucher (not wallet money)


class TransactionPage(Struct):
    items: list[Transaction]
    next_cursor: str | None
