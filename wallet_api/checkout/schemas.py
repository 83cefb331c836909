"""Request and response bodies of checkout at the door (issue 4). Money is integer cents."""

from __future__ import annotations

import uuid
from typing import Annotated

from msgspec import Meta, Struct

from wallet_api.charges.schemas import Charge, ChargeLineCreate
from wallet_api.types import ONE_LINE, Phone, StrictBody, whole

Lines = Annotated[list[ChargeLineCreate], Meta(min_length=1, max_length=20)]
Pin = Annotated[str, Meta(min_length=4, max_length=6, pattern=whole("[0-9]{4,6}", "4 to 6 digits"))]
# What a provider types or scans at the door; each is checked by its own rule after decoding,
# and none may carry a control character (wallet_api.types).
Token = Annotated[str, Meta(min_length=10, max_length=100, pattern=ONE_LINE)]
PaymentCode = Annotated[str, Meta(min_length=8, max_length=12, pattern=ONE_LINE)]
CardNumber = Annotated[str, Meta(min_length=4, max_length=40, pattern=ONE_LINE)]
TypedPin = Annotated[str, Meta(min_length=1, max_length=12, pattern=ONE_LINE)]
CapCents = Annotated[int, Meta(gt=0, le=10_000_000)]


class PhoneCheckoutCreate(StrictBody, forbid_unknown_fields=True):
    """The client tells their phone number; the provider enters the lines."""

    phone: Phone
    lines: Lines


class TokenCheckoutCreate(StrictBody, forbid_unknown_fields=True):
    """The client's QR (``token``) or the 8-digit ``code`` under it."""

    lines: Lines
    token: Token | None = None
    code: PaymentCode | None = None


class CardCheckoutCreate(StrictBody, forbid_unknown_fields=True):
    card_number: CardNumber
    pin: TypedPin
    lines: Lines


class HoldCreate(StrictBody, forbid_unknown_fields=True):
    """Hold the expected price at check-in. Identify the client by ``token``/``code`` (their
    QR), ``card_number`` + ``pin``, or ``phone`` (trusted providers only)."""

    lines: Lines
    token: Token | None = None
    code: PaymentCode | None = None
    card_number: CardNumber | None = None
    pin: TypedPin | None = None
    phone: Phone | None = None
    ttl_minutes: Annotated[int, Meta(ge=1, le=2880)] = 720


class HoldCaptureCreate(StrictBody, forbid_unknown_fields=True):
    """What was delivered; at most what was held. The rest is released."""

    lines: Lines


class Hold(Struct):
    id: uuid.UUID
    status: str
    provider_id: uuid.UUID
    provider_name: str
    wallet_id: uuid.UUID
    amount_cents: int
    captured_cents: int
    charge_id: uuid.UUID | None
    expires_at: str
    created_at: str
    categories: list[str]
    charge: Charge | None = None


class RequestLine(Struct):
    category: str
    quantity: str
    unit_price_cents: int
    amount_cents: int  # from the wallet
    client_share_cents: int = 0  # above a voucher's value, paid to the provider directly


class PaymentRequest(Struct):
    """``total_cents`` is what the wallet pays on approval; ``client_share_cents`` what the
    client pays the provider themselves (a voucher line above its value), shown before they
    approve. A QR request not yet approved carries the full price and no share."""

    id: uuid.UUID
    status: str
    provider_id: uuid.UUID
    provider_name: str
    wallet_id: uuid.UUID | None
    total_cents: int
    lines: list[RequestLine]
    charge_id: uuid.UUID | None
    expires_at: str
    created_at: str
    decided_at: str | None
    qr_payload: str | None = None
    qr_svg: str | None = None
    client_share_cents: int = 0


class CheckoutResult(Struct):
    """``captured`` (a trusted provider within its caps) or ``pending`` (a payment request
    with the money held; poll the request or follow live events)."""

    outcome: str
    charge: Charge | None
    request: PaymentRequest | None


class QrRequestCreate(StrictBody, forbid_unknown_fields=True):
    lines: Lines


class RequestApprovalCreate(StrictBody, forbid_unknown_fields=True):
    """A carer names the wallet they approve for; a client's own wallet is implied."""

    wallet_id: uuid.UUID | None = None


class PaymentToken(Struct):
    token: str
    code: str
    wallet_id: uuid.UUID
    expires_at: str
    qr_svg: str
    qr_png: str


class PaymentTokenCreate(StrictBody, forbid_unknown_fields=True):
    ttl_seconds: Annotated[int, Meta(ge=10, le=120)] = 120


class TrustedProviderUpdate(StrictBody, forbid_unknown_fields=True):
    per_charge_cap_cents: CapCents
    monthly_cap_cents: CapCents | None = None


class TrustedProvider(Struct):
    provider_id: uuid.UUID
    provider_name: str
    per_charge_cap_cents: int
    monthly_cap_cents: int | None
    month_spent_cents: int


class CardCreate(StrictBody, forbid_unknown_fields=True):
    pin: Pin | None = None


class CardPinUpdate(StrictBody, forbid_unknown_fields=True):
    pin: Pin


class Card(Struct):
    id: uuid.UUID
    card_number: str
    wallet_id: uuid.UUID
    status: str
    has_pin: bool
    failed_attempts: int
    first_name: str
    help_phone: str | None
    organizer_name: str
