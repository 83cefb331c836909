"""What the right-of-access export answers (``payments.reporting.access_export`` builds it).

Each section is a list of rows (a few are one object); the rows' fields are documented in
docs/privacy.md. Typed loosely on purpose: the export is for people and their lawyers to read,
and a new field in a section should not need a schema change here.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

Rows = list[dict[str, Any]]


class AccessExport(Struct):
    export: dict[str, Any]
    person: dict[str, Any]
    people: Rows
    decisions: Rows
    wallet: dict[str, Any] | None
    statements: Rows
    transfers: Rows
    charges: Rows
    holds: Rows
    payment_requests: Rows
    payment_codes: Rows
    trusted_providers: Rows
    carers: Rows
    qr_cards: Rows
    invites: Rows
    passkeys: Rows
    sessions: Rows
    api_keys: Rows
    push_devices: Rows
    notification_settings: Rows
    low_balance_alerts: Rows
    sms_numbers: Rows
    sms_texts: Rows
    notifications: Rows
    audit: Rows
    not_included: Rows
