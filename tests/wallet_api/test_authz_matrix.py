"""The authorization matrix: every route of the app against every kind of caller.

The route list comes from ``create_app()`` itself; ``TABLE`` below says, for each
(method, path template), which caller kinds are ALLOWED. Every route must be in ``TABLE`` or
in ``PUBLIC``, so a new route without an entry fails ``test_every_route_is_in_the_table``.

For each route, every caller kind sends one request with real ids of resources that belong
to the seeded client and provider:

- an allowed caller must get past authorization: not 401/403 and not 5xx (a 4xx for the
  deliberately useless body is fine);
- anonymous gets 401, every other refused caller 403 or 404 (ownership may hide a resource);
  never 2xx, never 5xx; always problem+json;
- a caller of **another organizer** gets exactly 404 ``not-found`` on every route whose path
  names a resource of the first organizer, whatever their role: they must not learn that the
  id exists. On the other routes they get the same answer as for ids that exist nowhere
  (``test_foreign_callers_learn_nothing_from_real_ids``).

Carers come in every scope: none, ``view`` only, ``view`` + ``approve``, ``view`` +
``manage-providers``, and revoked. So a route that accepts ``view`` where it needs ``approve``
or ``manage-providers`` fails here.

Bodies are chosen so that a refused caller reaches the ownership/approval check (they are
valid in shape) while an allowed caller changes nothing that later rows depend on: charges
ask for far more than the budget holds, refunds for more than was charged, provider
decisions target a status they cannot move from. Routes that do change shared state (void,
approve, revoke, issue a new card) come late in ``TABLE``, which is also the walk order.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient
from sqlalchemy import update

import pwa
from notifications import webhooks
from notifications.models import SmsOptIn
from notifications.outbound import OutboundPolicy
from payments.budgets import catalogue
from payments.checkout import cards, phone, trust, visits
from payments.checkout.charges import ChargeLineInput, Customer, capture_charge
from payments.db import Database
from payments.ledger.periods import HELSINKI
from payments.marketplace import providers, settlements
from payments.models import Correction, Principal, ProviderOwner
from payments.people import mandates
from payments.people.access import authenticate_api_key
from payments.people.mandates import grant_mandate
from payments.people.phones import to_e164
from payments.uow import UnitOfWork
from tests.factories import World, api_key_for, seed_world, set_provider_status, trust_provider
from wallet_api.app import create_app
from wallet_api.auth import PATH_IDS
from wallet_api.settings import Settings

# --- caller kinds ----------------------------------------------------------------------------
ANON = "anonymous"
CLIENT = "client"  # owns the wallet, the charge's wallet, the card, the payment request
OTHER_CLIENT = "other_client"  # same county, unrelated
CARER_VIEW = "carer_view"  # mandate over the client with view only
CARER = "carer"  # mandate over the client with view + approve (not manage-providers)
CARER_PROVIDERS = "carer_providers"  # mandate with view + manage-providers (not approve)
CARER_NONE = "carer_none"  # no mandate at all
CARER_REVOKED = "carer_revoked"  # held view + approve + manage-providers, revoked
PROVIDER = "provider"  # approved for siivous, its owner; owns the charge, hold, request, settlement
OTHER_PROVIDER = "other_provider"  # approved (for kuljetus only), a staff member, owns none of it
APPLIED_PROVIDER = "applied_provider"  # status 'applied': not approved; its owner
CASE_MANAGER = "case_manager"  # of the client's organizer, with the admin right
# Another organizer's people, each with every right there is in their own organizer: a client
# with a funded wallet, a carer holding all scopes over that client, an approved provider
# (for 'siivous' too) and its owner, a case manager with the admin right.
FOREIGN_CLIENT = "foreign_client"
FOREIGN_CARER = "foreign_carer"
FOREIGN_PROVIDER = "foreign_provider"
FOREIGN_CM = "foreign_case_manager"
FOREIGN = frozenset({FOREIGN_CLIENT, FOREIGN_CARER, FOREIGN_PROVIDER, FOREIGN_CM})

CALLERS = (
    ANON,
    CLIENT,
    OTHER_CLIENT,
    CARER_VIEW,
    CARER,
    CARER_PROVIDERS,
    CARER_NONE,
    CARER_REVOKED,
    PROVIDER,
    OTHER_PROVIDER,
    APPLIED_PROVIDER,
    CASE_MANAGER,
    FOREIGN_CLIENT,
    FOREIGN_CARER,
    FOREIGN_PROVIDER,
    FOREIGN_CM,
)
EVERYONE = frozenset(CALLERS) - {ANON}  # any signed-in caller (routes about oneself)
CARERS = frozenset({CARER_VIEW, CARER, CARER_PROVIDERS, CARER_NONE, CARER_REVOKED, FOREIGN_CARER})
# 'view' (which every scope brings with it)
WALLET_READERS = frozenset({CLIENT, CARER_VIEW, CARER, CARER_PROVIDERS, CASE_MANAGER})
WALLET_APPROVERS = frozenset({CLIENT, CARER})  # 'approve'
PROVIDER_MANAGERS = frozenset({CLIENT, CARER_PROVIDERS, CASE_MANAGER})  # 'manage-providers'
CLIENT_OR_CM = frozenset({CLIENT, CASE_MANAGER})
# Charges ask for 'siivous': only the provider approved for it may charge; the other provider
# (approved for 'kuljetus' only) and the applied one get 403 provider-not-approved.
CHARGING_PROVIDERS = frozenset({PROVIDER})
# At the door another county's provider is a provider like any: the first county's phone
# number, code or card is simply unknown to it (a 422 like any unknown customer's; that it is
# the same answer is test_foreign_callers_learn_nothing_from_real_ids's).
AT_THE_DOOR = CHARGING_PROVIDERS | {FOREIGN_PROVIDER}
PROVIDER_OWNERS = frozenset({PROVIDER, APPLIED_PROVIDER, FOREIGN_PROVIDER})
ANY_PROVIDER = frozenset({PROVIDER, OTHER_PROVIDER, APPLIED_PROVIDER, FOREIGN_PROVIDER})  # own data
ANY_CM = frozenset({CASE_MANAGER, FOREIGN_CM})  # own organizer's data only


def allow(*kinds: str | frozenset[str]) -> frozenset[str]:
    out: set[str] = set()
    for k in kinds:
        out |= {k} if isinstance(k, str) else set(k)
    return frozenset(out)


# --- resources the paths and bodies point at -------------------------------------------------
@dataclass
class Res:
    world: World
    charge_id: uuid.UUID
    hold_id: uuid.UUID
    request_id: uuid.UUID
    card_id: uuid.UUID
    card_number: str
    settlement_id: uuid.UUID
    applied_provider_id: uuid.UUID
    spare_carer_id: uuid.UUID
    spare_cm_id: uuid.UUID  # a case manager of the first organizer (admin right, removal)
    spare_staff_id: uuid.UUID  # a staff member of the seeded provider (removal)
    correction_id: uuid.UUID  # a correction of the charge, asked by spare_cm, waiting
    endpoint_id: uuid.UUID  # a webhook endpoint of the first organizer
    delivery_id: uuid.UUID  # a (ping) delivery to it
    optin_id: uuid.UUID  # the client's SMS number, waiting for its code
    pin: str = "4826"


Body = Callable[[Res], Any]
TOO_MUCH = [{"category": "siivous", "quantity": "1000", "unit_price_cents": 3500}]  # > budget
ONE_HOUR = [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}]


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    body: Body | None = None  # JSON body for POST/PUT ({} when None)
    ids: dict[str, str] = field(default_factory=dict)  # path param -> Res attribute
    params: Body | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # An allowed caller may get 404 only where the row says so; elsewhere a 404 would mean the
    # path's ids point at nothing and the refusals above it prove nothing.
    not_found_ok: bool = False


W = "/api/wallets/{wallet_id:uuid}"
C = "/api/clients/{client_id:uuid}"
HOOK = "/api/webhooks/{endpoint_id:uuid}"
OPTIN = "/api/sms/optins/{optin_id:uuid}"

# Walk order matters only for the rows that change shared state; they come last.
TABLE: dict[tuple[str, str], Rule] = {
    # -- about oneself: anyone signed in ------------------------------------------------------
    ("GET", "/api/me"): Rule(EVERYONE),
    ("GET", "/api/categories"): Rule(EVERYONE),
    ("GET", "/api/directory"): Rule(EVERYONE),
    ("GET", "/api/session"): Rule(EVERYONE),
    ("POST", "/api/signout"): Rule(EVERYONE),
    # The stream itself never ends; a bad resume id is answered 400 right after the guard.
    ("GET", "/api/events"): Rule(EVERYONE, headers={"Last-Event-ID": "x"}),
    ("GET", "/api/push/key"): Rule(EVERYONE, not_found_ok=True),
    ("POST", "/api/push/subscriptions"): Rule(EVERYONE),
    ("DELETE", "/api/push/subscriptions"): Rule(
        EVERYONE, params=lambda r: {"endpoint": "https://push.invalid/none"}, not_found_ok=True
    ),
    ("GET", "/api/notifications/preferences"): Rule(EVERYONE),
    ("PUT", "/api/notifications/preferences"): Rule(EVERYONE),
    ("GET", "/api/me/passkeys"): Rule(EVERYONE),
    ("POST", "/api/me/passkeys/options"): Rule(EVERYONE),
    ("POST", "/api/me/passkeys"): Rule(EVERYONE),
    ("DELETE", "/api/me/passkeys/{passkey_id:str}"): Rule(EVERYONE, not_found_ok=True),
    ("GET", "/api/me/sessions"): Rule(EVERYONE),
    # The right of access: a client's own data; a carer is not the data subject.
    ("GET", "/api/me/export"): Rule(allow(CLIENT, OTHER_CLIENT, FOREIGN_CLIENT)),
    ("DELETE", "/api/me/sessions/{session_id:uuid}"): Rule(EVERYONE, not_found_ok=True),
    # The first of one's own wallets (a client's, or one a carer holds 'view' over, which
    # every scope brings): a carer without a mandate in force has none (404); providers and
    # case managers have no wallet of their own (403).
    ("GET", "/api/me/wallet"): Rule(
        allow(CLIENT, OTHER_CLIENT, FOREIGN_CLIENT, CARER_VIEW, CARER, CARER_PROVIDERS)
        | {FOREIGN_CARER},
        not_found_ok=True,
    ),
    ("GET", "/api/me/mandates"): Rule(CARERS),
    # A carer answers clients' waiting mandates; none waits here, so an allowed carer gets 404.
    ("GET", "/api/me/mandates/pending"): Rule(CARERS),
    ("POST", "/api/me/mandates/{client_id:uuid}/accept"): Rule(CARERS, not_found_ok=True),
    ("POST", "/api/me/mandates/{client_id:uuid}/decline"): Rule(CARERS, not_found_ok=True),
    # -- wallets: the client, a carer with 'view', the organizer's case manager ----------------
    ("GET", W): Rule(WALLET_READERS),
    ("GET", W + "/transactions"): Rule(WALLET_READERS),
    ("GET", W + "/payment-requests"): Rule(WALLET_READERS),
    ("GET", W + "/trusted-providers"): Rule(WALLET_READERS),
    ("GET", W + "/statements"): Rule(WALLET_READERS),
    ("GET", W + "/statements/{period:str}"): Rule(WALLET_READERS),
    ("GET", W + "/chart.svg"): Rule(WALLET_READERS),
    # 'approve' scope; a case manager may not consent for the client.
    ("POST", W + "/payment-tokens"): Rule(WALLET_APPROVERS),
    # 'manage-providers' scope: 'view' or 'approve' is not enough.
    ("PUT", W + "/trusted-providers/{provider_id:str}"): Rule(
        PROVIDER_MANAGERS,
        body=lambda r: {"per_charge_cap_cents": 1000},
        ids={"provider_id": "applied_provider_id"},
    ),
    ("DELETE", W + "/trusted-providers/{provider_id:str}"): Rule(
        PROVIDER_MANAGERS, ids={"provider_id": "applied_provider_id"}, not_found_ok=True
    ),
    # -- charges: approved providers charge; a charge is seen by its provider and the wallet's
    ("GET", "/api/charges"): Rule(ANY_PROVIDER),
    ("POST", "/api/charges"): Rule(
        CHARGING_PROVIDERS, body=lambda r: {"wallet_id": str(r.world.wallet_id), "lines": TOO_MUCH}
    ),
    ("GET", "/api/charges/{charge_id:uuid}"): Rule(allow(PROVIDER, WALLET_READERS)),
    ("POST", "/api/charges/{charge_id:uuid}/refunds"): Rule(
        allow(PROVIDER), body=lambda r: {"amount_cents": 99_000_000}
    ),
    # -- corrections: the charge's organizer's case managers (the charge's month is open, so
    # an allowed caller is told month-open) ---------------------------------------------------
    ("POST", "/api/charges/{charge_id:uuid}/corrections"): Rule(
        allow(CASE_MANAGER), body=lambda r: {"amount_cents": 100, "reason": "Väärä"}
    ),
    ("GET", "/api/corrections"): Rule(ANY_CM),
    ("GET", "/api/organizer/settings"): Rule(ANY_CM),
    ("PUT", "/api/organizer/settings"): Rule(
        ANY_CM, body=lambda r: {"correction_approval_above_cents": 10_000}
    ),
    # The waiting correction was asked by another case manager: CASE_MANAGER may decide it.
    ("POST", "/api/corrections/{correction_id:uuid}/reject"): Rule(allow(CASE_MANAGER)),
    ("POST", "/api/corrections/{correction_id:uuid}/approve"): Rule(allow(CASE_MANAGER)),
    # -- checkout at the door -----------------------------------------------------------------
    ("POST", "/api/checkout/phone"): Rule(
        AT_THE_DOOR, body=lambda r: {"phone": r.world.phone, "lines": TOO_MUCH}
    ),
    ("POST", "/api/checkout/token"): Rule(
        AT_THE_DOOR, body=lambda r: {"code": "12345678", "lines": TOO_MUCH}
    ),
    ("POST", "/api/checkout/card"): Rule(
        AT_THE_DOOR,
        body=lambda r: {"card_number": r.card_number, "pin": r.pin, "lines": TOO_MUCH},
    ),
    ("POST", "/api/holds"): Rule(
        CHARGING_PROVIDERS, body=lambda r: {"phone": r.world.phone, "lines": TOO_MUCH}
    ),
    ("GET", "/api/holds/{hold_id:str}"): Rule(allow(PROVIDER)),
    ("POST", "/api/holds/{hold_id:str}/capture"): Rule(
        allow(PROVIDER), body=lambda r: {"lines": TOO_MUCH}
    ),
    ("POST", "/api/payment-requests"): Rule(AT_THE_DOOR, body=lambda r: {"lines": TOO_MUCH}),
    ("GET", "/api/payment-requests/{request_id:str}"): Rule(allow(PROVIDER, WALLET_READERS)),
    # -- people: invites, carers, mandates, who looked ----------------------------------------
    # An invite for the seeded client: only their case manager may issue it.
    ("POST", "/api/invites"): Rule(
        allow(CASE_MANAGER), body=lambda r: {"client_id": str(r.world.client_id)}
    ),
    ("POST", C + "/carers"): Rule(
        CLIENT_OR_CM, body=lambda r: {"display_name": "Uusi", "scopes": ["view"]}
    ),
    ("GET", C + "/mandates"): Rule(CLIENT_OR_CM),
    ("PUT", C + "/mandates"): Rule(
        CLIENT_OR_CM, body=lambda r: {"carer_id": str(r.spare_carer_id), "scopes": ["view"]}
    ),
    ("DELETE", C + "/mandates"): Rule(
        CLIENT_OR_CM, params=lambda r: {"carer_id": str(r.spare_carer_id)}, not_found_ok=True
    ),
    ("GET", C + "/views"): Rule(allow(CLIENT, CARER_VIEW, CARER, CARER_PROVIDERS)),
    ("POST", "/api/providers/staff"): Rule(
        PROVIDER_OWNERS, body=lambda r: {"display_name": "Uusi"}
    ),
    ("GET", "/api/providers/staff"): Rule(PROVIDER_OWNERS),
    # -- staff: a case manager with the admin right (both seeded case managers have it) --------
    ("GET", "/api/staff"): Rule(ANY_CM),
    ("POST", "/api/staff"): Rule(ANY_CM, body=lambda r: {"display_name": "Uusi"}),
    # -- webhooks: a case manager with the admin right, their own organizer's only -------------
    ("GET", "/api/webhooks"): Rule(ANY_CM),
    ("POST", "/api/webhooks"): Rule(
        ANY_CM,
        body=lambda r: {"url": "https://hooks.example.com/in", "event_types": ["charge.captured"]},
    ),
    ("GET", HOOK + "/deliveries"): Rule(allow(CASE_MANAGER)),
    # -- SMS: the wallet's readers see its numbers and may confirm one; its case manager turns
    # them on and off (this app has no gateway: turning on and a new code are 409 for them).
    ("GET", W + "/sms"): Rule(WALLET_READERS),
    ("POST", W + "/sms"): Rule(
        allow(CASE_MANAGER),
        body=lambda r: {"phone": "040 123 4567", "language": "fi", "events": ["request"]},
    ),
    ("POST", OPTIN + "/confirm"): Rule(WALLET_READERS, body=lambda r: {"code": "000000"}),
    ("POST", OPTIN + "/code"): Rule(allow(CASE_MANAGER)),
    # A provider's own price list; a price dated in the past is refused (400) before anything.
    ("GET", "/api/providers/me"): Rule(ANY_PROVIDER),
    ("GET", "/api/providers/me/prices"): Rule(ANY_PROVIDER),
    ("POST", "/api/providers/me/prices"): Rule(
        ANY_PROVIDER,
        body=lambda r: {
            "category": "siivous",
            "unit_price_cents": 3000,
            "effective_from": "2001-01-01",
        },
    ),
    # -- case managers' work, own organizer only ----------------------------------------------
    ("POST", "/api/clients"): Rule(ANY_CM),
    # A dry run (no ?apply): the allowed caller's {} is a 400 that writes nothing.
    ("POST", "/api/clients/import"): Rule(ANY_CM),
    ("POST", C + "/decisions"): Rule(
        allow(CASE_MANAGER),
        body=lambda r: {
            "valid_from": date.today().isoformat(),
            "lines": [{"label": "x", "monthly_amount_cents": 100, "categories": ["ei-ole"]}],
        },
    ),
    # The client's decision is in force: an allowed case manager is told decision-in-force.
    ("POST", C + "/close"): Rule(allow(CASE_MANAGER)),
    ("POST", "/api/decision-helper"): Rule(
        ANY_CM, body=lambda r: {"hours_per_week": "7.5", "value_per_hour_cents": 3200}
    ),
    ("GET", "/api/audit"): Rule(ANY_CM),
    ("GET", "/api/clients"): Rule(ANY_CM),
    ("GET", C): Rule(allow(CASE_MANAGER)),
    ("GET", C + "/export"): Rule(allow(CASE_MANAGER)),
    ("GET", "/api/funding-runs"): Rule(ANY_CM),
    ("GET", "/api/holds"): Rule(ANY_PROVIDER),
    ("GET", "/api/reports/months"): Rule(ANY_CM),
    ("GET", "/api/reports/providers"): Rule(ANY_CM),
    ("GET", "/api/reports/months.svg"): Rule(ANY_CM),
    # Each county's case managers get their own county's ledger (another county's: its own).
    ("GET", "/api/reports/ledger"): Rule(
        ANY_CM, params=lambda r: {"month": datetime.now(HELSINKI).strftime("%Y-%m")}
    ),
    ("GET", "/api/reports/clients/{client_id:uuid}"): Rule(allow(CASE_MANAGER)),
    ("GET", "/api/providers/applications"): Rule(ANY_CM),
    # Decisions on a provider whose status they cannot move from (409 for the case manager).
    ("POST", "/api/providers/{provider_id:str}/approve"): Rule(
        allow(CASE_MANAGER), ids={"provider_id": "provider_id"}
    ),
    ("POST", "/api/providers/{provider_id:str}/reject"): Rule(
        allow(CASE_MANAGER), body=lambda r: {"reason": "x"}, ids={"provider_id": "provider_id"}
    ),
    ("POST", "/api/providers/{provider_id:str}/reinstate"): Rule(
        allow(CASE_MANAGER), ids={"provider_id": "provider_id"}
    ),
    ("POST", "/api/providers/{provider_id:str}/suspend"): Rule(
        allow(CASE_MANAGER), body=lambda r: {"reason": "x"}, ids={"provider_id": "applied"}
    ),
    # -- settlements: a provider its own, a case manager the county's --------------------------
    ("GET", "/api/settlements"): Rule(allow(ANY_PROVIDER, ANY_CM)),
    ("GET", "/api/settlements/{settlement_id:str}"): Rule(allow(PROVIDER, CASE_MANAGER)),
    # The county's files: its case managers only (another county's finds nothing: 404).
    ("GET", "/api/settlements/files"): Rule(
        allow(CASE_MANAGER),
        params=lambda r: {"until": datetime.now(HELSINKI).date().isoformat()},
    ),
    # -- cards: the case manager, and the client for their own card ---------------------------
    ("GET", "/api/cards/{card_id:str}"): Rule(CLIENT_OR_CM),
    ("GET", "/api/cards/{card_id:str}/print"): Rule(allow(CASE_MANAGER)),
    ("POST", "/api/cards/{card_id:str}/pin"): Rule(CLIENT_OR_CM, body=lambda r: {"pin": r.pin}),
    ("POST", "/api/cards/{card_id:str}/unlock"): Rule(allow(CASE_MANAGER)),
    # -- rows that change shared state: last -------------------------------------------------
    ("POST", "/api/holds/{hold_id:str}/void"): Rule(allow(PROVIDER)),
    ("POST", "/api/payment-requests/{request_id:str}/decline"): Rule(WALLET_APPROVERS),
    ("POST", "/api/payment-requests/{request_id:str}/approve"): Rule(WALLET_APPROVERS),
    ("POST", "/api/payment-requests/{request_id:str}/cancel"): Rule(allow(PROVIDER)),
    ("POST", "/api/cards/{card_id:str}/revoke"): Rule(allow(CASE_MANAGER)),
    ("POST", W + "/cards"): Rule(allow(CASE_MANAGER)),
    ("PATCH", "/api/staff/{principal_id:uuid}"): Rule(
        allow(CASE_MANAGER), body=lambda r: {"admin": True}, ids={"principal_id": "spare_cm_id"}
    ),
    ("DELETE", "/api/staff/{principal_id:uuid}"): Rule(
        allow(CASE_MANAGER), ids={"principal_id": "spare_cm_id"}
    ),
    ("DELETE", "/api/providers/staff/{principal_id:uuid}"): Rule(
        allow(PROVIDER), ids={"principal_id": "spare_staff_id"}
    ),
    ("DELETE", OPTIN): Rule(allow(CASE_MANAGER)),
    ("POST", HOOK + "/ping"): Rule(allow(CASE_MANAGER)),
    ("POST", "/api/webhooks/deliveries/{delivery_id:uuid}/replay"): Rule(allow(CASE_MANAGER)),
    ("PATCH", HOOK): Rule(allow(CASE_MANAGER), body=lambda r: {"enabled": True}),
    ("DELETE", HOOK): Rule(allow(CASE_MANAGER)),  # the endpoint and its log: the very last
}

# Public on purpose (no guard): checked elsewhere; listed so that a new public route is noticed.
PUBLIC_PREFIXES = ("/schema",)
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),  # readiness: no secrets (tests/wallet_api/test_health.py)
    ("GET", "/metrics"),  # its own bearer token, WALLET_METRICS_TOKEN (test_metrics.py)
    ("GET", "/"),
    ("GET", "/{file_path:path}"),
    ("GET", "/js/dev-key.js"),  # the API-key form or a stub (tests/wallet_api/test_dev_key_form.py)
    # The first screens' texts (tests/wallet_api/test_first_strings.py), like the app's files.
    *(
        ("GET", f"/i18n/{lang}.first.{view}.json")
        for lang in ("fi", "sv", "en")
        for view in ("wallet", "charge", "clients")
    ),
    # The app's files, served from memory minified and compressed (pwa.assets: every .js, .css,
    # .json and .webmanifest of pwa/static; tests/wallet_api/test_pwa_assets.py).
    *(("GET", path) for path in pwa.assets()),
    ("POST", "/api/providers/applications"),
    # The SMS gateway's webhook: its shared secret (tests/notifications/test_sms.py).
    ("POST", "/api/sms/inbound"),
    ("POST", "/api/signin/options"),
    ("POST", "/api/signin/verify"),
    ("POST", "/api/invites/redeem/options"),
    ("POST", "/api/invites/redeem/verify"),
    ("GET", "/api/providers/apply/counties"),
    ("GET", "/api/providers/apply/county"),
    ("POST", "/api/providers/apply/options"),
    ("POST", "/api/providers/apply/verify"),
}


def app_routes() -> list[tuple[str, str, bool]]:
    """(method, path, public) of every HTTP route the app serves."""
    out: list[tuple[str, str, bool]] = []
    for route in create_app().routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                out.append((str(method), route.path, bool(handler.opt.get("public"))))
    return out


def test_every_route_is_in_the_table() -> None:
    missing, public_unlisted = [], []
    seen = set()
    for method, path, public in app_routes():
        seen.add((method, path))
        if path.startswith(PUBLIC_PREFIXES):
            continue
        if public:
            if (method, path) not in PUBLIC:
                public_unlisted.append(f"{method} {path}")
            continue
        if (method, path) not in TABLE:
            missing.append(f"{method} {path}")
    assert not missing, f"routes without a row in the authorization TABLE: {missing}"
    assert not public_unlisted, f"public routes not listed in PUBLIC: {public_unlisted}"
    stale = sorted(f"{m} {p}" for m, p in set(TABLE) | PUBLIC if (m, p) not in seen)
    assert not stale, f"TABLE/PUBLIC rows for routes the app no longer has: {stale}"
    assert not set(TABLE) & PUBLIC


# --- the seeded world ------------------------------------------------------------------------
async def _principal(db: Database, org: uuid.UUID, role: str, name: str) -> uuid.UUID:
    return await catalogue.create_principal(db, organizer_id=org, role=role, display_name=name)


async def build(db: Database) -> tuple[Res, dict[str, str]]:
    w = await seed_world(db)
    org = w.organizer_id
    # Every carer's mandate is granted in force at once, as a case manager's grant is.
    carer_view = await _principal(db, org, "carer", "Katsoja")
    await grant_mandate(db, carer_id=carer_view, client_id=w.client_id, scopes=("view",))
    carer = await _principal(db, org, "carer", "Matti")
    await grant_mandate(db, carer_id=carer, client_id=w.client_id, scopes=("view", "approve"))
    carer_providers = await _principal(db, org, "carer", "Hoitaja")
    await grant_mandate(
        db, carer_id=carer_providers, client_id=w.client_id, scopes=("view", "manage-providers")
    )
    carer_none = await _principal(db, org, "carer", "Outsider")
    carer_revoked = await _principal(db, org, "carer", "Entinen")
    await grant_mandate(
        db,
        carer_id=carer_revoked,
        client_id=w.client_id,
        scopes=("view", "approve", "manage-providers"),
    )
    spare_carer = await _principal(db, org, "carer", "Vara")
    spare_cm = await _principal(db, org, "case_manager", "Varaohjaaja")
    spare_staff = await catalogue.create_principal(
        db, organizer_id=org, role="provider", display_name="Työntekijä", provider_id=w.provider_id
    )
    other_client = await catalogue.create_client(
        db, organizer_id=org, first_name="Eino", last_name="K", phone="0405550000"
    )
    applied, applied_principal = await providers.create_provider(
        db, organizer_id=org, name="Hakija Oy", business_id="0112038-9", prices={"siivous": 3000}
    )
    await set_provider_status(db, applied, "applied")
    async with UnitOfWork(db) as uow:
        for pid, principal in ((w.provider_id, w.provider_principal), (applied, applied_principal)):
            uow.session.add(ProviderOwner(provider_id=pid, principal_id=principal))
        await uow.commit()
    # Another organizer, complete: its people hold every right there is in their own county.
    f = await seed_world(db, phone="040 765 4321")
    foreign_carer = await _principal(db, f.organizer_id, "carer", "Vieras")
    await grant_mandate(
        db,
        carer_id=foreign_carer,
        client_id=f.client_id,
        scopes=("view", "approve", "manage-providers"),
    )
    async with UnitOfWork(db) as uow:
        uow.session.add(ProviderOwner(provider_id=f.provider_id, principal_id=f.provider_principal))
        # Both counties' case managers hold the admin right (they manage case managers).
        await uow.session.execute(
            update(Principal)
            .where(Principal.id.in_((w.case_manager, f.case_manager)))
            .values(admin=True)
        )
        await uow.commit()

    keys = {
        CLIENT: await api_key_for(db, w.client_principal),
        OTHER_CLIENT: await api_key_for(db, other_client.principal_id),
        CARER_VIEW: await api_key_for(db, carer_view),
        CARER: await api_key_for(db, carer),
        CARER_PROVIDERS: await api_key_for(db, carer_providers),
        CARER_NONE: await api_key_for(db, carer_none),
        CARER_REVOKED: await api_key_for(db, carer_revoked),
        PROVIDER: await api_key_for(db, w.provider_principal),
        OTHER_PROVIDER: await api_key_for(db, w.other_provider_principal),
        APPLIED_PROVIDER: await api_key_for(db, applied_principal),
        CASE_MANAGER: await api_key_for(db, w.case_manager),
        FOREIGN_CLIENT: await api_key_for(db, f.client_principal),
        FOREIGN_CARER: await api_key_for(db, foreign_carer),
        FOREIGN_PROVIDER: await api_key_for(db, f.provider_principal),
        FOREIGN_CM: await api_key_for(db, f.case_manager),
    }
    client_actor = await authenticate_api_key(db, keys[CLIENT])
    assert client_actor is not None
    await mandates.revoke_mandate(db, client_actor, client_id=w.client_id, carer_id=carer_revoked)

    one_hour = [ChargeLineInput("siivous", Decimal(1), 3500)]
    charge = await capture_charge(
        db,
        provider_id=w.provider_id,
        customer=Customer(wallet_id=w.wallet_id),
        lines=one_hour,
        idempotency_key=str(uuid.uuid4()),
        request_hash=uuid.uuid4().hex,
    )
    hold = await visits.create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=to_e164(w.phone)),
        lines=one_hour,
        idempotency_key=str(uuid.uuid4()),
        request_hash=uuid.uuid4().hex,
        trusted_only=True,
    )
    # A payment request bound to the wallet: the provider is untrusted for one phone.
    await trust.remove_trusted(
        db, actor_id=w.case_manager, wallet_id=w.wallet_id, provider_id=w.provider_id
    )
    pending = await phone.phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=to_e164(w.phone),
        lines=one_hour,
        idempotency_key=str(uuid.uuid4()),
        request_hash=uuid.uuid4().hex,
    )
    assert pending.body["outcome"] == "pending", pending.body
    await trust_provider(db, w.wallet_id, w.provider_id, actor_id=w.case_manager)
    card = await cards.issue_card(
        db, actor_id=w.case_manager, organizer_id=org, wallet_id=w.wallet_id, pin="4826"
    )
    await settlements.settle_providers(db, datetime.now(HELSINKI).date(), organizer_id=org)
    hook, _secret = await webhooks.create_endpoint(
        db,
        organizer_id=org,
        actor_id=w.case_manager,
        url="https://hooks.example.com/county",
        event_types=["charge.captured"],
        policy=OutboundPolicy(),
    )
    pinged = await webhooks.ping(db, organizer_id=org, actor_id=w.case_manager, endpoint_id=hook.id)
    settled = await settlements.list_settlements(db, organizer_id=org, provider_id=w.provider_id)
    assert settled, "the provider's charge should have been settled"
    correction_id = uuid.uuid4()
    optin_id = uuid.uuid4()
    async with UnitOfWork(db) as uow:
        uow.session.add(
            SmsOptIn(
                id=optin_id,
                organizer_id=org,
                wallet_id=w.wallet_id,
                principal_id=w.client_principal,
                phone_e164=to_e164(w.phone),
                language="fi",
                events=["request"],
                code_attempts=0,
                created_at=datetime.now(HELSINKI),
            )
        )
        uow.session.add(
            Correction(
                id=correction_id,
                organizer_id=org,
                charge_id=uuid.UUID(str(charge.body["id"])),
                amount_cents=100,
                reason="Väärä",
                status="pending",
                requested_by=spare_cm,
                requested_at=datetime.now(HELSINKI),
            )
        )
        await uow.commit()
    res = Res(
        world=w,
        charge_id=uuid.UUID(str(charge.body["id"])),
        hold_id=uuid.UUID(str(hold.body["id"])),
        request_id=uuid.UUID(str(pending.body["request"]["id"])),
        card_id=card.id,
        card_number=card.card_number,
        settlement_id=settled[0].id,
        applied_provider_id=applied,
        spare_carer_id=spare_carer,
        spare_cm_id=spare_cm,
        spare_staff_id=spare_staff,
        correction_id=correction_id,
        endpoint_id=hook.id,
        delivery_id=pinged.id,
        optin_id=optin_id,
    )
    return res, keys


PARAM = re.compile(r"\{(\w+):(\w+)\}")


def concrete(path: str, rule: Rule, res: Res) -> str:
    ids: dict[str, Any] = {
        "wallet_id": res.world.wallet_id,
        "client_id": res.world.client_id,
        "charge_id": res.charge_id,
        "hold_id": res.hold_id,
        "request_id": res.request_id,
        "card_id": res.card_id,
        "settlement_id": res.settlement_id,
        "provider_id": res.world.provider_id,
        "applied": res.applied_provider_id,
        "applied_provider_id": res.applied_provider_id,
        "spare_cm_id": res.spare_cm_id,
        "spare_staff_id": res.spare_staff_id,
        "correction_id": res.correction_id,
        "endpoint_id": res.endpoint_id,
        "delivery_id": res.delivery_id,
        "optin_id": res.optin_id,
        "passkey_id": uuid.uuid4(),
        "session_id": uuid.uuid4(),
        "period": res.world.period,
    }

    def fill(m: re.Match[str]) -> str:
        name = rule.ids.get(m.group(1), m.group(1))
        return str(ids[name])

    return PARAM.sub(fill, path)


# Path parameters that name no resource of the first organizer (one's own passkey or session,
# a month).
NOT_FIRST_ORGANIZERS = frozenset({"passkey_id", "session_id", "period"})


def names_first_organizer(path: str) -> bool:
    """Whether the path names a resource (wallet, client, charge, ...) of the first organizer."""
    return any(name not in NOT_FIRST_ORGANIZERS for name, _kind in PARAM.findall(path))


def hidden_from(who: str, path: str) -> bool:
    """Callers of another organizer must not learn that the first organizer's ids exist."""
    return who in FOREIGN and names_first_organizer(path)


