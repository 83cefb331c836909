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

from payments.errors import DomainError, Refusal
from wallet_api.edge import loggable_path
from wallet_api.types import plain_message

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
        "sv": "Tjänsten ingår inte i klientens budget",
        "en": "This service is not in the client's budget",
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
    "idempotency-key-unanswered": {
        "fi": "Tällä Idempotency-Key-avaimella tehty pyyntö ei valmistunut; käytä uutta avainta",
        "sv": "En begäran med denna Idempotency-Key blev inte klar; använd en ny nyckel",
        "en": "A request with this Idempotency-Key has not finished; use a new key",
    },
    "idempotency-key-missing": {
        "fi": "Idempotency-Key-otsake puuttuu",
        "sv": "Rubriken Idempotency-Key saknas",
        "en": "The Idempotency-Key header is required",
    },
    "refund-exceeds-charge": {
        "fi": "Palautus on suurempi kuin veloituksesta on jäljellä",
        "sv": "Återbetalningen är större än det som återstår av debiteringen",
        "en": "The refund is larger than what is left of the charge",
    },
    "consent-required": {
        "fi": "Asiakkaan täytyy hyväksyä maksu: lähetä maksupyyntö tai käytä maksukoodia",
        "sv": "Klienten måste godkänna betalningen: skicka en betalningsbegäran eller använd koden",
        "en": "The client must approve this payment: send a payment request or use their code",
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
    "no-paying-account": {
        "fi": "Hyvinvointialueen maksutiliä ei ole asetettu, joten maksuaineistoa ei voi tehdä",
        "sv": "Välfärdsområdets betalkonto har inte angetts, så ingen betalfil kan skapas",
        "en": "The county's paying bank account is not set, so no bank file can be made",
    },
    "invite-invalid": {
        "fi": "Kutsukoodi ei kelpaa",
        "sv": "Inbjudningskoden är ogiltig",
        "en": "This invite code is not valid",
    },
    "invite-expired": {
        "fi": "Kutsu on vanhentunut",
        "sv": "Inbjudan har gått ut",
        "en": "This invite has expired",
    },
    "invite-used": {
        "fi": "Kutsu on jo käytetty",
        "sv": "Inbjudan har redan använts",
        "en": "This invite has already been used",
    },
    "invite-wrong-person": {
        "fi": "Kutsu on tehty toiselle henkilölle",
        "sv": "Inbjudan gäller en annan person",
        "en": "This invite was made for someone else",
    },
    # Staff (issue 15): admins and providers' owners manage their people.
    "last-admin": {
        "fi": "Organisaatiolla on oltava vähintään yksi pääkäyttäjä",
        "sv": "Organisationen måste ha minst en administratör",
        "en": "The organizer must keep at least one admin",
    },
    "last-owner": {
        "fi": "Palveluntuottajalla on oltava vähintään yksi omistaja",
        "sv": "Tjänsteproducenten måste ha minst en ägare",
        "en": "The provider must keep at least one owner",
    },
    "staff-remove-self": {
        "fi": "Et voi poistaa itseäsi. Pyydä toista pääkäyttäjää tai omistajaa",
        "sv": "Du kan inte ta bort dig själv. Be en annan administratör eller ägare",
        "en": "You cannot remove yourself; ask another admin or owner",
    },
    "staff-removed": {
        "fi": "Henkilö on poistettu",
        "sv": "Personen har tagits bort",
        "en": "This person has been removed",
    },
    "challenge-invalid": {
        "fi": "Kirjautuminen keskeytyi. Aloita alusta",
        "sv": "Inloggningen avbröts. Börja om",
        "en": "The sign-in step is unknown or was already used; start again",
    },
    "challenge-expired": {
        "fi": "Kirjautuminen kesti liian kauan. Aloita alusta",
        "sv": "Inloggningen tog för lång tid. Börja om",
        "en": "The sign-in step took too long; start again",
    },
    "passkey-rejected": {
        "fi": "Kirjautumisavaimen vastausta ei hyväksytty",
        "sv": "Nyckelns svar godkändes inte",
        "en": "The passkey's answer was not accepted",
    },
    "passkey-unknown": {
        "fi": "Tätä kirjautumisavainta ei tunneta",
        "sv": "Den här nyckeln är okänd",
        "en": "This passkey is not known here",
    },
    "passkey-revoked": {
        "fi": "Tämä kirjautumisavain on poistettu käytöstä",
        "sv": "Den här nyckeln har tagits ur bruk",
        "en": "This passkey has been removed",
    },
    "passkey-exists": {
        "fi": "Tämä kirjautumisavain on jo käytössä",
        "sv": "Den här nyckeln är redan registrerad",
        "en": "This passkey is already registered",
    },
    "last-passkey": {
        "fi": "Et voi poistaa ainoaa kirjautumisavaintasi. Lisää ensin toinen avain",
        "sv": "Du kan inte ta bort din enda nyckel. Lägg först till en annan nyckel",
        "en": "You cannot remove your only passkey. Add another one first",
    },
    "session-expired": {
        "fi": "Sinut on kirjattu ulos. Kirjaudu uudelleen",
        "sv": "Du har loggats ut. Logga in igen",
        "en": "You have been signed out; sign in again",
    },
    "session-needed": {
        "fi": "Tämä vaatii kirjautumisen kirjautumisavaimella",
        "sv": "Detta kräver inloggning med nyckel",
        "en": "This needs a passkey sign-in",
    },
    "csrf-invalid": {
        "fi": "Pyynnöstä puuttuu suojaustunniste. Lataa sivu uudelleen",
        "sv": "Begäran saknar skyddstoken. Ladda om sidan",
        "en": "The request lacks a valid CSRF token; reload the page",
    },
    "too-many-requests": {
        "fi": "Liian monta yritystä. Odota hetki ja yritä uudelleen",
        "sv": "För många försök. Vänta en stund och försök igen",
        "en": "Too many attempts; wait a moment and try again",
    },
    "invalid-scope": {
        "fi": "Valtuuden laajuus ei kelpaa",
        "sv": "Fullmaktens omfattning är ogiltig",
        "en": "Unknown mandate scope",
    },
    "invalid-business-id": {
        "fi": "Y-tunnus ei kelpaa",
        "sv": "FO-numret är ogiltigt",
        "en": "Not a valid Finnish business id (Y-tunnus)",
    },
    # Checkout at the door (issue 4): what a provider reads at the door.
    "token-invalid": {
        "fi": "Maksukoodi ei kelpaa; pyydä asiakasta näyttämään uusi koodi",
        "sv": "Betalningskoden är ogiltig; be klienten visa en ny kod",
        "en": "The payment code is not valid; ask the client to show a new one",
    },
    "card-invalid": {
        "fi": "Kortti tai PIN-koodi ei kelpaa",
        "sv": "Kortet eller PIN-koden är ogiltig",
        "en": "The card or PIN is not valid",
    },
    "card-locked": {
        "fi": "Kortti on lukittu; asiakas voi ottaa yhteyttä asiakasohjaajaansa",
        "sv": "Kortet är låst; klienten kan kontakta sin klienthandledare",
        "en": "The card is locked; the client should contact their case manager",
    },
    "invalid-pin": {
        "fi": "PIN-koodissa on 4–6 numeroa",
        "sv": "PIN-koden har 4–6 siffror",
        "en": "The PIN is 4-6 digits",
    },
    "hold-not-open": {
        "fi": "Varaus on jo veloitettu, peruttu tai vanhentunut",
        "sv": "Reservationen har redan debiterats, makulerats eller gått ut",
        "en": "This hold has already been captured, voided or has expired",
    },
    "capture-exceeds-hold": {
        "fi": "Summa on suurempi kuin varattiin",
        "sv": "Beloppet är större än det som reserverades",
        "en": "The amount is more than was held",
    },
    "request-expired": {
        "fi": "Maksupyyntö vanheni ennen hyväksyntää",
        "sv": "Betalningsbegäran gick ut innan den godkändes",
        "en": "The payment request expired before it was approved",
    },
    "request-declined": {
        "fi": "Asiakas hylkäsi maksupyynnön",
        "sv": "Klienten avböjde betalningsbegäran",
        "en": "The client declined the payment request",
    },
    "request-not-pending": {
        "fi": "Maksupyyntö on jo käsitelty",
        "sv": "Betalningsbegäran har redan behandlats",
        "en": "The payment request has already been decided",
    },
    # Corrections after a month has closed (issue 18).
    "correction-exceeds-charge": {
        "fi": "Korjaus on suurempi kuin veloituksesta on jäljellä",
        "sv": "Rättelsen är större än det som återstår av debiteringen",
        "en": "The correction is larger than what is left of the charge",
    },
    "month-open": {
        "fi": "Veloituksen kuukausi on vielä auki: palveluntuottaja palauttaa sen asiakkaan "
        "budjettiin",
        "sv": "Debiteringens månad är ännu öppen: tjänsteproducenten återbetalar den till "
        "klientens budget",
        "en": "The charge's month is still open: the provider refunds it to the client's budget",
    },
    "decision-in-force": {
        "fi": "Asiakkaalla on voimassa oleva budjettipäätös: päätä se ennen tilin sulkemista",
        "sv": "Klienten har ett gällande budgetbeslut: avsluta det innan kontot stängs",
        "en": "The client has a budget decision in force: end it before closing the account",
    },
    "payments-open": {
        "fi": "Asiakkaalla on avoin käynti tai maksupyyntö: vie se loppuun ennen sulkemista",
        "sv": "Klienten har ett öppet besök eller en öppen betalningsbegäran: slutför den innan "
        "kontot stängs",
        "en": "The client has an open visit or payment request: finish it before closing",
    },
    "client-closed": {
        "fi": "Asiakkaan tili on suljettu",
        "sv": "Klientens konto är stängt",
        "en": "The client's account is closed",
    },
    "correction-not-pending": {
        "fi": "Korjaus on jo käsitelty",
        "sv": "Rättelsen har redan behandlats",
        "en": "The correction has already been decided",
    },
    "second-approver-required": {
        "fi": "Toisen asiakasohjaajan on hyväksyttävä tämä korjaus",
        "sv": "En annan klienthandledare måste godkänna rättelsen",
        "en": "Another case manager must approve this correction",
    },
    # Providers' marketplace (issue 7).
    "invalid-iban": {
        "fi": "IBAN-tilinumero ei kelpaa",
        "sv": "IBAN-kontonumret är ogiltigt",
        "en": "Not a valid IBAN",
    },
    "invalid-bic": {
        "fi": "BIC-tunnus ei kelpaa",
        "sv": "BIC-koden är ogiltig",
        "en": "Not a valid BIC",
    },
    "already-applied": {
        "fi": "Tällä Y-tunnuksella on jo haettu",
        "sv": "En ansökan med detta FO-nummer finns redan",
        "en": "A provider with this business id has already applied",
    },
    "possible-duplicate": {
        "fi": "Samalla tilinumerolla tai yhteyshenkilöllä on jo hakemus",
        "sv": "Det finns redan en ansökan med samma kontonummer eller kontaktperson",
        "en": "An application with the same bank account or contact person exists",
    },
    "provider-status": {
        "fi": "Palveluntuottajan tila ei salli tätä",
        "sv": "Tjänsteproducentens status tillåter inte detta",
        "en": "The provider's status does not allow this",
    },
    "price-above-cap": {
        "fi": "Hinta ylittää hyvinvointialueen enimmäishinnan",
        "sv": "Priset överstiger välfärdsområdets takpris",
        "en": "The price is above the county's cap for this service",
    },
    "price-version-exists": {
        "fi": "Tästä päivästä alkaen on jo julkaistu eri hinta",
        "sv": "Ett annat pris har redan publicerats från det här datumet",
        "en": "A different price has already been published from this date",
    },
    "bad-request": {
        "fi": "Pyyntöä ei voi käsitellä",
        "sv": "Begäran kan inte behandlas",
        "en": "The request cannot be processed",
    },
    "invalid-cursor": {
        "fi": "Sivutuksen jatkokohta ei kelpaa; hae lista alusta",
        "sv": "Fortsättningspunkten är ogiltig; hämta listan från början",
        "en": "The page cursor is not valid; fetch the list from the start",
    },
    "invalid-period": {
        "fi": "Kuukausi ei kelpaa; käytä muotoa VVVV-KK",
        "sv": "Månaden är ogiltig; använd formen ÅÅÅÅ-MM",
        "en": "The month is not valid; use the form YYYY-MM",
    },
    "invalid-idempotency-key": {
        "fi": "Idempotency-Key ei kelpaa (1–200 tulostettavaa merkkiä)",
        "sv": "Idempotency-Key är ogiltig (1–200 skrivbara tecken)",
        "en": "The Idempotency-Key is not valid (1–200 printable characters)",
    },
    "phone-taken": {
        "fi": "Tällä puhelinnumerolla on jo asiakas",
        "sv": "Det finns redan en klient med det här telefonnumret",
        "en": "A client with this phone number exists",
    },
    "url-not-allowed": {
        "fi": "Palvelin ei saa lähettää pyyntöjä tähän osoitteeseen",
        "sv": "Servern får inte skicka förfrågningar till den här adressen",
        "en": "The server may not send requests to this address",
    },
    "sms-not-configured": {
        "fi": "Tekstiviestit eivät ole käytössä tällä palvelimella",
        "sv": "SMS används inte på den här servern",
        "en": "SMS is not set up on this server",
    },
    "sms-code-wrong": {
        "fi": "Vahvistuskoodi ei täsmää tai ei ole enää voimassa",
        "sv": "Bekräftelsekoden stämmer inte eller gäller inte längre",
        "en": "The confirmation code does not match, or it is no longer valid",
    },
    "webhook-endpoint-limit": {
        "fi": "Järjestäjällä on jo enimmäismäärä webhook-osoitteita; poista ensin jokin",
        "sv": "Organisatören har redan högsta antalet webhook-adresser; ta först bort någon",
        "en": "The organizer already has the most webhook endpoints it may have",
    },
    "webhook-endpoint-disabled": {
        "fi": "Webhook-osoite on pois käytöstä; ota se ensin käyttöön",
        "sv": "Webhook-adressen är avstängd; slå först på den",
        "en": "The webhook endpoint is disabled; enable it first",
    },
    "push-device-limit": {
        "fi": "Ilmoitukset ovat jo päällä liian monessa laitteessa. Poista ne ensin käytöstä "
        "jossakin laitteessa.",
        "sv": "Aviseringar är redan på i för många enheter. Stäng först av dem i någon enhet.",
        "en": "Notifications are already on in too many devices; turn them off in one first",
    },
    "push-endpoint-taken": {
        "fi": "Tämän laitteen ilmoitukset kuuluvat toiselle käyttäjätilille",
        "sv": "Aviseringarna på den här enheten hör till ett annat konto",
        "en": "Notifications on this device belong to another account",
    },
    "internal-error": {
        "fi": "Palvelussa tapahtui virhe. Yritä hetken kuluttua uudelleen",
        "sv": "Ett fel inträffade i tjänsten. Försök igen om en stund",
        "en": "Something went wrong on our side. Try again in a moment",
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


# The HTTP status for each kind of refusal a use case can give (payments.errors.Refusal):
# the web's words for the domain's "no".
STATUS_OF: dict[Refusal, int] = {
    Refusal.INVALID: 400,
    Refusal.UNAUTHENTICATED: 401,
    Refusal.FORBIDDEN: 403,
    Refusal.NOT_FOUND: 404,
    Refusal.CONFLICT: 409,
    Refusal.GONE: 410,
    Refusal.REFUSED: 422,
    Refusal.LOCKED: 423,
    Refusal.TOO_MANY: 429,
}


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    # A refusal that says when to try again (a rate limit) says it in the standard header too.
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return problem(
        request, STATUS_OF[exc.kind], exc.slug, exc.detail, exc.extra or None, headers=headers
    )


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    slug = _STATUS_SLUGS.get(status, "internal-error" if status >= 500 else "http-error")
    extra: dict[str, Any] | None = None
    detail = exc.detail if status < 500 else None
    if isinstance(exc, ValidationException) and exc.extra:
        extra = {"errors": _for_people(request, exc.extra)}
        if isinstance(detail, str):
            detail = plain_message(detail)
        if exc.extra == _NO_BODY:  # Litestar's words for a route's body that was not sent
            detail = "This request needs a JSON body"
            extra = {"errors": [{"key": "data", "source": "body", "message": "missing"}]}
    if isinstance(exc, NotAuthorizedException):
        slug = "unauthorized"
    elif isinstance(exc, PermissionDeniedException):
        slug = "forbidden"
    return problem(request, status, slug, detail, extra, headers=exc.headers)


def _for_people(request: Request[Any, Any, Any], errors: Any) -> Any:
    """Litestar's validation errors as the request's sender reads them: each parameter named as
    it was sent (``?from=``, not the handler's ``from_period``), and each pattern said in words
    (``plain_message``)."""
    if not isinstance(errors, list):
        return errors
    handler = request.scope.get("route_handler")
    params = handler.parsed_fn_signature.parameters if handler is not None else {}
    out = []
    for e in errors:
        if not isinstance(e, dict):
            out.append(e)
            continue
        given = getattr(params.get(str(e.get("key"))), "kwarg_definition", None)
        sent = getattr(given, "query", None) or getattr(given, "header", None)
        message = e.get("message")
        out.append(
            {
                **e,
                **({"key": sent} if sent else {}),
                **({"message": plain_message(message)} if isinstance(message, str) else {}),
            }
        )
    return out


# What Litestar reports when a route takes a body and the request sent none (an empty body:
# its extractor gives no value, and the handler's signature misses ``data``).
_NO_BODY = [{"message": "'data'", "key": "data", "source": "body"}]


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    path = loggable_path(request.url.path, request.scope.get("path_params"))  # no secrets
    log.exception("unhandled error on %s %s", request.method, path, exc_info=exc)
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
