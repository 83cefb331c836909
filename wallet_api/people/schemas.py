"""Request and response bodies of clients, decisions, me and categories. Money is integer
cents everywhere."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from wallet_api.signin.schemas import SessionStatus
from wallet_api.types import Cents, Code, Label, Name, Phone, StrictBody, whole


class ClientCreate(Struct, forbid_unknown_fields=True):
    first_name: Name
    last_name: Name
    phone: Phone
    language: Annotated[str, Meta(pattern=whole("fi|sv|en"))] = "fi"


class Client(Struct):
    client_id: uuid.UUID
    wallet_id: uuid.UUID


class ClientClosed(Struct):
    """What closing a client's account did: the money that went to the county, and how many
    of each thing ended."""

    client_id: uuid.UUID
    wallet_id: uuid.UUID
    closed_at: datetime
    expired_cents: int
    passkeys: int
    sessions: int
    api_keys: int
    push_subscriptions: int
    mandates: int
    trusted_providers: int
    cards: int
    sms_numbers: int = 0


class ImportedRow(Struct):
    """What one row of an imported client file does (or, in a dry run, would do)."""

    line: str  # "line 2": the row's line in the file
    client_ref: str
    client: Literal["created", "linked", "unchanged"]
    decision_ref: str | None
    decision: Literal["created", "unchanged"] | None


class ClientImport(Struct):
    dry_run: bool
    clients_created: int
    clients_linked: int
    clients_unchanged: int
    decisions_created: int
    decisions_unchanged: int
    rows: list[ImportedRow]


HoursPerWeek = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=12,
        pattern=whole(r"[0-9]{1,3}(\.[0-9]{1,3})?", 'hours as a decimal string, such as "7.5"'),
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


class MonthlyAmountCreate(StrictBody, forbid_unknown_fields=True):
    """Turn "hours a week x value per hour" into a monthly amount."""

    hours_per_week: HoursPerWeek
    value_per_hour_cents: Cents


class MonthlyAmount(Struct):
    monthly_amount_cents: int
    formula: str


class DecisionCreate(StrictBody, forbid_unknown_fields=True):
    valid_from: date
    lines: Annotated[list[DecisionLineCreate], Meta(min_length=1, max_length=20)]
    valid_to: date | None = None
    carry_over: Annotated[str, Meta(pattern=whole("none|capped"))] = "none"
    carry_over_cap_cents: Annotated[int, Meta(ge=0, le=100_000_000)] = 0


class Decision(Struct):
    decision_id: uuid.UUID


class Category(Struct):
    code: str
    name: str
    unit: str
    price_cap_cents: int | None
    # The groups of services it belongs to (catalogue import): a decision line may fund a group.
    groups: list[str] = []


class Me(Struct):
    principal_id: uuid.UUID
    role: str
    display_name: str
    organizer_id: uuid.UUID
    client_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    wallets: list[uuid.UUID]
    # A case manager's admin right (manages case managers); a provider's owner (its staff).
    admin: bool = False
    owner: bool = False


class MeWithSession(Me):
    """``/api/me``: plus the session's time left when signed in with a passkey."""

    session: SessionStatus | None = None
    csrf_token: str | None = None
