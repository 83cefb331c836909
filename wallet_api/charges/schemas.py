"""Request and response bodies of charges and refunds. Money is integer cents everywhere."""

from __future__ import annotations

import uuid
from typing import Annotated

from msgspec import Meta, Struct

from payments.checkout.charges import MAX_QUANTITY, QUANTITY_PATTERN, parse_quantity
from payments.errors import InvalidInput
from wallet_api.types import Cents, Code, Phone, Reason, StrictBody, whole, worded

# THE quantity of every charge line a route takes (charges, checkout, holds, requests): a JSON
# string of ASCII digits with at most one "." and three decimals, or a whole JSON number. A JSON
# fraction (1.5) is refused: most clients hold it as a binary float, and money is never a float.
# The rule itself is payments.charges.parse_quantity, which ChargeLineCreate runs at decoding.
_QUANTITY_DOC = (
    f"Units delivered, more than 0 and at most {MAX_QUANTITY}: a string of ASCII digits with at "
    'most one "." and three decimals, e.g. "1.5" (hours), or a whole number. No sign, exponent, '
    "spaces, comma or other digits."
)
_QUANTITY_WORDS = 'a number as a string, with at most three decimals after a ".", such as "1.5"'
Quantity = Annotated[
    Annotated[str, Meta(pattern=whole(QUANTITY_PATTERN.strip("^$"), _QUANTITY_WORDS), max_length=8)]
    | Annotated[int, Meta(gt=0, le=int(MAX_QUANTITY))],
    Meta(
        description=_QUANTITY_DOC,
        examples=["1.5"],
        # Litestar drops the constraints of a union's arms from OpenAPI; state them here.
        extra_json_schema={
            "extra": {
                "one_of": [
                    {
                        "type": "string",
                        "pattern": worded(QUANTITY_PATTERN, _QUANTITY_WORDS),
                        "maxLength": 8,
                    },
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


class ChargeCreate(StrictBody, forbid_unknown_fields=True):
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


class RefundCreate(StrictBody, forbid_unknown_fields=True):
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
