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
