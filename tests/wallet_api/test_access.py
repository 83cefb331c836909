"""Authorization: built from the app's own route list, so a new route cannot escape it."""

from __future__ import annotations

import re
import uuid

import pytest
from litestar.handlers.http_handlers import HTTPRouteHandler

from tests.support.api import auth
from wallet_api.app import create_app

# Routes that are public on purpose. Everything else must declare a guard.
PUBLIC_PREFIXES = ("/schema",)


def api_handlers() -> list[tuple[str, str, HTTPRouteHandler]]:
    app = create_app()
    out = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                out.append((method, route.path, handler))
    return out


def test_every_route_is_guarded_or_public_on_purpose():
    unguarded = []
    for method, path, handler in api_handlers():
        if path.startswith(PUBLIC_PREFIXES) or handler.opt.get("public"):
            continue
        if not handler.guards and not handler.resolve_guards():
            unguarded.append(f"{method} {path}")
    assert unguarded == []


def _concrete(path: str) -> str:
    """Fill every typed path parameter with a well-formed value of its type."""

    def fill(match: re.Match[str]) -> str:
        kind = match.group(2)
        return {"uuid": str(uuid.uuid4()), "int": "1"}.get(kind, "x" + uuid.uuid4().hex[:8])

    return re.sub(r"\{(\w+):(\w+)\}", fill, path)


async def test_anonymous_and_bad_keys_get_401_everywhere(client, world):
    checked = 0
    for method, path, handler in api_handlers():
        if path.startswith(PUBLIC_PREFIXES) or handler.opt.get("public"):
            continue
        url = _concrete(path)
        for headers in ({}, auth("wk_000000000000_nope"), {"Authorization": "Basic abc"}):
            r = await client.request(method, url, json={}, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["type"] == "unauthorized"
        checked += 1
    assert checked >= 8


ROLE_MATRIX = [
    # (method, path template, role key -> expected status)
    ("POST", "/api/charges", {"client": 403, "carer_view": 403, "case_manager": 403}),
    ("GET", "/api/charges", {"client": 403, "carer_view": 403, "case_manager": 403}),
    ("POST", "/api/clients", {"provider": 403, "client": 403, "carer_view": 403}),
    (
        "GET",
        "/api/wallets/{wallet}",
        {
            "provider": 403,
            "other_client": 403,
            "carer_none": 403,
            "foreign_case_manager": 404,  # another organizer: no such wallet
            "client": 200,
            "carer_view": 200,
            "case_manager": 200,
        },
    ),
    (
        "GET",
        "/api/wallets/{wallet}/transactions",
        {
            "provider": 403,
            "other_client": 403,
            "carer_none": 403,
            "foreign_case_manager": 404,  # another organizer: no such wallet
            "client": 200,
            "carer_view": 200,
            "case_manager": 200,
        },
    ),
]


@pytest.mark.parametrize("method,template,expect", ROLE_MATRIX)
async def test_roles_and_ownership(client, world, keys, method, template, expect):
    url = template.replace("{wallet}", str(world.wallet_id))
    for who, status in expect.items():
        headers = auth(getattr(keys, who), **{"Idempotency-Key": str(uuid.uuid4())})
        r = await client.request(
            method, url, json={"x": 1} if method == "POST" else None, headers=headers
        )
        if status in (403, 404):
            assert r.status_code == status, (who, r.text)
            assert r.json()["type"] == {403: "forbidden", 404: "not-found"}[status]
        else:
            assert r.status_code == status, (who, r.text)


async def test_revoked_key_is_refused(client, db, world, keys):
    from payments.people.access import revoke_api_key

    assert (await client.get("/api/me", headers=auth(keys.client))).status_code == 200
    prefix = keys.client.split("_")[1]
    assert await revoke_api_key(db, prefix)
    assert (await client.get("/api/me", headers=auth(keys.client))).status_code == 401


async def test_me_lists_actable_wallets(client, world, keys):
    me = (await client.get("/api/me", headers=auth(keys.carer_view))).json()
    assert me["role"] == "carer" and me["wallets"] == [str(world.wallet_id)]
    me = (await client.get("/api/me", headers=auth(keys.carer_none))).json()
    assert me["wallets"] == []
