"""Request and response bodies of the providers' marketplace (msgspec Structs). Money is integer
cents everywhere."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from payments.marketplace import providers
from wallet_api import types
from wallet_api.types import ONE_LINE, Code, Phone, StrictBody


def _line(max_length: int, min_length: int = 1, description: str | None = None) -> Meta:
    """One line of text of at most ``max_length`` characters (wallet_api.types)."""
    return Meta(
        min_length=min_length, max_length=max_length, pattern=ONE_LINE, description=description
    )


Text200 = Annotated[str, _line(200)]
PriceCents = Annotated[int, Meta(gt=0, le=100_000_000, description="Price per unit, euro cents")]


class ApplicationCreate(StrictBody, forbid_unknown_fields=True):
    """A provider's application. ``organizer`` is the county's slug (default: the signed-in
    caller's county). ``prices``: service category code -> price per unit in cents."""

    company_name: Text200
    business_id: Annotated[str, _line(20, description="Y-tunnus")]
    iban: Annotated[str, _line(50)]
    bic: Annotated[str, _line(20)]
    contact_name: Text200
    contact_email: Annotated[str, _line(254, min_length=3)]
    contact_phone: Phone
    languages: Annotated[list[Annotated[str, _line(10, 0)]], Meta(min_length=1, max_length=10)]
    municipalities: Annotated[
        list[Annotated[str, _line(100, 0)]], Meta(min_length=1, max_length=60)
    ]
    prices: Annotated[dict[Code, PriceCents], Meta(min_length=1, max_length=40)]
    organizer: Annotated[str, _line(40)] | None = None
    # Send anyway after a ``possible-duplicate`` warning (the same IBAN or contact person as an
    # earlier application of the county).
    confirm_duplicate: bool = False

    def to_domain(self) -> providers.Application:
        return providers.Application(
            company_name=self.company_name,
            business_id=self.business_id,
            iban=self.iban,
            bic=self.bic,
            contact_name=self.contact_name,
            contact_email=self.contact_email,
            contact_phone=self.contact_phone,
            languages=list(self.languages),
            municipalities=list(self.municipalities),
            prices=dict(self.prices),
            confirm_duplicate=self.confirm_duplicate,
        )


class Application(Struct):
    """``possible_duplicates``: what the application shares with an earlier one of the county
    (``iban``, ``contact``), a warning; it is recorded all the same."""

    provider_id: uuid.UUID
    status: str
    possible_duplicates: list[str] = []


class County(Struct):
    """A county that providers may apply to: ``organizer`` is its slug."""

    organizer: str
    name: str


class OwnProvider(Struct):
    """The signed-in provider's standing: only ``approved`` may charge."""

    provider_id: uuid.UUID
    name: str
    status: str
    decision_reason: str | None


class PriceChange(Struct):
    effective_from: date
    unit_price_cents: int


class ProviderPrice(Struct):
    category: str
    unit_price_cents: int  # in force today
    approved: bool
    upcoming: list[PriceChange] = []


class Provider(Struct):
    provider_id: uuid.UUID
    name: str
    business_id: str
    status: str
    iban: str | None
    bic: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    languages: list[str]
    municipalities: list[str]
    prices: list[ProviderPrice]
    decision_reason: str | None
    created_at: datetime


class ProviderApprovalCreate(Struct, forbid_unknown_fields=True):
    """``categories``: the services approved (default: every one applied for)."""

    categories: Annotated[list[Code], Meta(max_length=40)] | None = None


class ProviderStatusUpdate(Struct, forbid_unknown_fields=True):
    reason: types.Reason | None = None


class ProviderStatus(Struct):
    provider_id: uuid.UUID
    status: str


class DirectoryEntry(Struct):
    provider_id: uuid.UUID
    provider_name: str
    category: str
    category_name: str
    unit: str
    unit_price_cents: int
    municipalities: list[str]
    languages: list[str]
    contact_phone: str | None
    next_price_from: date | None = None  # an announced price change, if any
    next_price_cents: int | None = None


class PriceListEntry(Struct):
    """One service in a provider's own price list."""

    category: str
    category_name: str
    unit: str
    price_cap_cents: int | None
    approved: bool
    unit_price_cents: int | None
    in_force_since: date | None
    upcoming: list[PriceChange]


class PriceVersionCreate(StrictBody, forbid_unknown_fields=True):
    """A new price for one service, in force from ``effective_from`` (today or later)."""

    category: Code
    unit_price_cents: Annotated[int, Meta(gt=0, le=10_000_000)]
    effective_from: date


class PriceVersion(Struct):
    category: str
    unit_price_cents: int
    effective_from: date
    approved: bool


class Settlement(Struct):
    id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    reference: str
    until: date
    amount_cents: int
    created_at: datetime
    lines: int
    # What the bank said of the payout (``wallet bank import``): pending until it answers; a
    # rejected payout is the provider's again and is paid in the next settlement.
    status: Literal["pending", "paid", "rejected"]
    bank_reason: str | None


class SettlementLine(Struct):
    transfer_id: int
    charge_id: uuid.UUID | None
    kind: str
    period: str
    amount_cents: int
    booked_at: datetime


class SettlementDetail(Struct):
    settlement: Settlement
    lines: list[SettlementLine]
