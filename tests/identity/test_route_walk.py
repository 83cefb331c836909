"""Every route of the app, walked with a stale session cookie and with a live one lacking the
CSRF token; plus the role matrix of the sign-in routes."""

from __future__ import annotations

import re
import uuid

import httpx
from litestar.handlers.http_handlers import HTTPRouteHandler

from payments.budgets import catalogue
from payments.marketplace import providers
from tests.factories import api_key_for
from tests.identity.helpers import County, bearer, issue_invite, new_authenticator, redeem
from wallet_api.app import create_app

PARAM = re.compile(r"\{[a-z_]+:(uuid|str|int)\}")


def handlers() -> list[tuple[str, str, HTTPRouteHandler]]:
    out = []
    for route in create_app().routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                out.append((method, route.path, handler))
    return out


def concrete(path: str) -> str:
    return PARAM.sub(lambda m: "1" if m.group(1) == "int" else str(uuid.uuid4()), path)


def guarded() -> list[tuple[str, str]]:
    return [(m, p) for m, p, h in handlers() if p.startswith("/api/") and not h.opt.get("public")]


async def test_stale_session_and_missing_csrf_everywhere(db, county: County, browser_factory):
    staff, phone = await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    signed = (await redeem(phone, new_authenticator(), invite["code"])).json()
    live = httpx.Cookies(phone.cookies)
    stale = await browser_factory()
    stale.cookies.set("__Host-wallet_session", "not-a-session", domain="wallet.test")
    routes = guarded()
    assert len(routes) >= 20
    for method, path in routes:
        url = concrete(path)
        r = await stale.request(method, url, json={})
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["type"] == "session-expired"
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            phone.cookies = httpx.Cookies(live)
            r = await phone.request(method, url, json={})
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["type"] == "csrf-invalid"
    # The session still works with its token.
    phone.cookies = live
    r = await phone.post("/api/signout", json={}, headers={"X-CSRF-Token": signed["csrf_token"]})
    assert r.status_code == 204


MATRIX = [
    ("POST", "/api/invites", ("carer", "client", "other_client")),
    ("POST", "/api/clients/{client}/carers", ("carer", "provider", "other_client")),
    ("GET", "/api/clients/{client}/mandates", ("carer", "provider", "other_client")),
    ("PUT", "/api/clients/{client}/mandates", ("carer", "provider", "other_client")),
    ("DELETE", "/api/clients/{client}/mandates", ("carer", "provider", "other_client")),
    ("GET", "/api/clients/{client}/views", ("provider", "case_manager", "other_client")),
    ("GET", "/api/audit", ("client", "carer", "provider")),
    ("GET", "/api/me/mandates", ("client", "provider", "case_manager")),
    ("GET", "/api/me/mandates/pending", ("client", "provider", "case_manager")),
    ("POST", "/api/me/mandates/{client}/accept", ("client", "provider", "case_manager")),
    ("POST", "/api/me/mandates/{client}/decline", ("client", "provider", "case_manager")),
    ("POST", "/api/providers/staff", ("client", "carer", "case_manager", "provider")),
]


async def test_role_matrix_of_people_routes(db, county: County, browser_factory):
    app = await browser_factory()
    org = county.organizer_id
    carer = await catalogue.create_principal(db, organizer_id=org, role="carer",
                                             display_name="C")  # fmt: skip
    _, provider = await providers.create_provider(
        db, organizer_id=org, name="P", business_id="0112038-9", prices={}
    )
    other = await catalogue.create_client(
        db, organizer_id=org, first_name="E", last_name="K", phone="0405550000"
    )
    keys = {
        "client": county.client_key,
        "case_manager": county.cm_key,
        "carer": await api_key_for(db, carer),
        "provider": await api_key_for(db, provider),  # not an owner
        "other_client": await api_key_for(db, other.principal_id),
    }
    bodies = {
        "/api/invites": {"client_id": str(county.client_id)},
        "/api/clients/{client}/carers": {"display_name": "X", "scopes": ["view"]},
        "/api/clients/{client}/mandates": {"carer_id": str(carer), "scopes": ["view"]},
        "/api/providers/staff": {"display_name": "X"},
    }
    for method, template, refused in MATRIX:
        url = template.replace("{client}", str(county.client_id))
        for who in refused:
            r = await app.request(
                method,
                url,
                json=bodies.get(template) if method in ("POST", "PUT") else None,
                params={"carer_id": str(carer)} if method == "DELETE" else None,
                headers=bearer(keys[who]),
            )
            assert r.status_code == 403, (method, template, who, r.text)
            assert r.json()["type"] == "forbidden"
