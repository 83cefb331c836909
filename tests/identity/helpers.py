"""The identity tests' helpers: the app's origin, browsers with their own cookie jars, and
the invite, redeem and sign-in steps (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from payments import clock as domain_clock
from payments.db import Database
from tests.identity.authenticator import SoftAuthenticator
from wallet_api.settings import Settings

ORIGIN = "https://wallet.test"
RP_ID = "wallet.test"


@dataclass
class County:
    organizer_id: uuid.UUID
    slug: str
    client_id: uuid.UUID
    wallet_id: uuid.UUID
    client_principal: uuid.UUID
    case_manager: uuid.UUID
    cm_key: str
    client_key: str


class Clock:
    """Moves the domain's one clock (payments.clock) forward from real time."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return domain_clock.system_time() + self.offset

    def advance(self, **kw: float) -> None:
        self.offset += timedelta(**kw)


def make_settings(db: Database, **over: Any) -> Settings:
    base: dict[str, Any] = dict(
        database_url=db.url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
        rp_id=RP_ID,
        origin=ORIGIN,
    )
    base.update(over)
    return Settings(**base)


AppFactory = Callable[..., Any]


class Browser:
    """One browser: its own cookie jar over the shared test client (one app, one loop)."""

    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.client = client
        self.cookies = httpx.Cookies()

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        self.client.cookies = self.cookies
        try:
            return await self.client.request(method, url, **kw)
        finally:
            self.cookies = httpx.Cookies(self.client.cookies)

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", url, **kw)

    async def put(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("PUT", url, **kw)

    async def patch(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kw)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def issue_invite(c: Browser, key: str, **body: Any) -> dict[str, Any]:
    r = await c.post("/api/invites", json=body, headers=bearer(key))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def redeem(c: Browser, auth: SoftAuthenticator, code: str, **create_kw: Any) -> Any:
    r = await c.post("/api/invites/redeem/options", json={"code": code})
    assert r.status_code == 200, r.text
    cred = auth.create(r.json()["publicKey"], **create_kw)
    return await c.post(
        "/api/invites/redeem/verify", json={"credential": cred, "passkey_name": "Puhelin"}
    )


async def sign_in(c: Browser, auth: SoftAuthenticator, **get_kw: Any) -> Any:
    r = await c.post("/api/signin/options", json={})
    assert r.status_code == 200, r.text
    options = r.json()["publicKey"]
    assert options["userVerification"] == "required"
    assert options.get("allowCredentials", []) == []
    return await c.post("/api/signin/verify", json={"credential": auth.get(options, **get_kw)})


def new_authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


def problem_of(r: Any, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["type"] == slug, body
    return body


@dataclass
class Person:
    """Someone signed in on their own phone with a passkey: the browser, the authenticator
    that holds the passkey, and the CSRF header that cookie writes need."""

    phone: Browser
    auth: SoftAuthenticator
    principal_id: uuid.UUID
    csrf: dict[str, str]


async def join(phone: Browser, code: str) -> Person:
    """Redeem ``code`` on ``phone`` with a new passkey and stay signed in."""
    auth = new_authenticator()
    r = await redeem(phone, auth, code)
    assert r.status_code == 201, r.text
    signed = r.json()
    return Person(
        phone, auth, uuid.UUID(signed["principal_id"]), {"X-CSRF-Token": signed["csrf_token"]}
    )


async def signed_in_client(browser_factory: AppFactory, county: County) -> Person:
    """The county's client, invited by their case manager and signed in on their phone."""
    staff, phone = await browser_factory(), await browser_factory()
    invite = await issue_invite(staff, county.cm_key, client_id=str(county.client_id))
    return await join(phone, invite["code"])
