"""The app's edge: what every request and response passes, whatever route (or none) answers.

- **Client address and scheme** (``WALLET_TRUSTED_PROXIES``): X-Forwarded-For and
  X-Forwarded-Proto count only when the socket peer is a trusted proxy; X-Forwarded-For is
  walked from the right, skipping trusted hops, and the first untrusted one is the client.
  The result replaces the ASGI scope's ``client`` and ``scheme``, so ``request.client.host``
  is the one resolved address every rate limit and log line uses (``client_address``). The
  servers apply the same list (``wallet serve``); resolving again here changes nothing then,
  and keeps the app right under any server and in tests.
- **Request id**: an incoming ``X-Request-ID`` of at most 64 of ``[A-Za-z0-9._-]`` is kept,
  anything else replaced by a new one; it is in a context variable (``wallet_api.logs``) for
  every log line of the request, and in ``X-Request-ID`` on the response.
- **Security headers** on every response (docs/security.md): CSP (scripts from this origin and
  the app shell's inline scripts by their hashes, ``pwa.inline_script_sources``; on what is
  never a document or a worker, modules, stylesheet and JSON, one that allows nothing),
  X-Frame-Options, X-Content-Type-Options, Referrer-Policy, Permissions-Policy, HSTS on an
  https origin, and
  ``Cache-Control: no-store`` on every ``/api/`` response that sets none itself. A response that
  sets its own Content-Security-Policy (a printable page with its stylesheet inline) keeps it.
- **The app's own files** (everything outside ``/api/`` and ``/schema``) carry
  ``Cache-Control: no-cache``: a browser keeps them and asks again each time, and a request
  whose ``If-None-Match`` names the file's ETag is answered ``304 Not Modified`` without the
  body. Their names are not versioned (no build step), so nothing may be kept unasked; the
  installed app's service worker serves its shell offline and from its cache meanwhile.
- **Access log**: one line per request on ``wallet.access``: method, path (codes, tokens,
  card numbers and phone numbers replaced by ``…``; never the query string), status, duration,
  request id, client address.

Installed around Litestar's own handler (``install``), outside the router, so a 404 for an
unknown path passes it too (Litestar's middleware runs only for a matched route).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import time
import uuid
from base64 import b64encode
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from litestar.enums import ScopeType

from pwa import inline_script_sources
from wallet_api.logs import REQUEST_ID

if TYPE_CHECKING:
    from litestar import Litestar, Request
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from wallet_api.settings import Settings

access_log = logging.getLogger("wallet.access")

SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
CSP = "; ".join(
    (
        "default-src 'self'",
        # The app shell's inline scripts (index.html's early start, and the import map of the
        # shell's bundle: pwa.shell_page), by their hashes.
        " ".join(("script-src 'self'", *inline_script_sources())),
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        # The vendored QR decoder (qr-scanner) starts its worker from a blob: URL it makes.
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# WALLET_API_DOCS=1: Litestar's documentation pages load their scripts and styles from CDNs
# and start them with an inline script; /schema pages (only) allow that then.
DOCS_CDNS = "https://cdn.jsdelivr.net https://unpkg.com https://cdn.redoc.ly"
DOCS_CSP = "; ".join(
    (
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {DOCS_CDNS}",
        f"style-src 'self' 'unsafe-inline' {DOCS_CDNS} https://fonts.googleapis.com",
        f"img-src 'self' data: {DOCS_CDNS}",
        "font-src 'self' https://fonts.gstatic.com",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
# What is never a document or a worker (the app's modules and stylesheet, its language files,
# the API's JSON): no browser applies a policy of theirs, so they carry the shortest one, which
# allows nothing (stricter than CSP). Every response's headers travel whole (nginx's HTTP/2
# indexes none), and the full policy on each file cost a phone's first screen some 4 KB.
SUBRESOURCE_CSP = "default-src 'none'; frame-ancestors 'none'"
SUBRESOURCE_TYPES = (
    b"application/json",
    b"application/problem+json",
    b"application/manifest+json",
    b"text/css",
    b"text/javascript",
    b"application/javascript",
)
# Scripts a browser runs as workers, under the policy of their own response: the service worker
# (the QR decoder's worker is a blob: one, under the page's policy).
WORKER_SCRIPTS = ("/sw.js",)
HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=(), payment=()"),
)
HSTS = b"max-age=31536000; includeSubDomains"

# Path parameters whose values are secrets or personal data: never in a log line.
SECRET_PARAM = re.compile(r"code|token|phone|card|pin|secret|key|nonce", re.IGNORECASE)
# A path segment that looks like a phone number or a payment code (6 or more digits with only
# separators; a date or a month is neither), or a payment token; and everything after /join
# (an invite code).
NUMBER_LIKE = re.compile(r"\+?[\d ().-]+")
DATE_LIKE = re.compile(r"\d{4}-\d{2}(-\d{2})?")
TOKEN_LIKE = re.compile(r"hbp_.*")
REDACTED = "…"


def inline_style_policy(css: str) -> dict[str, str]:
    """Headers for a standalone page (a statement, a card to print) whose only style is one
    inline ``<style>`` with exactly ``css``: a CSP that allows that stylesheet by its hash
    and nothing else (no script at all)."""
    digest = b64encode(hashlib.sha256(css.encode()).digest()).decode()
    policy = (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {"Content-Security-Policy": policy}


class TrustedProxies:
    """Addresses and networks (``WALLET_TRUSTED_PROXIES``) whose forwarding headers count."""

    def __init__(self, spec: str | Iterable[str]) -> None:
        items = spec.split(",") if isinstance(spec, str) else list(spec)
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in (i.strip() for i in items):
            if not item:
                continue
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(
                    f"WALLET_TRUSTED_PROXIES: {item!r} is not an address or a network"
                ) from exc

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str) or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def resolve(
        self, peer: str | None, forwarded_for: list[str], forwarded_proto: list[str]
    ) -> tuple[str | None, str | None]:
        """(client address, scheme) for a request from ``peer`` with these header values; the
        scheme is None when it stays the connection's own."""
        if peer not in self:
            return peer, None
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        hops = [hop for hop in hops if hop]
        client = peer
        for hop in reversed(hops):
            client = hop
            if hop not in self:
                break
        # The scheme the nearest trusted proxy was asked with (the header's last value).
        protos = [p.strip().lower() for value in forwarded_proto for p in value.split(",")]
        scheme = protos[-1] if protos and protos[-1] in ("http", "https") else None
        return client, scheme


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address, resolved through trusted proxies: the key of every per-address
    limit and the address in access lines."""
    return request.client.host if request.client else "unknown"


def loggable_path(path: str, params: dict[str, Any] | None = None) -> str:
    """``path`` without the values a log must not hold: what follows /join, path parameters
    named like codes, tokens, cards or phones, and any segment that looks like a phone number
    or payment code."""
    if path == "/join" or path.startswith("/join/"):
        return "/join" + ("/" + REDACTED if len(path) > len("/join/") else "")
    secret = {str(v) for k, v in (params or {}).items() if SECRET_PARAM.search(k)}
    parts = []
    for segment in path.split("/"):
        plain = unquote(segment)
        if segment and (plain in secret or _looks_secret(plain)):
            parts.append(REDACTED)
        else:
            parts.append(segment)
    return "/".join(parts)


def _looks_secret(segment: str) -> bool:
    if TOKEN_LIKE.fullmatch(segment):
        return True
    digits = sum(ch.isdigit() for ch in segment)
    return bool(NUMBER_LIKE.fullmatch(segment)) and digits >= 6 and not DATE_LIKE.fullmatch(segment)


_BODY_HEADERS = (b"content-length", b"content-type", b"content-encoding")


def _is_app_file(path: str) -> bool:
    """The PWA's static files: not the API, its schema, health or metrics."""
    return not path.startswith(("/api/", "/schema", "/health", "/ready", "/metrics"))


