"""Domain errors. Each says, in the domain's words, what kind of refusal it is (``Refusal``)
and carries a stable problem ``type`` slug; the web layer (``wallet_api.problems``) chooses the
HTTP status for each kind and maps them to RFC 9457 problem+json without knowing the domain.

Titles are English; the web layer translates them by slug (fi/sv/en) for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Refusal(StrEnum):
    """Why a use case refused: the few kinds of "no" the web layer has to tell apart."""

    INVALID = "invalid"  # the request itself is malformed or out of range
    UNAUTHENTICATED = "unauthenticated"  # who is asking is not proven
    FORBIDDEN = "forbidden"  # known caller, not allowed
    NOT_FOUND = "not-found"  # no such thing, or not the caller's to know of
    CONFLICT = "conflict"  # the thing's current state does not allow it
    GONE = "gone"  # it existed but is used up or expired
    REFUSED = "refused"  # well-formed, but a money or business rule says no
    LOCKED = "locked"  # locked after too many failures
    TOO_MANY = "too-many"  # a rate limit


@dataclass(frozen=True)
class Why:
    """What is wrong with one value, for a person to read in their own language: a stable
    ``code`` (a slug per kind of reason) and the ``params`` its texts are filled with. The
    English ``detail`` beside it stays the text for logs, the CLI and integrators. Used where a
    refusal is listed to a person row by row (the client import's refused rows)."""

    code: str
    params: dict[str, str | int] = field(default_factory=dict)


class DomainError(Exception):
    kind = Refusal.INVALID
    slug = "bad-request"
    title = "The request cannot be processed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        slug: str | None = None,
        why: Why | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if slug is not None:
            self.slug = slug
        # Not in ``extra``: ``why`` is for the callers that list reasons, not every problem.
        self.why = why
        self.extra = extra


class InsufficientFunds(DomainError):
    kind = Refusal.REFUSED
    slug = "insufficient-funds"
    title = "Not enough money left in this budget"


class NotInBudget(DomainError):
    """Also the answer for an unknown customer: who has a budget must not leak."""

    kind = Refusal.REFUSED
    slug = "not-in-budget"
    title = "This service is not in the customer's budget"


class ProviderNotApproved(DomainError):
    kind = Refusal.FORBIDDEN
    slug = "provider-not-approved"
    title = "The provider is not approved for this service"


class PriceAboveList(DomainError):
    kind = Refusal.REFUSED
    slug = "price-above-list"
    title = "The price is above the list price"


class IdempotencyKeyReused(DomainError):
    kind = Refusal.CONFLICT
    slug = "idempotency-key-reused"
    title = "This Idempotency-Key was already used for a different request"


class IdempotencyKeyUnanswered(DomainError):
    """The key is claimed but holds no answer: a request under it never finished its work.
    Claim and answer commit together, so this is only ever a half-written key; refusing it
    keeps a retry from being taken for a second, new request."""

    kind = Refusal.CONFLICT
    slug = "idempotency-key-unanswered"
    title = "A request with this Idempotency-Key has not finished; use a new key"


class IdempotencyKeyMissing(DomainError):
    kind = Refusal.INVALID
    slug = "idempotency-key-missing"
    title = "The Idempotency-Key header is required"


class RefundTooLarge(DomainError):
    kind = Refusal.REFUSED
    slug = "refund-exceeds-charge"
    title = "The refund is larger than what is left of the charge"


class UnknownCategory(DomainError):
    kind = Refusal.REFUSED
    slug = "unknown-category"
    title = "No such service in the catalogue"


class ConsentRequired(DomainError):
    """The provider is not trusted by the client (or is over the trusted caps)."""

    kind = Refusal.FORBIDDEN
    slug = "consent-required"
    title = "The client must approve this payment"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(
            detail
            or "Send the client a payment request (POST /api/checkout/phone) "
            "or charge with the client's payment code",
            **extra,
        )


class NotFound(DomainError):
    kind = Refusal.NOT_FOUND
    slug = "not-found"
    title = "Not found"


class Forbidden(DomainError):
    kind = Refusal.FORBIDDEN
    slug = "forbidden"
    title = "You may not do this"


class InvalidInput(DomainError):
    kind = Refusal.INVALID
    slug = "invalid-input"
    title = "The request has invalid values"


class Conflict(DomainError):
    kind = Refusal.CONFLICT
    slug = "conflict"
    title = "The request conflicts with the current state"


# Checkout at the door (issue 4). Titles are what a provider reads at the door.


class TokenInvalid(DomainError):
    """Unknown, expired, used or foreign payment tokens get this one answer."""

    kind = Refusal.REFUSED
    slug = "token-invalid"
    title = "The payment code is not valid; ask the client to show a new one"


class CardInvalid(DomainError):
    """An unknown card and a wrong PIN of an unlocked card are told apart only by this slug's
    ``attempts_left`` member, which a provider needs to warn the client."""

    kind = Refusal.REFUSED
    slug = "card-invalid"
    title = "The card or PIN is not valid"


class CardLocked(DomainError):
    kind = Refusal.LOCKED
    slug = "card-locked"
    title = "The card is locked; the client should contact their case manager"


class HoldNotOpen(DomainError):
    kind = Refusal.CONFLICT
    slug = "hold-not-open"
    title = "This hold has already been captured, voided or has expired"


class CaptureExceedsHold(DomainError):
    kind = Refusal.REFUSED
    slug = "capture-exceeds-hold"
    title = "The amount is more than was held"


class RequestExpired(DomainError):
    kind = Refusal.CONFLICT
    slug = "request-expired"
    title = "The payment request expired before it was approved"


class RequestDeclined(DomainError):
    kind = Refusal.CONFLICT
    slug = "request-declined"
    title = "The client declined the payment request"


class RequestNotPending(DomainError):
    kind = Refusal.CONFLICT
    slug = "request-not-pending"
    title = "The payment request has already been decided"


# --- Corrections after a month has closed (issue 18) -----------------------------------------


class CorrectionTooLarge(DomainError):
    kind = Refusal.REFUSED
    slug = "correction-exceeds-charge"
    title = "The correction is larger than what is left of the charge"


class MonthStillOpen(DomainError):
    kind = Refusal.CONFLICT
    slug = "month-open"
    title = "The charge's month is still open: the provider refunds it to the client's budget"


class CorrectionNotPending(DomainError):
    kind = Refusal.CONFLICT
    slug = "correction-not-pending"
    title = "The correction has already been decided"


class SecondApproverRequired(DomainError):
    kind = Refusal.FORBIDDEN
    slug = "second-approver-required"
    title = "Another case manager must approve this correction"


# --- Closing a client's account (issue 19) --------------------------------------------------


class DecisionInForce(DomainError):
    kind = Refusal.CONFLICT
    slug = "decision-in-force"
    title = "The client has a budget decision in force: end it before closing the account"


class PaymentsOpen(DomainError):
    kind = Refusal.CONFLICT
    slug = "payments-open"
    title = "The client has an open visit or payment request: finish it before closing"


class ClientClosed(DomainError):
    kind = Refusal.CONFLICT
    slug = "client-closed"
    title = "The client's account is closed"


# --- Providers' marketplace (issue 7) ---------------------------------------------------------


class InvalidBusinessId(InvalidInput):
    slug = "invalid-business-id"
    title = "Not a valid Finnish business id (Y-tunnus)"


class InvalidIban(InvalidInput):
    slug = "invalid-iban"
    title = "Not a valid IBAN"


class InvalidBic(InvalidInput):
    slug = "invalid-bic"
    title = "Not a valid BIC"


class AlreadyApplied(Conflict):
    slug = "already-applied"
    title = "A provider with this business id has already applied"


class ProviderStatusConflict(Conflict):
    slug = "provider-status"
    title = "The provider's status does not allow this"


class PriceAboveCap(DomainError):
    kind = Refusal.REFUSED
    slug = "price-above-cap"
    title = "The price is above the county's cap for this service"


class NoPayingAccount(Conflict):
    slug = "no-paying-account"
    title = "The county's paying bank account is not set, so no bank file can be made"
