"""Request and response bodies (msgspec Structs). Money is integer cents everywhere."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from msgspec import Meta, Struct

from payments.checkout.charges import MAX_QUANTITY, QUANTITY_PATTERN, parse_quantity
from payments.errors import InvalidInput
from wallet_api.types import Label, Name, Phone, Reason, whole

Cents = Annotated[int, Meta(gt=0, le=100_000_000, description="An amount in euro cents")]
Code = Annotated[str, Meta(min_length=1, max_length=40, pattern=whole("[a-z0-9][a-z0-9-]*"))]
# Names, labels and reasons refuse control characters: wallet_api.types.


# THE quantity of every charge line a route takes (charges, checkout, holds, requests): a JSON
# string of ASCII digits with at most one "." and three decimals, or a whole JSON number. A JSON
# fraction (1.5) is refused: most clients hold it as a binary float, and money is never a float.
# The rule itself is payments.charges.parse_quantity, which ChargeLineCreate runs at decoding.
_QUANTITY_DOC = (
    f"Units delivered, more than 0 and at most {MAX_QUANTITY}: a string of ASCII digits with at "
    'most one "." and three decimals, e.g. "1.5" (hours), or a whole number. No sign, exponent, '
    "spaces, comma or other digits."
)
Quantity = Annotated[
    Annotated[str, Meta(pattern=whole(QUANTITY_PATTERN.strip("^$")), max_length=8)]
    | Annotated[int, Meta(gt=0, le=int(MAX_QUANTITY))],
    Meta(
        description=_QUANTITY_DOC,
        examples=["1.5"],
        # Litestar drops the constraints of a union's arms from OpenAPI; state them here.
        extra_json_schema={
            "extra": {
                "one_of": [
                    {"type": "string", "pattern": QUANTITY_PATTERN, "maxLength": 8},
                    {"type": "integer", "exclusiveMinimum": 0, "maximum": int(MAX_QUANTITY)},
                ]
            },
        },
    ),
]


class ChargeLineCreate(Struct, forbid_unknown_fields=True):
    category: Code
    quantity: Quantity
    unit_price_cents: Annotated[int, Meta(gt=0, le=10_000_000)]

    def __post_init__(self) -> None:
        # What the pattern cannot say (more than 0, at most the maximum, no trailing newline)
        # is refused here, while decoding, by the domain's own rule.
        try:
            parse_quantity(self.quantity)
        except InvalidInput as exc:
            raise ValueError(exc.detail) from None


class ChargeCreate(Struct, forbid_unknown_fields=True):
    """Identify the customer by ``phone`` (the client tells it) or ``wallet_id``."""

    lines: Annotated[list[ChargeLineCreate], Meta(min_length=1, max_length=20)]
    phone: Phone | None = None
    wallet_id: uuid.UUID | None = None


class ChargeLine(Struct):
    """``amount_cents`` is what the wallet paid; ``client_share_cents`` the client's own share
    above a service voucher's value, collected by the provider outside the wallet."""

    category: str
    quantity: str
    unit_price_cents: int
    amount_cents: int
    client_share_cents: int = 0


class Charge(Struct):
    """A charge (the receipt). ``total_cents`` is what the wallet paid; the client's own share
    (``client_share_cents``) is shown beside it and never moves in the wallet."""

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
    client_share_cents: int = 0


class ChargePage(Struct):
    items: list[Charge]
    next_cursor: str | None


class RefundCreate(Struct, forbid_unknown_fields=True):
    """Omit ``amount_cents`` to refund everything that is left of the charge."""

    amount_cents: Cents | None = None
    reason: Reason | None = None


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


class ClientCreate(Struct, forbid_unknown_fields=True):
    first_name: Name
    last_name: Name
    phone: Phone
    language: Annotated[str, Meta(pattern=whole("fi|sv|en"))] = "fi"


class ClientCreated(Struct):
    client_id: uuid.UUID
    wallet_id: uuid.UUID


HoursPerWeek = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=12,
        pattern=whole(r"[0-9]{1,3}(\.[0-9]{1,3})?"),
        description="Hours a week as a decimal string, at most three decimals, e.g. 7.5",
    ),
]


class DecisionLineCreate(Struct, forbid_unknown_fields=True):
    """A budget line, or a service-voucher line with ``voucher_value_cents`` (the most the
    wallet pays per unit; above it the client pays their own share). With ``hours_per_week``
    the monthly amount may be left out: it is hours x voucher value x 52 / 12."""

    label: Label
    categories: Annotated[list[Code], Meta(min_length=1, max_length=20)]
    monthly_amount_cents: Cents | None = None
    voucher_value_cents: Cents | None = None
    hours_per_week: HoursPerWeek | None = None


class DecisionHelperIn(Struct, forbid_unknown_fields=True):
    """Turn "hours a week x value per hour" into a monthly amount."""

    hours_per_week: HoursPerWeek
    value_per_hour_cents: Cents


class DecisionHelperOut(Struct):
    monthly_amount_cents: int
    formula: str


class DecisionCreate(Struct, forbid_unknown_fields=True):
    valid_from: date
    lines: Annotated[list[DecisionLineCreate], Meta(min_length=1, max_length=20)]
    valid_to: date | None = None
    carry_over: Annotated[str, Meta(pattern=whole("none|capped"))] = "none"
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