def verdict(who: str, rule: Rule, path: str, status: int, ctype: str, slug: str) -> str | None:
    """None if the answer fits the table, else what is wrong with it."""
    if status >= 500:
        return f"server error {status}"
    if hidden_from(who, path):
        if status != 404 or slug != "not-found":
            return f"another organizer's caller got {status} {slug}, want exactly 404 not-found"
    elif who in rule.allowed:
        if status in (401, 403):
            return f"allowed caller refused with {status}"
        if status == 404 and not rule.not_found_ok:
            return "allowed caller got 404: does the path point at a real resource?"
        return None
    if who == ANON and status != 401:
        return f"anonymous got {status}, want 401"
    if who != ANON and status not in (403, 404):
        return f"refused caller got {status}, want 403/404"
    if not ctype.startswith("application/problem+json"):
        return f"refusal {status} is not problem+json ({ctype})"
    return None


def test_every_path_id_is_resolved_to_its_organizer() -> None:
    """Every path parameter of a guarded route is an id that the guards resolve to its
    organizer (``wallet_api.auth.PATH_IDS``, so a refused caller of another organizer gets
    404), or one of the few that name no organizer's row."""
    names = {
        name
        for _m, path, public in app_routes()
        if not public and not path.startswith(PUBLIC_PREFIXES)
        for name, _kind in PARAM.findall(path)
    }
    assert names - set(PATH_IDS) <= NOT_FIRST_ORGANIZERS, names - set(PATH_IDS)
    assert set(PATH_IDS) <= names, "PATH_IDS names a parameter no route has"