def _etag_matches(if_none_match: str, headers: list[tuple[bytes, bytes]]) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` with the response's ETag."""
    etag = next((v.decode("latin-1") for k, v in headers if k.lower() == b"etag"), None)
    if etag is None:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


class Edge:
    """The ASGI wrapper around Litestar's handler (see the module's docstring)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.hsts = settings.origin.startswith("https://")
        self.api_docs = settings.api_docs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, []).append(value.decode("latin-1"))
        self._resolve_client(scope, headers)
        incoming = (headers.get(b"x-request-id") or [""])[0].strip()
        request_id = incoming if SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        path = scope["path"]
        started = time.perf_counter()
        status = 500

        # A revalidation of one of the app's files (see the module's docstring).
        revalidating = scope.get("method") in ("GET", "HEAD") and _is_app_file(path)
        if_none_match = (headers.get(b"if-none-match") or [""])[0] if revalidating else ""
        not_modified = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, not_modified
            if message["type"] == "http.response.start":
                status = message["status"]
                out = self._headers(path, message.get("headers") or [], request_id)
                if if_none_match and status == 200 and _etag_matches(if_none_match, out):
                    status, not_modified = 304, True
                    out = [(k, v) for k, v in out if k.lower() not in _BODY_HEADERS]
                    message = {"type": "http.response.start", "status": 304, "headers": out}
                else:
                    message["headers"] = out
            elif not_modified and message["type"] == "http.response.body":
                if message.get("more_body"):
                    return  # the body a 304 does not carry
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if scope["type"] == ScopeType.HTTP:
                self._log(scope, status, started)
            REQUEST_ID.reset(token)

    def _resolve_client(self, scope: Scope, headers: dict[bytes, list[str]]) -> None:
        peer = scope.get("client")
        host, scheme = self.proxies.resolve(
            peer[0] if peer else None,
            headers.get(b"x-forwarded-for", []),
            headers.get(b"x-forwarded-proto", []),
        )
        if peer and host is not None and host != peer[0]:
            scope["client"] = (host, 0)
        if scheme is not None:
            scope["scheme"] = (
                scheme if scope["type"] == ScopeType.HTTP else scheme.replace("http", "ws")
            )

    def _headers(
        self, path: str, raw: Iterable[tuple[bytes, bytes]], request_id: str
    ) -> list[tuple[bytes, bytes]]:
        out = [(k, v) for k, v in raw if k.lower() != b"x-request-id"]
        names = {k.lower() for k, _ in out}
        out.append((b"x-request-id", request_id.encode()))
        if b"content-security-policy" not in names:
            out.append((b"content-security-policy", self._policy(path, out).encode()))
        out += [(k, v) for k, v in HEADERS if k not in names]
        if self.hsts and b"strict-transport-security" not in names:
            out.append((b"strict-transport-security", HSTS))
        if b"cache-control" not in names:
            if path.startswith("/api/"):
                out.append((b"cache-control", b"no-store"))
            elif _is_app_file(path):
                out.append((b"cache-control", b"no-cache"))
        return out

    def _policy(self, path: str, headers: list[tuple[bytes, bytes]]) -> str:
        """The Content-Security-Policy for a response that sets none itself."""
        if self.api_docs and path.startswith("/schema"):
            return DOCS_CSP
        media = next((v for k, v in headers if k.lower() == b"content-type"), b"")
        media = media.split(b";", 1)[0].strip().lower()
        if media in SUBRESOURCE_TYPES and path not in WORKER_SCRIPTS:
            return SUBRESOURCE_CSP
        return CSP

    def _log(self, scope: Scope, status: int, started: float) -> None:
        client = scope.get("client")
        fields = {
            "method": scope.get("method", "-"),
            "path": loggable_path(scope["path"], scope.get("path_params")),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "client": client[0] if client else "unknown",
        }
        access_log.info(
            "%(method)s %(path)s %(status)s %(duration_ms)sms client=%(client)s",
            fields,
            extra=fields,
        )


def install(app: Litestar, settings: Settings) -> None:
    """Put the edge around Litestar's handler (exception handling and router included)."""
    app.asgi_handler = Edge(app.asgi_handler, settings)
