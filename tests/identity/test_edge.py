"""The app's edge (issue 16, items 1, 2 and 5; wallet_api/edge.py, wallet_api/logs.py):
the client address through trusted proxies only, security headers on every response, and
access logs with a request id and no secrets.

Requests go through the real app (Litestar's test client) from a chosen socket peer."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from payments.db import Database
from payments.ledger.periods import current_period
from tests.identity.helpers import ORIGIN, County, bearer, make_settings
from wallet_api.app import create_app
from wallet_api.checkout.render import CARD_CSS
from wallet_api.edge import (
    CSP,
    SUBRESOURCE_CSP,
    TrustedProxies,
    inline_style_policy,
    loggable_path,
)
from wallet_api.reporting.render import PRINT_CSS


def with_socket_peer(handler: Any) -> Any:
    """Wrap the app's outermost handler so a request comes from the socket address named in the
    test-only ``x-test-peer`` header (a server puts the peer in the scope the same way)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        for name, value in scope.get("headers", []):
            if name == b"x-test-peer":
                scope["client"] = (value.decode(), 40000)
        await handler(scope, receive, send)

    return app


class PeerClient:
    def __init__(self, client: AsyncTestClient[Any], address: str) -> None:
        self.client, self.address = client, address

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**kw.pop("headers", {}), "x-test-peer": self.address}
        return await self.client.request(method, path, headers=headers, **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> httpx.Response:
        return await self.request("POST", path, **kw)


Peer = Callable[[str], PeerClient]


@pytest.fixture
async def edge_app(db: Database) -> AsyncIterator[Callable[..., Awaitable[Peer]]]:
    """``await edge_app(**settings)`` starts one app and returns ``peer(address)``: a client
    whose requests reach the app from that socket address."""
    opened: list[AsyncTestClient[Any]] = []

    async def start(**over: Any) -> Peer:
        app = create_app(make_settings(db, **over))
        app.asgi_handler = with_socket_peer(app.asgi_handler)
        c = AsyncTestClient(app=app, base_url=ORIGIN)
        await c.__aenter__()
        opened.append(c)
        return lambda address: PeerClient(c, address)

    yield start
    for c in opened:
        await c.__aexit__(None, None, None)


SIGNIN = "/api/signin/options"


async def _statuses(c: PeerClient, forwarded: list[str | None]) -> list[int]:
    out = []
    for xff in forwarded:
        headers = {"X-Forwarded-For": xff} if xff else {}
        out.append((await c.post(SIGNIN, json={}, headers=headers)).status_code)
    return out


# The app-wide limit on public routes and the sign-in ceremony limit (wallet_api/signin) are
# both keyed on the resolved address.
LIMITS = [{"rate_anonymous": 2}, {"rate_ceremonies": 2}]


@pytest.mark.parametrize("limit", LIMITS, ids=["anonymous", "ceremonies"])
async def test_forged_forwarded_for_from_an_untrusted_peer_is_limited_on_the_peer(edge_app, limit):
    peer = await edge_app(trusted_proxies="10.0.0.0/8", **limit)
    attacker = peer("203.0.113.7")
    statuses = await _statuses(attacker, ["198.51.100.1", "198.51.100.2", "198.51.100.3"])
    assert statuses[:2] != [429, 429] and 429 not in statuses[:2], statuses
    assert statuses[2] == 429, statuses
    # Another address is not affected.
    assert (await _statuses(peer("203.0.113.8"), [None])) != [429]


@pytest.mark.parametrize("limit", LIMITS, ids=["anonymous", "ceremonies"])
async def test_clients_behind_a_trusted_proxy_are_limited_separately(edge_app, limit):
    peer = await edge_app(trusted_proxies="10.0.0.0/8, 192.0.2.10", **limit)
    proxy = peer("10.0.0.2")
    # Client one forges a left part; the proxy appended its real address on the right, and a
    # second trusted hop (192.0.2.10) is skipped.
    one = await _statuses(proxy, ["6.6.6.6, 198.51.100.1", "7.7.7.7, 198.51.100.1, 192.0.2.10"])
    assert 429 not in one, one
    assert await _statuses(proxy, ["198.51.100.2", "198.51.100.2"]) == [one[0], one[0]]
    assert await _statuses(proxy, ["8.8.8.8, 198.51.100.1"]) == [429]
    assert await _statuses(proxy, ["198.51.100.2"]) == [429]
    assert 429 not in await _statuses(proxy, ["198.51.100.3"])


async def test_with_no_trusted_proxy_forwarded_for_counts_for_nothing(edge_app):
    peer = await edge_app(rate_anonymous=2)
    proxy = peer("10.0.0.2")
    statuses = await _statuses(proxy, ["198.51.100.1", "198.51.100.2", "198.51.100.3"])
    assert statuses[2] == 429, statuses


def test_trusted_proxies_resolve_from_the_right():
    proxies = TrustedProxies("10.0.0.0/8,::1")
    assert proxies.resolve("10.1.1.1", ["1.1.1.1, 2.2.2.2, 10.0.0.9"], ["https"]) == (
        "2.2.2.2",
        "https",
    )
    assert proxies.resolve("203.0.113.1", ["1.1.1.1"], ["https"]) == ("203.0.113.1", None)
    assert proxies.resolve("::1", ["10.0.0.3, 10.0.0.4"], []) == ("10.0.0.3", None)
    assert proxies.resolve("10.1.1.1", [], ["ftp"]) == ("10.1.1.1", None)
    assert not TrustedProxies("")
    with pytest.raises(ValueError, match="WALLET_TRUSTED_PROXIES"):
        TrustedProxies("10.0.0.0/8, proxy.example")


async def test_scheme_and_client_the_app_sees_come_from_a_trusted_proxy_only(db):
    """X-Forwarded-Proto sets the scheme (and X-Forwarded-For the client) in the scope every
    handler reads only when a trusted proxy sends it."""
    app = create_app(make_settings(db, trusted_proxies="10.0.0.2"))
    edge = app.asgi_handler
    seen: list[tuple[str, str]] = []
    inner = edge.app

    async def record(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append((scope["scheme"], scope["client"][0]))
        await inner(scope, receive, send)

    edge.app = record
    app.asgi_handler = with_socket_peer(edge)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.4"}
    async with AsyncTestClient(app=app, base_url="http://wallet.test") as c:
        for address in ("10.0.0.2", "203.0.113.7"):
            r = await PeerClient(c, address).get("/health", headers=forwarded)
            assert r.status_code == 200
    assert seen == [("https", "198.51.100.4"), ("http", "203.0.113.7")]


EVERY_RESPONSE = (
    "/",
    "/js/app.js",
    "/app.css",
    "/sw.js",
    "/i18n/fi.json",
    "/health",
    "/api/me",
    "/api/nothing",
    "/nothing",
    SIGNIN,
)
# What a browser may open as a document or run as a worker gets the whole policy; what it only
# ever reads (modules, the stylesheet, JSON) the shortest one, which allows nothing.
WHOLE_POLICY = {"/", "/sw.js"}


async def test_security_headers_on_every_response(edge_app):
    peer = await edge_app()
    c = peer("203.0.113.7")
    for path in EVERY_RESPONSE:
        r = await (c.post(path, json={}) if path == SIGNIN else c.get(path))
        h = r.headers
        policy = h["content-security-policy"]
        if path in WHOLE_POLICY:
            assert policy == CSP, path
            for directive in (
                "default-src 'self'",
                "script-src 'self'",
                "connect-src 'self'",
                "img-src 'self' data:",
                "base-uri 'none'",
                "form-action 'self'",
                "object-src 'none'",
            ):
                assert directive in policy, (path, directive)
        else:
            assert policy == SUBRESOURCE_CSP, (path, h["content-type"])
        assert "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy
        assert h["x-frame-options"] == "DENY"
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "strict-origin-when-cross-origin"
        assert h["permissions-policy"] == "camera=(self), microphone=(), geolocation=(), payment=()"
        hsts = h["strict-transport-security"]  # the tests' origin is https
        assert int(re.search(r"max-age=(\d+)", hsts)[1]) >= 365 * 24 * 3600
        assert "includeSubDomains" in hsts
        assert re.fullmatch(r"[0-9a-f]{32}", h["x-request-id"])
        if path.startswith("/api/"):
            assert h["cache-control"] == "no-store", path


async def test_no_hsts_on_a_plain_http_origin(edge_app):
    peer = await edge_app(origin="http://localhost:8000", rp_id="localhost")
    r = await peer("127.0.0.1").get("/")
    assert "strict-transport-security" not in r.headers
    assert r.headers["x-frame-options"] == "DENY"


async def test_statements_and_csv_are_not_stored_and_the_printable_page_allows_its_own_style(
    edge_app, county: County
):
    peer = await edge_app()
    c = peer("203.0.113.7")
    base = f"/api/wallets/{county.wallet_id}/statements/{current_period()}"
    csv = await c.get(base + ".csv", headers=bearer(county.client_key))
    assert csv.status_code == 200 and csv.headers["cache-control"] == "no-store"
    page = await c.get(base + ".html", headers=bearer(county.client_key))
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    policy = page.headers["content-security-policy"]
    assert policy == inline_style_policy(PRINT_CSS)["Content-Security-Policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert f"<style>{PRINT_CSS}</style>" in page.text  # the hash is of exactly this
    assert "sha256-" in inline_style_policy(CARD_CSS)["Content-Security-Policy"]


async def test_api_docs_pages_are_off_unless_asked_for(edge_app, db):
    peer = await edge_app()
    c = peer("203.0.113.7")
    assert (await c.get("/schema/openapi.json")).status_code == 200
    for page in ("/schema/swagger", "/schema/redoc", "/schema/elements"):
        assert (await c.get(page)).status_code == 404, page
    root = await c.get("/schema")
    assert "<script" not in root.text


async def test_api_docs_pages_when_turned_on(edge_app):
    peer = await edge_app(api_docs=True)
    r = await peer("203.0.113.7").get("/schema/swagger")
    assert r.status_code == 200 and "<script" in r.text
    assert "cdn.jsdelivr.net" in r.headers["content-security-policy"]
    # Only the documentation pages get the looser policy.
    assert (await peer("203.0.113.7").get("/")).headers["content-security-policy"] == CSP


# --- logs -------------------------------------------------------------------------------


PHONE = "+358401234567"
PAYMENT_CODE = "48213957"
TOKEN = "hbp_Zm9vYmFyYmF6cXV4"
INVITE = "ABCDE-FGHJK"


async def test_json_access_lines_carry_the_request_id_and_no_secrets(edge_app):
    peer = await edge_app(log_format="json", trusted_proxies="10.0.0.2")
    handler = logging.getLogger("wallet").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    handler.setStream(out)
    c = peer("10.0.0.2")
    good = await c.get(
        "/api/me", headers={"X-Request-ID": "lb-7f3a.01_x", "X-Forwarded-For": "198.51.100.9"}
    )
    assert good.headers["x-request-id"] == "lb-7f3a.01_x"
    bad_ids = ["has space", "x" * 65, "semi;colon", ""]
    replaced = []
    for bad in bad_ids:
        r = await c.get("/health", headers={"X-Request-ID": bad} if bad else {})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), bad
        replaced.append(r.headers["x-request-id"])
    secret_paths = [
        f"/api/customers/{PHONE}",
        "/api/customers/%2B358%2040%20123%204567",
        f"/api/checkout/codes/{PAYMENT_CODE}",
        f"/api/tokens/{TOKEN}",
        f"/join/{INVITE}",
        "/api/cards/CARD-7Q2X/print",
        "/api/wallets?phone=0401234567&amount_cents=12345",
    ]
    for path in secret_paths:
        await c.get(path, headers={"Authorization": "Bearer sekret-key", "Cookie": "s=sekret"})
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    access = [x for x in lines if x["logger"] == "wallet.access"]
    assert len(access) == 1 + len(bad_ids) + len(secret_paths)
    first = access[0]
    assert first["request_id"] == "lb-7f3a.01_x"
    assert first["method"] == "GET" and first["path"] == "/api/me" and first["status"] == 401
    assert first["client"] == "198.51.100.9"
    assert isinstance(first["duration_ms"], float)
    assert [x["request_id"] for x in access[1 : 1 + len(bad_ids)]] == replaced
    text = out.getvalue()
    for secret in (PHONE, "+358", "1234567", PAYMENT_CODE, TOKEN, INVITE, "CARD-7Q2X", "=12345"):
        assert secret not in text, secret
    for secret in ("sekret", "?", "phone", "amount"):
        assert secret not in "".join(x["path"] for x in access), secret
    assert "sekret" not in text
    paths = [x["path"] for x in access[-len(secret_paths) :]]
    assert paths[4] == "/join/…" and paths[6] == "/api/wallets"


async def test_text_lines_carry_the_request_id(edge_app):
    peer = await edge_app()
    handler = logging.getLogger("wallet").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    handler.setStream(out)
    await peer("203.0.113.7").get("/health", headers={"X-Request-ID": "abc-123"})
    line = out.getvalue().strip().splitlines()[-1]
    assert "[abc-123]" in line and "GET /health 200" in line and "client=203.0.113.7" in line


def test_domain_lines_within_a_request_carry_its_id():
    """The id is a context variable: any logger under ``wallet`` stamps it."""
    from wallet_api.logs import REQUEST_ID, JsonFormatter, RequestIdFilter

    record = logging.makeLogRecord({"name": "wallet.scheduler", "msg": "funded %s", "args": (3,)})
    token = REQUEST_ID.set("req-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-1" and line["message"] == "funded 3"


def test_loggable_path():
    assert loggable_path("/api/cards/X1/print", {"card_id": "X1"}) == "/api/cards/…/print"
    assert (
        loggable_path("/api/wallets/5f0c/statements/2026-11")
        == "/api/wallets/5f0c/statements/2026-11"
    )
    assert loggable_path("/api/x/040%20123%204567") == "/api/x/…"
    assert loggable_path("/api/reports/2026-11-30/x") == "/api/reports/2026-11-30/x"
    assert loggable_path("/join") == "/join"


def test_a_log_format_other_than_text_or_json_is_refused():
    from wallet_api.logs import logging_config

    with pytest.raises(ValueError, match="WALLET_LOG_FORMAT"):
        logging_config("xml")