def test_second_organizer_is_in_the_matrix() -> None:
    """The matrix holds every kind of person of another organizer, and every route that names
    a resource expects exactly 404 from them (the verdict does, whatever the row allows)."""
    assert {FOREIGN_CLIENT, FOREIGN_CARER, FOREIGN_PROVIDER, FOREIGN_CM} <= set(CALLERS)
    with_ids = [p for _m, p in TABLE if names_first_organizer(p)]
    assert len(with_ids) >= 40, with_ids
    rule = Rule(EVERYONE)
    for who in FOREIGN:
        assert verdict(who, rule, W, 403, "application/problem+json", "forbidden")
        assert verdict(who, rule, W, 200, "application/json", "")
        assert verdict(who, rule, W, 404, "application/problem+json", "not-found") is None


def settings_for(db: Database) -> Settings:
    return Settings(
        database_url=db.url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
    )


def walk_order() -> list[tuple[str, str]]:
    """The app's own guarded routes (from ``create_app()``), in ``TABLE`` order."""
    routes = [
        (m, p) for m, p, public in app_routes() if not public and not p.startswith(PUBLIC_PREFIXES)
    ]
    unlisted = [f"{m} {p}" for m, p in routes if (m, p) not in TABLE]
    assert not unlisted, f"routes without a row in the authorization TABLE: {unlisted}"
    order = {key: i for i, key in enumerate(TABLE)}
    return sorted(routes, key=lambda mp: order[mp])


