"""Response bodies of a wallet and its transactions. Money is integer cents everywhere."""

from __future__ import annotations

import uuid

from msgspec import Struct

from wallet_api.checkout.schemas import PaymentRequest


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
    # Reserved by open holds and payment requests: not in the balance, not yet spent.
    held_cents: int = 0


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


class TransactionService(Struct):
    """A service the row paid, held or refunded: its code, its name in the reader's language,
    the unit, and how many (None for a hold made without a quantity)."""

    code: str
    name: str
    unit: str
    quantity: str | None


class TransactionHold(Struct):
    """For a hold (money reserved for a payment request or a visit) and its release: what the
    hold was for and what became of it."""

    purpose: str  # request | visit
    status: str  # held | captured | voided | expired
    amount_cents: int
    captured_cents: int
    request_status: str | None = None  # a request's: pending, approved, declined, ...


class Transaction(Struct):
    """One movement of an envelope, with what it was about: the provider, the services and,
    for a hold or its release, the hold (``kind``: funding, charge, refund, expiry, hold,
    hold_release)."""

    id: int
    kind: str
    amount_cents: int
    envelope_id: int
    period: str
    charge_id: uuid.UUID | None
    provider_name: str | None
    created_at: str
    client_share_cents: int = 0  # a charge's own share above a voucher (not wallet money)
    services: list[TransactionService] = []
    hold: TransactionHold | None = None


class TransactionPage(Struct):
    items: list[Transaction]
    next_cursor: str | None


class FirstWallet(Struct):
    """What the balances screen draws first, in one answer (``GET /api/me/wallet``)."""

    wallet: Wallet
    transactions: TransactionPage
    payment_requests: list[PaymentRequest]
