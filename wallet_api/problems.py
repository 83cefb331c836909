"""RFC 9457 problem+json for every error, with stable ``type`` slugs and fi/sv/en titles.

The ``type`` is the bare slug (a relative URI reference), e.g. ``insufficient-funds``, so
integrators can match on it. ``title`` follows the caller's language (the provider's or
client's preference, else ``Accept-Language``, else Finnish).
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from payments.errors import DomainError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("wallet.problems")

TITLES: dict[str, dict[str, str]] = {
    "insufficient-funds": {
        "fi": "Budjetissa ei ole tarpeeksi rahaa",
        "sv": "Det finns inte tillräckligt med pengar i budgeten",
        "en": "Not enough money left in this budget",
    },
    "not-in-budget": {
        "fi": "Palvelu ei kuulu asiakkaan budjettiin",
        "sv": "Tjänsten ingår inte i kundens budget",
        "en": "This service is not in the customer's budget",
    },
    "provider-not-approved": {
        "fi": "Palveluntuottajaa ei ole hyväksytty tähän palveluun",
        "sv": "Tjänsteproducenten är inte godkänd för den här tjänsten",
        "en": "The provider is not approved for this service",
    },
    "price-above-list": {
        "fi": "Hinta on hinnaston hintaa korkeampi",
        "sv": "Priset är högre än listpriset",
        "en": "The price is above the list price",
    },
    "idempotency-key-reused": {
        "fi": "Idempotency-Key on jo käytetty toiseen pyyntöön",
        "sv": "Idempotency-Key har redan använts för en annan begäran",
        "en": "This Idempotency-Key was already used for a different request",
    },
    "idempotency-key-missing": {
        "fi": "Idempotency-Key-otsake puuttuu",
        "sv": "Rubriken Idempotency-Key saknas",
        "en": "The Idempotency-Key header is required",
    },
    "refund-exceeds-charge": {
        "fi": "Hyvitys on suurempi kuin veloituksesta on jäljellä",
        "sv": "Återbetalningen är större än det som återstår av debiteringen",
        "en": "The refund is larger than what is left of the charge",
    },
    "unknown-category": {
        "fi": "Palvelua ei ole palveluvalikoimassa",
        "sv": "Tjänsten finns inte i tjänsteutbudet",
        "en": "No such service in the catalogue",
    },
    "invalid-input": {
        "fi": "Pyynnössä on virheellisiä tietoja",
        "sv": "Begäran innehåller felaktiga uppgifter",
        "en": "The request has invalid values",
    },
    "invalid-phone": {
        "fi": "Puhelinnumero ei kelpaa",
        "sv": "Telefonnumret är ogiltigt",
        "en": "Not a valid phone number",
    },
    "unsupported-media-type": {
        "fi": "Lähetä tiedot JSON-muodossa",
        "sv": "Skicka uppgifterna som JSON",
        "en": "Send the request body as JSON",
    },
    "unauthorized": {
        "fi": "Kirjaudu sisään",
        "sv": "Logga in",
        "en": "Sign in required",
    },
    "forbidden": {
        "fi": "Sinulla ei ole oikeutta tähän",
        "sv": "Du har inte rätt till detta",
        "en": "You may not do this",
    },
    "not-found": {
        "fi": "Ei löytynyt",
        "sv": "Hittades inte",
        "en": "Not found",
    },
    "conflict": {
        "fi": "Pyyntö on ristiriidassa nykyisen tilan kanssa",
        "sv": "Begäran står i konflikt med det aktuella läget",
        "en": "The request conflicts with the current state",
    },
    "internal-error": {
        "fi": "Palvelussa tapahtui virhe",
        "sv": "Ett fel inträffade i tjänsten",
        "en": "Something went wrong on our side",
    },
}

_STATUS_SLUGS = {
    400: "invalid-input",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "request-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
}


def language_of(request: Request[Any, Any, Any]) -> str:
    user = request.scope.get("user")
    lang = getattr(user, "language", None)
    if lang in ("fi", "sv", "en"):
        return str(lang)
    header = request.headers.get("accept-language", "")
    for part in header.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in ("fi", "sv", "en"):
            return code
    return "fi"


def problem(
    request: Request[Any, Any, Any],
    status: int,
    slug: str,
    detail: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    lang = language_of(request)
    texts = TITLES.get(slug, {})
    title = texts.get(lang) or texts.get("en") or slug
    # Our own details are English; people reading fi/sv get the translated title instead,
    # and machine-readable specifics travel in extra members (e.g. list_price_cents).
    if lang != "en" and lang in texts:
        detail = title
    body: dict[str, Any] = {
        "type": slug,
        "title": title,
        "status": status,
        "detail": detail or title,
        "instance": request.url.path,
    }
    if extra:
        body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem(request, exc.status, exc.slug, exc.detail, exc.extra or None)


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    slug = _STATUS_SLUGS.get(status, "internal-error" if status >= 500 else "http-error")
    extra: dict[str, Any] | None = None
    if isinstance(exc, ValidationException) and exc.extra:
        extra = {"errors": exc.extra}
    if isinstance(exc, NotAuthorizedException):
        slug = "unauthorized"
    elif isinstance(exc, PermissionDeniedException):
        slug = "forbidden"
    detail = exc.detail if status < 500 else None
    return problem(request, status, slug, detail, extra, headers=exc.headers)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal-error")


def too_deep_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    """JSON nested deeper than the decoder's limit is bad input, not a server error."""
    return problem(request, 400, "invalid-input", "The JSON body is nested too deeply")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    RecursionError: too_deep_handler,
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