async def send(
    client: AsyncTestClient[Any], method: str, path: str, res: Res, key: str | None
) -> Any:
    rule = TABLE[(method, path)]
    headers = {"Idempotency-Key": str(uuid.uuid4()), **rule.headers}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return await client.request(
        method,
        concrete(path, rule, res),
        json=(rule.body(res) if rule.body else {}) if method in ("POST", "PUT", "PATCH") else None,
        params=rule.params(res) if rule.params else None,
        headers=headers,
    )


def slug_of(r: Any) -> str:
    if not r.headers.get("content-type", "").startswith("application/problem+json"):
        return ""
    return str(r.json().get("type", ""))


async def test_authorization_matrix(db: Database) -> None:
    res, keys = await build(db)
    failures: list[str] = []
    checked = 0
    async with AsyncTestClient(app=create_app(settings_for(db))) as client:
        for method, path in walk_order():
            rule = TABLE[(method, path)]

            def admitted(who: str, path: str = path, rule: Rule = rule) -> bool:
                return who in rule.allowed and not hidden_from(who, path)

            # Refused callers first, so an allowed caller's change cannot mask a refusal.
            for who in sorted(CALLERS, key=admitted):
                r = await send(client, method, path, res, keys.get(who))
                checked += 1
                ctype = r.headers.get("content-type", "")
                wrong = verdict(who, rule, path, r.status_code, ctype, slug_of(r))
                if wrong:
                    failures.append(f"{method} {path} as {who}: {wrong}: {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert checked == len(TABLE) * len(CALLERS)


def ghost(res: Res) -> Res:
    """The same resources under ids that exist nowhere."""
    world = dataclasses.replace(
        res.world,
        wallet_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        provider_id=uuid.uuid4(),
        phone="040 700 0000",
    )
    return dataclasses.replace(
        res,
        world=world,
        charge_id=uuid.uuid4(),
        hold_id=uuid.uuid4(),
        request_id=uuid.uuid4(),
        card_id=uuid.uuid4(),
        card_number="HBK-" + uuid.uuid4().hex[:20].upper(),
        settlement_id=uuid.uuid4(),
        applied_provider_id=uuid.uuid4(),
        spare_carer_id=uuid.uuid4(),
        spare_cm_id=uuid.uuid4(),
        spare_staff_id=uuid.uuid4(),
        correction_id=uuid.uuid4(),
        endpoint_id=uuid.uuid4(),
        delivery_id=uuid.uuid4(),
    )


async def test_foreign_callers_learn_nothing_from_real_ids(db: Database) -> None:
    """Whatever another organizer's caller sends (ids in the path, the body or the query, a
    phone number, a card), the first organizer's real ids get the answer that ids which exist
    nowhere get: same status, same problem type."""
    res, keys = await build(db)
    nowhere = ghost(res)
    failures: list[str] = []
    async with AsyncTestClient(app=create_app(settings_for(db))) as client:
        for method, path in walk_order():
            for who in sorted(FOREIGN):
                real = await send(client, method, path, res, keys[who])
                fake = await send(client, method, path, nowhere, keys[who])
                if (real.status_code, slug_of(real)) != (fake.status_code, slug_of(fake)):
                    failures.append(
                        f"{method} {path} as {who}: real ids {real.status_code} {slug_of(real)}"
                        f", unknown ids {fake.status_code} {slug_of(fake)}: {real.text[:160]}"
                    )
    assert not failures, "\n".join(failures)
