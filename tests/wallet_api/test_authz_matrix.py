"""The authorization matrix: every route of the app against every kind of caller.

The route list comes from ``create_app()`` itself; ``TABLE`` below says, for each
(method, path template), which caller kinds are ALLOWED. Every route must be in ``TABLE`` or
in ``PUBLIC``, so a new route without an entry fails ``test_every_route_is_in_the_table``.

For each route, every caller kind sends one request with real ids of resources that belong
to the seeded client and provider:

- an allowed caller must get past authorization: not 401/403 and not 5xx (a 4xx for the
  deliberately useless body is fine);
- anonymous gets 401, every other refused caller 403 or 404 (ownership may hide a resource);
  never 2xx, never 5xx; always problem+json.

Bodies are chosen so that a refused caller reaches the ownership/approval check (they are
valid in shape) while an allowed caller changes nothing that later rows depend on: charges
ask for far more than the budget holds, refunds for more than was charged, provider
decisions target a status they cannot move from. Routes that do change shared state (void,
approve, revoke, issue a new card) come late in ``TABLE``, which is also the walk order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient

from payments.budgets import catalogue
from payments.checkout import cards, phone, trust, visits
from payments.checkout.charges import ChargeLineInput, Customer, capture_charge
from payments.db import Database
from payments.ledger.periods import HELSINKI
from payments.marketplace import providers, settlements
from payments.models import ProviderOwner
from payments.people import mandates
from payments.people.access import authenticate_api_key
from payments.people.mandates import grant_mandate
from payments.people.phones import to_e164
from payments.uow import UnitOfWork
from tests.factories import World, api_key_for, seed_world, set_provider_status, trust_provider
from wallet_api.app import create_app
from wallet_api.settings import Settings

# --- caller kinds ----------------------------------------------------------------------------
ANON = "anonymous"
CLIENT = "client"  # owns the wallet, the charge's wallet, the card, the payment request
OTHER_CLIENT = "other_client"  # same county, unrelated
CARER = "carer"  # mandate over the client with view + approve (not manage-providers)
CARER_NONE = "carer_none"  # no mandate at all
CARER_REVOKED = "carer_revoked"  # held view + approve + manage-providers, revoked
PROVIDER = "provider"  # approved for siivous, its owner; owns the charge, hold, request, settlement
OTHER_PROVIDER = "other_provider"  # approved (for kuljetus only), a staff member, owns none of it
APPLIED_PROVIDER = "applied_provider"  # status 'applied': not approved; its owner
CASE_MANAGER = "case_manager"  # of the client's organizer
FOREIGN_CM = "foreign_case_manager"  # of another organizer

CALLERS = (
    ANON,
    CLIENT,
    OTHER_CLIENT,
    CARER,
    CARER_NONE,
    CARER_REVOKED,
    PROVIDER,
    OTHER_PROVIDER,
    APPLIED_PROVIDER,
    CASE_MANAGER,
    FOREIGN_CM,
)
EVERYONE = frozenset(CALLERS) - {ANON}  # any signed-in caller (routes about oneself)
CARERS = frozenset({CARER, CARER_NONE, CARER_REVOKED})
WALLET_READERS = frozenset({CLIENT, CARER, CASE_MANAGER})
WALLET_APPROVERS = frozenset({CLIENT, CARER})
CLIENT_OR_CM = frozenset({CLIENT, CASE_MANAGER})
# Charges ask for 'siivous': only the provider approved for it may charge; the other provider
# (approved for 'kuljetus' only) and the applied one get 403 provider-not-approved.
CHARGING_PROVIDERS = frozenset({PROVIDER})
PROVIDER_OWNERS = frozenset({PROVIDER, APPLIED_PROVIDER})
ANY_PROVIDER = frozenset({PROVIDER, OTHER_PROVIDER, APPLIED_PROVIDER})  # own data only
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
    # 'manage-providers' scope, which the carer does not hold.
    ("PUT", W + "/trusted-providers/{provider_id:str}"): Rule(
        CLIENT_OR_CM,
        body=lambda r: {"per_charge_cap_cents": 1000},
        ids={"provider_id": "applied_provider_id"},
    ),
    ("DELETE", W + "/trusted-providers/{provider_id:str}"): Rule(
        CLIENT_OR_CM, ids={"provider_id": "applied_provider_id"}, not_found_ok=True
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
    # -- checkout at the door -----------------------------------------------------------------
    ("POST", "/api/checkout/phone"): Rule(
        CHARGING_PROVIDERS, body=lambda r: {"phone": r.world.phone, "lines": TOO_MUCH}
    ),
    ("POST", "/api/checkout/token"): Rule(
        CHARGING_PROVIDERS, body=lambda r: {"code": "12345678", "lines": TOO_MUCH}
    ),
    ("POST", "/api/checkout/card"): Rule(
        CHARGING_PROVIDERS,
        body=lambda r: {"card_number": r.card_number, "pin": r.pin, "lines": TOO_MUCH},
    ),
    ("POST", "/api/holds"): Rule(
        CHARGING_PROVIDERS, body=lambda r: {"phone": r.world.phone, "lines": TOO_MUCH}
    ),
    ("GET", "/api/holds/{hold_id:str}"): Rule(allow(PROVIDER)),
    ("POST", "/api/holds/{hold_id:str}/capture"): Rule(
        allow(PROVIDER), body=lambda r: {"lines": TOO_MUCH}
    ),
    ("POST", "/api/payment-requests"): Rule(CHARGING_PROVIDERS, body=lambda r: {"lines": TOO_MUCH}),
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
    ("GET", C + "/views"): Rule(allow(CLIENT, CARER)),
    ("POST", "/api/providers/staff"): Rule(
        PROVIDER_OWNERS, body=lambda r: {"display_name": "Uusi"}
    ),
    # A provider's own price list; a price dated in the past is refused (400) before anything.
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
    ("POST", C + "/decisions"): Rule(
        allow(CASE_MANAGER),
        body=lambda r: {
            "valid_from": date.today().isoformat(),
            "lines": [{"label": "x", "monthly_amount_cents": 100, "categories": ["ei-ole"]}],
        },
    ),
    ("POST", "/api/decision-helper"): Rule(
        ANY_CM, body=lambda r: {"hours_per_week": "7.5", "value_per_hour_cents": 3200}
    ),
    ("GET", "/api/audit"): Rule(ANY_CM),
    ("GET", "/api/clients"): Rule(ANY_CM),
    ("GET", C): Rule(allow(CASE_MANAGER)),
    ("GET", "/api/funding-runs"): Rule(ANY_CM),
    ("GET", "/api/holds"): Rule(ANY_PROVIDER),
    ("GET", "/api/reports/months"): Rule(ANY_CM),
    ("GET", "/api/reports/providers"): Rule(ANY_CM),
    ("GET", "/api/reports/months.svg"): Rule(ANY_CM),
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
}

# Public on purpose (no guard): checked elsewhere; listed so that a new public route is noticed.
PUBLIC_PREFIXES = ("/schema",)
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/"),
    ("GET", "/{file_path:path}"),
    ("GET", "/js/dev-key.js"),  # the API-key form or a stub (tests/wallet_api/test_dev_key_form.py)
    ("POST", "/api/providers/applications"),
    ("POST", "/api/signin/options"),
    ("POST", "/api/signin/verify"),
    ("POST", "/api/invites/redeem/options"),
    ("POST", "/api/invites/redeem/verify"),
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
    carer = await _principal(db, org, "carer", "Matti")
    await grant_mandate(db, carer_id=carer, client_id=w.client_id, scopes=("view", "approve"))
    carer_none = await _principal(db, org, "carer", "Outsider")
    carer_revoked = await _principal(db, org, "carer", "Entinen")
    await grant_mandate(
        db,
        carer_id=carer_revoked,
        client_id=w.client_id,
        scopes=("view", "approve", "manage-providers"),
    )
    spare_carer = await _principal(db, org, "carer", "Vara")
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
    other_org = await catalogue.create_organizer(db, slug=f"x-{uuid.uuid4().hex[:6]}", name="X")
    foreign_cm = await _principal(db, other_org, "case_manager", "Other")

    keys = {
        CLIENT: await api_key_for(db, w.client_principal),
        OTHER_CLIENT: await api_key_for(db, other_client.principal_id),
        CARER: await api_key_for(db, carer),
        CARER_NONE: await api_key_for(db, carer_none),
        CARER_REVOKED: await api_key_for(db, carer_revoked),
        PROVIDER: await api_key_for(db, w.provider_principal),
        OTHER_PROVIDER: await api_key_for(db, w.other_provider_principal),
        APPLIED_PROVIDER: await api_key_for(db, applied_principal),
        CASE_MANAGER: await api_key_for(db, w.case_manager),
        FOREIGN_CM: await api_key_for(db, foreign_cm),
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
    settled = await settlements.list_settlements(db, organizer_id=org, provider_id=w.provider_id)
    assert settled, "the provider's charge should have been settled"
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
        "passkey_id": uuid.uuid4(),
        "period": res.world.period,
    }

    def fill(m: re.Match[str]) -> str:
        name = rule.ids.get(m.group(1), m.group(1))
        return str(ids[name])

    return PARAM.sub(fill, path)


def verdict(who: str, rule: Rule, status: int, ctype: str) -> str | None:
    """None if the answer fits the table, else what is wrong with it."""
    if status >= 500:
        return f"server error {status}"
    if who in rule.allowed:
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


async def test_authorization_matrix(db: Database) -> None:
    res, keys = await build(db)
    settings = Settings(
        database_url=db.url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
    )
    routes = [(m, p) for m, p, public in app_routes() if not public and (m, p) in TABLE]
    order = {key: i for i, key in enumerate(TABLE)}
    routes.sort(key=lambda mp: order[mp])
    failures: list[str] = []
    checked = 0
    async with AsyncTestClient(app=create_app(settings)) as client:
        for method, path in routes:
            rule = TABLE[(method, path)]
            url = concrete(path, rule, res)
            body = rule.body(res) if rule.body else {}
            params = rule.params(res) if rule.params else None
            # Refused callers first, so an allowed caller's change cannot mask a refusal.
            for who in sorted(CALLERS, key=lambda k: k in rule.allowed):
                headers = {"Idempotency-Key": str(uuid.uuid4()), **rule.headers}
                if who != ANON:
                    headers["Authorization"] = f"Bearer {keys[who]}"
                r = await client.request(
                    method,
                    url,
                    json=body if method in ("POST", "PUT", "PATCH") else None,
                    params=params,
                    headers=headers,
                )
                checked += 1
                wrong = verdict(who, rule, r.status_code, r.headers.get("content-type", ""))
                if wrong:
                    failures.append(f"{method} {path} as {who}: {wrong}: {r.text[:200]}")
    assert not failures, "\n".join(failures)
    assert checked == len(TABLE) * len(CALLERS)
