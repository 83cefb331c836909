"""Response bodies of the organizer's reports (rows per month, per provider)."""

from __future__ import annotations

import uuid

from msgspec import Struct


class MonthRow(Struct):
    period: str
    services: str
    allotted_cents: int
    funded_cents: int
    spent_cents: int
    refunded_cents: int
    expired_cents: int
    other_cents: int
    use_rate_pct: str | None
    spent_net_cents: int = 0  # spent - refunded: what the table and chart call "spent"


class ProviderRow(Struct):
    period: str
    provider_id: uuid.UUID
    provider: str
    earned_cents: int
    refunded_cents: int
    net_cents: int
    settled_cents: int
