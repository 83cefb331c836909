"""The outbound-URL policy on its own (``notifications.outbound``): what the development
setting opens and what it does not, and that both its clients (``OutboundClient``, aiohttp,
what Web Push sends with; and the ``requests`` session) keep the policy when they send
(user-info, redirects, names resolving inside, environment proxies, deadlines). Real sockets on
loopback; no database."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
import requests

from notifications.outbound import OutboundClient, OutboundPolicy, UrlNotAllowed

PRODUCTION = OutboundPolicy()
DEVELOPMENT = OutboundPolicy(allow_loopback=True)


class Listener:
    """A loopback HTTP server that counts connections and answers every request with
    ``status`` (and ``location``, for redirects)."""

    def __init__(
        self, status: int = 201, location: str | None = None, *, keep_alive: bool = False
    ) -> None:
        self.connections = 0
        self.requests: list[str] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps the connection open for the next request (every answer has a
            # Content-Length); HTTP/1.0 closes it after each.
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def _answer(self) -> None:
                listener.requests.append(f"{self.command} {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_CONNECT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def get_request(self) -> tuple[socket.socket, Any]:
                conn = super().get_request()
                listener.connections += 1
                return conn

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def test_development_setting_opens_loopback_only() -> None:
    for url in ("http://127.0.0.1:8000/push", "http://localhost:8000/push", "http://[::1]:1/p"):
        with pytest.raises(UrlNotAllowed):
            PRODUCTION.check_url(url)
        DEVELOPMENT.check_url(url)
    for url in (
        "http://push.example.com/push",  # plain http stays loopback-only
        "http://10.0.0.1/push",
        "https://10.0.0.1/push",
        "https://169.254.169.254/latest/meta-data/",
        "https://[fd00:ec2::254]/",
        "http://127.0.0.1@push.example.com/push",
    ):
        with pytest.raises(UrlNotAllowed):
            DEVELOPMENT.check_url(url)


def test_session_checks_the_url_again_before_any_connection(listener: Listener) -> None:
    """A stored URL the policy refuses (user-info, http) is refused by the session itself."""
    with DEVELOPMENT.session() as http, pytest.raises(UrlNotAllowed):
        http.post(f"http://x@127.0.0.1:{listener.port}/push", data=b"x", timeout=5)
    with PRODUCTION.session() as http, pytest.raises(UrlNotAllowed):
        http.post(f"{listener.url}/push", data=b"x", timeout=5)
    assert listener.connections == 0


def test_session_does_not_follow_redirects(listener: Listener) -> None:
    redirecting = Listener(status=307, location=f"{listener.url}/moved")
    try:
        with DEVELOPMENT.session() as http:
            r = http.post(f"{redirecting.url}/push", data=b"x", timeout=5)
            assert r.status_code == 307
            r = http.get(f"{redirecting.url}/push", timeout=5)
            assert r.status_code == 307
        assert redirecting.requests == ["POST /push", "GET /push"]
        assert listener.connections == 0
    finally:
        redirecting.close()


def test_session_resolves_at_connect_time_and_connects_to_the_checked_address(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every lookup of the name is counted: the session resolves it once per connection,
    checks that answer, and connects to that address (no second lookup for a rebinding DNS
    server to answer differently). A name that resolves inside is refused, unconnected."""
    real = socket.getaddrinfo
    lookups: list[str] = []
    answers = {"inside.push.example.com": "127.0.0.1", "mixed.push.example.com": None}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in answers:
            lookups.append(name)
            if answers[name] is None:  # one public, one loopback answer
                return [*real("8.8.8.8", port, *args, **kwargs), *real("127.0.0.1", port)]
            return real(answers[name], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    for name in answers:
        with PRODUCTION.session() as http, pytest.raises(UrlNotAllowed) as refused:
            http.post(f"https://{name}:{listener.port}/push", data=b"x", timeout=5)
        assert "127.0.0.1" in str(refused.value)
    assert listener.connections == 0
    # With loopback allowed the same name connects, after exactly one lookup.
    lookups.clear()
    with DEVELOPMENT.session() as http:
        # A TLS hello to a plain-HTTP listener: the handshake fails once connected.
        with pytest.raises(requests.exceptions.SSLError):
            http.post(f"https://inside.push.example.com:{listener.port}/push", timeout=5)
    assert lookups == ["inside.push.example.com"]
    assert listener.connections == 1


def test_session_ignores_proxies_from_the_environment(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy from the environment would make the check see only the proxy."""
    target = Listener()
    try:
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(var, listener.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with DEVELOPMENT.session() as http:
            assert http.post(f"{target.url}/push", data=b"x", timeout=5).status_code == 201
        assert target.requests == ["POST /push"]
        assert listener.connections == 0
    finally:
        target.close()


# --- the aiohttp client (what Web Push sends with) ---------------------------------------


@pytest.fixture
async def production() -> AsyncIterator[OutboundClient]:
    client = OutboundClient(PRODUCTION)
    yield client
    await client.close()


@pytest.fixture
async def development() -> AsyncIterator[OutboundClient]:
    client = OutboundClient(DEVELOPMENT)
    yield client
    await client.close()


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stand-in DNS answers for a few public-looking names (every lookup of them counted);
    other names resolve as usual."""
    real = socket.getaddrinfo
    lookups: list[str] = []
    answers: dict[str, list[str]] = {
        "inside.push.example.com": ["127.0.0.1"],
        "private.push.example.com": ["10.1.2.3"],
        "metadata.push.example.com": ["169.254.169.254"],
        "mixed.push.example.com": ["8.8.8.8", "127.0.0.1"],
    }

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in answers:
            lookups.append(name)
            return [
                info
                for ip in answers[name]
                for info in real(ip, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


async def test_client_checks_the_url_again_before_any_connection(
    listener: Listener, production: OutboundClient, development: OutboundClient
) -> None:
    """User-info, plain http outside loopback, private and metadata literals: refused by the
    client itself, also with the development setting (aiohttp never asks a resolver about an
    IP literal, so this check is what stands in front of those)."""
    for url in (
        f"http://x@127.0.0.1:{listener.port}/push",
        f"http://10.0.0.1:{listener.port}/push",
        f"https://10.0.0.1:{listener.port}/push",
        f"https://[::ffff:10.0.0.1]:{listener.port}/push",
        "https://169.254.169.254/latest/meta-data/",
    ):
        with pytest.raises(UrlNotAllowed):
            await development.post(url, data=b"x")
    with pytest.raises(UrlNotAllowed):
        await production.post(f"{listener.url}/push", data=b"x")
    assert listener.connections == 0


async def test_client_refuses_names_resolving_inside_and_connects_to_the_checked_address(
    listener: Listener,
    production: OutboundClient,
    development: OutboundClient,
    dns: list[str],
) -> None:
    """A name is resolved when a connection is opened and every answer is checked: loopback
    is refused in production, private and metadata answers always, and a mixed answer as a
    whole. Nothing connects. With loopback allowed, the loopback name connects after exactly
    one lookup (to the checked address: a TLS hello the plain listener cannot answer)."""
    for name in ("inside", "mixed"):
        with pytest.raises(UrlNotAllowed) as refused:
            await production.post(f"https://{name}.push.example.com:{listener.port}/p", data=b"x")
        assert "127.0.0.1" in str(refused.value)
    for name, address in (("private", "10.1.2.3"), ("metadata", "169.254.169.254")):
        with pytest.raises(UrlNotAllowed) as refused:
            await development.post(f"https://{name}.push.example.com:{listener.port}/p")
        assert address in str(refused.value)
    assert listener.connections == 0
    dns.clear()
    with pytest.raises(aiohttp.ClientError):
        await development.post(f"https://inside.push.example.com:{listener.port}/p", data=b"x")
    assert dns == ["inside.push.example.com"]
    assert listener.connections == 1


async def test_client_does_not_follow_redirects(
    listener: Listener, development: OutboundClient
) -> None:
    redirecting = Listener(status=307, location=f"{listener.url}/moved")
    try:
        r = await development.post(f"{redirecting.url}/push", data=b"x", allow_redirects=True)
        assert r.status == 307
        r.release()
        assert redirecting.requests == ["POST /push"]
        assert listener.connections == 0
    finally:
        redirecting.close()


async def test_client_ignores_proxies_from_the_environment(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = Listener()
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, listener.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = OutboundClient(DEVELOPMENT)  # made after the variables are set
    try:
        r = await client.post(f"{target.url}/push", data=b"x", proxy=listener.url)
        assert r.status == 201
        r.release()
        assert target.requests == ["POST /push"]
        assert listener.connections == 0
    finally:
        await client.close()
        target.close()


async def test_client_reuses_one_connection_for_requests_to_one_service(
    development: OutboundClient,
) -> None:
    """The point of one shared session: the second push to a service that keeps connections
    open goes over the first push's connection."""
    service = Listener(keep_alive=True)
    try:
        for _ in range(3):
            r = await development.post(f"{service.url}/push", data=b"x")
            assert r.status == 201
            await r.read()
        assert service.requests == ["POST /push"] * 3
        assert service.connections == 1
    finally:
        service.close()


async def test_client_gives_up_at_its_deadline_whatever_the_caller_asks() -> None:
    """A push service that accepts the connection and never answers: the request ends at the
    client's deadline, even when the caller passes no timeout (pywebpush passes None)."""
    silent = socket.create_server(("127.0.0.1", 0))  # the kernel accepts; nobody answers
    client = OutboundClient(DEVELOPMENT, timeout_s=0.5)
    try:
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await client.post(f"http://127.0.0.1:{port}/push", data=b"x", timeout=None)
        assert time.monotonic() - started < 3
    finally:
        await client.close()
        silent.close()
