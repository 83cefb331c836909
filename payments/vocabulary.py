"""The domain's words: every kind, status and role the code compares or stores, as ``StrEnum``.

A member *is* its string (``TransferKind.CHARGE == "charge"``), so rows, JSON bodies, the
outbox and the API keep the plain strings they always had; the code names them once, here,
and a typo is an error for mypy instead of a silent mismatch. The tables' CHECK constraints are
written from these enums (:func:`sql_in`), and the migrations' copies list the same values.

Here, at the shared top level, rather than beside the tables: the words belong to the use
cases, ``wallet_api`` and ``notifications`` as much as to the models, and this module imports
nothing, so every layer may use it (``tests/unit/test_import_boundaries.py``).
"""

from __future__ import annotations

from enum import StrEnum


class AccountKind(StrEnum):
    """What a ledger account is (docs/ledger.md, "Accounts")."""

    ORGANIZER_BUDGET = "organizer_budget"
    ENVELOPE = "envelope"
    HOLD = "hold"
    PROVIDER_PAYABLE = "provider_payable"
    EXPIRED = "expired"
    SETTLEMENT = "settlement"


class TransferKind(StrEnum):
    """Why money moved: the ``kind`` of a transfer (CHECK ``ck_transfers_kind_known``)."""

    FUNDING = "funding"  # organizer budget -> envelope, monthly
    EXPIRY = "expiry"  # envelope -> expired, a closed month's remainder
    CHARGE = "charge"  # envelope or hold account -> provider payable
    REFUND = "refund"  # provider payable -> envelope, its month still open
    REFUND_CLOSED = "refund_closed"  # provider payable -> organizer budget, month closed
    HOLD = "hold"  # envelope -> its hold account
    HOLD_RELEASE = "hold_release"  # hold account -> envelope, its month still open
    HOLD_EXPIRED = "hold_expired"  # hold account -> expired, month closed
    SETTLEMENT = "settlement"  # provider payable -> settlement, paid out
    # settlement -> provider payable: the bank returned or rejected a payout (migration 0014);
    # the money is the provider's again and the next settlement pays it.
    SETTLEMENT_RETURNED = "settlement_returned"
    # provider payable -> organizer budget: a case manager's correction of a wrong charge whose
    # month has closed (migration 0016; payments.checkout.corrections).
    CORRECTION = "correction"


class ChargeStatus(StrEnum):
    CAPTURED = "captured"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class HoldStatus(StrEnum):
    HELD = "held"
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


class RequestStatus(StrEnum):
    """A payment request's status."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class CorrectionStatus(StrEnum):
    """A correction of a charge: made at once, or waiting for a second case manager."""

    PENDING = "pending"  # above the organizer's limit: waits for a second case manager
    APPROVED = "approved"  # the money moved (its transfer_id names the transfer)
    REJECTED = "rejected"  # the second case manager said no; nothing moved


class SettlementStatus(StrEnum):
    """What the bank said about a settlement's payout (``wallet bank import``)."""

    PENDING = "pending"  # in a bank file, nothing heard back yet
    PAID = "paid"  # the bank booked it (camt.054) or reported it settled (pain.002)
    REJECTED = "rejected"  # rejected (pain.002) or returned (camt.054); paid again next run


class Role(StrEnum):
    """A principal's role."""

    CLIENT = "client"
    CARER = "carer"
    PROVIDER = "provider"
    CASE_MANAGER = "case_manager"


def sql_in(column: str, values: type[StrEnum]) -> str:
    """``column IN ('a','b',...)``: a CHECK constraint's text, in the enum's order."""
    return f"{column} IN (" + ",".join(f"'{v.value}'" for v in values) + ")"
