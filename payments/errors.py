"""Domain errors. Each carries the HTTP status and the stable problem ``type`` slug, so the web
layer maps them to RFC 9457 problem+json without knowing the domain.

Titles are English; the web layer translates them by slug (fi/sv/en) for people.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    slug = "bad-request"
    title = "The request cannot be processed"

    def __init__(self, detail: str | None = None, *, slug: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if slug is not None:
            self.slug = slug
        self.extra = extra


class InsufficientFunds(DomainError):
    status = 422
    slug = "insufficient-funds"
    title = "Not enough money left in this budget"


class NotInBudget(DomainError):
    """Also the answer for an unknown customer: who has a budget must not leak."""

    status = 422
    slug = "not-in-budget"
    title = "This service is not in the customer's budget"


class ProviderNotApproved(DomainError):
    status = 403
    slug = "provider-not-approved"
    title = "The provider is not approved for this service"


class PriceAboveList(DomainError):
    status = 422
    slug = "price-above-list"
    title = "The price is above the list price"


class IdempotencyKeyReused(DomainError):
    status = 409
    slug = "idempotency-key-reused"
    title = "This Idempotency-Key was already used for a different request"


class IdempotencyKeyMissing(DomainError):
    status = 400
    slug = "idempotency-key-missing"
    title = "The Idempotency-Key header is required"


class RefundTooLarge(DomainError):
    status = 422
    slug = "refund-exceeds-charge"
    title = "The refund is larger than what is left of the charge"


class UnknownCategory(DomainError):
    status = 422
    slug = "unknown-category"
    title = "No such service in the catalogue"


class ConsentRequired(DomainError):
    """The provider is not trusted by the client (or is over the trusted caps)."""

    status = 403
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
    status = 404
    slug = "not-found"
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    slug = "forbidden"
    title = "You may not do this"


class InvalidInput(DomainError):
    status = 400
    slug = "invalid-input"
    title = "The request has invalid values"


class Conflict(DomainError):
    status = 409
    slug = "conflict"
    title = "The request conflicts with the current state"


# Checkout at the door (issue 4). Titles are what a provider reads at the door.


class TokenInvalid(DomainError):
    """Unknown, expired, used or foreign payment tokens get this one answer."""

    status = 422
    slug = "token-invalid"
    title = "The payment code is not valid; ask the client to show a new one"


class CardInvalid(DomainError):
    """An unknown card and a wrong PIN of an unlocked card are told apart only by this slug's
    ``attempts_left`` member, which a provider needs to warn the client."""

    status = 422
    slug = "card-invalid"
    title = "The card or PIN is not valid"


class CardLocked(DomainError):
    status = 423
    slug = "card-locked"
    title = "The card is locked; the client should contact their case manager"


class HoldNotOpen(DomainError):
    status = 409
    slug = "hold-not-open"
    title = "This hold has already been captured, voided or has expired"


class CaptureExceedsHold(DomainError):
    status = 422
    slug = "capture-exceeds-hold"
    title = "The amount is more than was held"


class RequestExpired(DomainError):
    status = 409
    slug = "request-expired"
    title = "The payment request expired before it was approved"


class RequestDeclined(DomainError):
    status = 409
    slug = "request-declined"
    title = "The client declined the payment request"


class RequestNotPending(DomainError):
    status = 409
    slug = "request-not-pending"
    title = "The payment request has already been decided"


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
    status = 422
    slug = "price-above-cap"
    title = "The price is above the county's cap for this service"


class NoPayingAccount(Conflict):
    slug = "no-paying-account"
    title = "The county's paying bank account is not set, so no bank file can be made"
