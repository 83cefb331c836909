"""Request and response bodies of corrections. Money is integer cents everywhere."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from msgspec import Meta, Struct

from wallet_api.types import MULTI_LINE, Cents, StrictBody

# A correction's reason, or a rejection's note: up to 500 characters, lines allowed.
CorrectionReason = Annotated[str, Meta(min_length=1, max_length=500, pattern=MULTI_LINE)]


class CorrectionCreate(StrictBody, forbid_unknown_fields=True):
    """How much of the charge goes back to the county's budget, and why (the client sees the
    reason on the month's statement)."""

    amount_cents: Cents
    reason: CorrectionReason


class CorrectionReject(StrictBody, forbid_unknown_fields=True):
    note: CorrectionReason | None = None


class Correction(Struct):
    """A correction: ``pending`` (waits for a second case manager), ``approved`` (the money
    moved) or ``rejected``. ``may_decide``: whether the caller may approve it now."""

    id: uuid.UUID
    charge_id: uuid.UUID
    wallet_id: uuid.UUID
    client_name: str
    provider_name: str
    period: str
    charge_total_cents: int
    amount_cents: int
    reason: str
    status: str
    requested_by: uuid.UUID
    requested_by_name: str
    requested_at: datetime
    decided_by: uuid.UUID | None
    decided_by_name: str | None
    decided_at: datetime | None
    decision_note: str | None
    may_decide: bool = False


class OrganizerSettings(StrictBody, forbid_unknown_fields=True):
    """A correction above ``correction_approval_above_cents`` waits for a second case
    manager's approval (0: every correction waits)."""

    correction_approval_above_cents: Annotated[int, Meta(ge=0, le=100_000_000)]
