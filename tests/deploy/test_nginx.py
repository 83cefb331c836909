"""deploy/nginx/wallet.conf under a real nginx, in front of two real ``wallet serve``
processes on PostgreSQL and Redis (issue 16).

The site file is used as shipped, with only its host-specific parts rewritten (listen ports,
host name, certificate paths, upstream ports); each rewrite must match exactly as often as
expected, so the file cannot drift away from what this test checks. nginx runs as a child of
the test, not as a daemon, with its own configuration, pid, logs and temporary files in a
temporary directory, on free loopback ports; the system's nginx service is never touched.

Which process answers: the site is rendered three times. "full" is the file as shipped (both
processes in the upstream). "a" and "b" are the same server blocks with the upstream narrowed
to one process each. The web processes run as `serve --web-only` does (no scheduler, no
dispatcher) and one `wallet worker` delivers the outbox, as deploy/systemd runs them. A charge
goes in through "a" (process A) and the client's live-event stream is held through "b"
(process B): the event is delivered by the worker and can only reach B through Redis, and both
legs pass nginx's real locations (the SSE one unbuffered).

The app's security headers arrive through nginx on a page and on the API, and public routes are
limited per forwarded client (nginx is the trusted hop, WALLET_TRUSTED_PROXIES=127.0.0.1: the
test's two "clients" both connect from loopback, so each names itself in X-Forwarded-For, which
nginx extends with the address it saw). /ready answers 200 through nginx (database,
migrations and Redis), and /metrics answers with its token (the site lets only loopback reach
it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import re
import shutil
import signal
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from payments.db import Database
from tests.factories import api_key_for, seed_world
from tests.notifications.helpers import SSEReader, mark_all_delivered
from tests.servers import WALLET, Server, free_port
from tests.support.databases import need
from tests.support.money import post_charge

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "wallet.conf"
REDIS = os.environ.get("WALLET_TEST_REDIS", "redis://127.0.0.1:6379")
CLEANING = {
    "phone": "040 123 4567",
    "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
}


@pytest.fixture
def engine_name() -> str:
    return "postgres"  # two processes share one database


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS, socket_timeout=2).ping()
    except redis.RedisError:
        need(f"Redis is not reachable at {REDIS}")
    return f"{REDIS}/{1 + uuid.uuid4().int % 15}"


@pytest.fixture
def nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        need("nginx is not installed (apt-get install nginx; .ci/services does it)")
    assert found is not None
    return found


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:  # pragma: no cover - cryptography is a dependency of py_webauthn
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key),
             "-out", str(cert), "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True,
        )  # fmt: skip
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


def _sub(pattern: str, repl: str, text: str, times: int) -> str:
    new, n = re.subn(pattern, repl, text, flags=re.MULTILINE)
    assert n == times, f"deploy/nginx/wallet.conf: {pattern!r} matched {n} times, not {times}"
    return new


def render(
    site: str, *, name: str, http: int, https: int, upstreams: list[int], cert: Path, key: Path
) -> str:
    """The shipped site with this host's ports, name and certificate; upstream ``name``."""
    text = _sub(r"^\s*listen \[::\]:\d+.*;\n", "", site, 2)  # loopback IPv4 only here
    text = _sub(r"listen 80;", f"listen 127.0.0.1:{http};", text, 1)
    text = _sub(r"listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;", text, 1)
    text = _sub(r"server_name wallet\.example\.fi;", "server_name localhost 127.0.0.1;", text, 2)
    text = _sub(r"ssl_certificate /etc/\S+;", f"ssl_certificate {cert};", text, 1)
    text = _sub(r"ssl_certificate_key /etc/\S+;", f"ssl_certificate_key {key};", text, 1)
    servers = "".join(
        f"    server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;\n" for p in upstreams
    )
    text = _sub(r"(?:^    server 127\.0\.0\.1:800\d .*;\n)+", servers, text, 1)
    return _sub(r"\bwallet_web\b", name, text, 5)


def nginx_conf(tmp: Path, sites: list[Path]) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers may read the tmp dir
    includes = "".join(f"    include {s};\n" for s in sites)
    return (
        f"{user}worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;\n"
        "daemon off;\nevents { worker_connections 256; }\nhttp {\n"
        f"    access_log {tmp}/access.log;\n"
        + "".join(
            f"    {kind}_temp_path {tmp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + includes
        + "}\n"
    )


@contextlib.contextmanager
def running_nginx(binary: str, tmp: Path, conf: Path) -> Iterator[subprocess.Popen[bytes]]:
    args = [binary, "-p", str(tmp), "-e", str(tmp / "error.log"), "-c", str(conf)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)  # fast shutdown of master and workers
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _until_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited; see {log}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("nginx did not listen")


@contextlib.asynccontextmanager
async def stream_through(base: str, key: str, tls: ssl.SSLContext) -> AsyncIterator[SSEReader]:
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    async with (
        httpx.AsyncClient(base_url=base, verify=tls, timeout=httpx.Timeout(30, read=None)) as c,
        c.stream("GET", "/api/events", headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-accel-buffering"] == "no"
        assert response.headers["strict-transport-security"].startswith("max-age=")
        reader = SSEReader(c, response)
        await asyncio.wait_for(reader.connected.wait(), 10)
        try:
            yield reader
        finally:
            await reader.close()


async def test_nginx_in_front_of_two_processes(
    db: Database, redis_url: str, nginx: str, tmp_path: Path
) -> None:
    world = await seed_world(db)
    await mark_all_delivered(db)
    provider = await api_key_for(db, world.provider_principal)
    client = await api_key_for(db, world.client_principal)

    ports = {n: (free_port(), free_port()) for n in ("full", "a", "b")}
    env = {
        # The site's address as a browser has it, on a port that is not 443.
        "WALLET_ORIGIN": f"https://127.0.0.1:{ports['full'][1]}",
        "WALLET_RP_ID": "127.0.0.1",
        "WALLET_REDIS_URL": redis_url,
        "WALLET_SSE_HEARTBEAT": "1",
        # nginx connects from loopback: the one trusted hop, as deploy/wallet.env.example has.
        "WALLET_TRUSTED_PROXIES": "127.0.0.1",
        # Low, so a few public requests reach the per-address limit.
        "WALLET_RATE_ANONYMOUS": "3",
        "WALLET_METRICS_TOKEN": "metrics-token-of-the-test",
    }
    # As deploy/systemd runs them: web processes that only answer (what `serve --web-only`
    # sets), and one `wallet worker` that funds and delivers the outbox, events included.
    web_only = {**env, "WALLET_SCHEDULER": "0", "WALLET_DISPATCHER": "0"}
    a, b = Server(db.url, web_only), Server(db.url, web_only)
    worker_log = (tmp_path / "worker.log").open("w")
    worker_env = {**a.env, **env}
    worker_env.pop("WALLET_SCHEDULER", None)
    cert, key = self_signed(tmp_path)
    upstreams = {"full": [a.port, b.port], "a": [a.port], "b": [b.port]}
    site = SITE.read_text()
    sites = []
    for n, (http, https) in ports.items():
        path = tmp_path / f"{n}.conf"
        path.write_text(
            render(site, name=f"wallet_{n}", http=http, https=https,
                   upstreams=upstreams[n], cert=cert, key=key)
        )  # fmt: skip
        sites.append(path)
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(tmp_path, sites))

    checked = subprocess.run(  # noqa: ASYNC221 (nothing else runs yet)
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(conf)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr

    tls = ssl.create_default_context(cafile=str(cert))
    worker: subprocess.Popen[bytes] | None = None
    try:
        a.start()
        b.start()
        await asyncio.gather(a.ready(), b.ready())
        worker = subprocess.Popen(  # noqa: ASYNC220
            [WALLET, "worker"], env=worker_env, stdout=worker_log, stderr=subprocess.STDOUT
        )
        with running_nginx(nginx, tmp_path, conf) as proc:
            for _, https in ports.values():
                await _until_listening(proc, https, tmp_path / "error.log")
            full, via_a, via_b = (f"https://127.0.0.1:{ports[n][1]}" for n in ("full", "a", "b"))

            # Plain HTTP answers only with a redirect to HTTPS.
            async with httpx.AsyncClient() as plain:
                r = await plain.get(f"http://127.0.0.1:{ports['full'][0]}/api/wallets?x=1")
            assert r.status_code == 301
            assert r.headers["location"] == "https://127.0.0.1/api/wallets?x=1"

            async with httpx.AsyncClient(base_url=full, verify=tls) as https:
                r = await https.get("/health")
                assert r.status_code == 200, r.text
                assert r.headers["strict-transport-security"].startswith("max-age=")
                assert "server" not in r.headers or r.headers["server"] == "nginx"
                # nginx stops a body far above the app's own limit before any process.
                r = await https.post("/api/charges", content=b"x" * (2 * 1024 * 1024))
                assert r.status_code == 413

                r = await https.get("/ready")
                assert r.status_code == 200, r.text
                assert r.json()["checks"] == {
                    "database": "ok",
                    "migrations": "ok",
                    "redis": "ok",
                }
                r = await https.get(
                    "/metrics", headers={"Authorization": "Bearer metrics-token-of-the-test"}
                )
                assert r.status_code == 200 and "wallet_outbox_lag_seconds" in r.text

                # The page at the origin, its port included, is served there: nginx passes
                # the host with its port (a port other than 443 used to move it to itself
                # again, without end). The same page on another site's port moves to it.
                r = await https.get("/", follow_redirects=False)
                assert r.status_code == 200 and 'type="importmap"' in r.text, r.status_code
                async with httpx.AsyncClient(base_url=via_a, verify=tls) as other:
                    moved = await other.get("/", follow_redirects=False)
                assert moved.status_code == 307, moved.status_code
                assert moved.headers["location"] == f"{full}/"

                # The app's own security headers pass through nginx, on pages and the API.
                for path in ("/", "/api/me"):
                    r = await https.get(path)
                    assert r.status_code in (200, 401), (path, r.status_code)
                    csp = r.headers["content-security-policy"]
                    # A page gets the whole policy; the API's JSON the one that allows nothing.
                    page = r.headers["content-type"].startswith("text/html")
                    default = "'self'" if page else "'none'"
                    assert f"default-src {default}" in csp and "frame-ancestors 'none'" in csp
                    assert r.headers["x-content-type-options"] == "nosniff"
                    assert r.headers["x-frame-options"] == "DENY"
                    assert r.headers["referrer-policy"]
                    assert "camera=(self)" in r.headers["permissions-policy"]
                    assert r.headers["x-request-id"]
                assert r.headers["cache-control"] == "no-store"  # /api/me

                # Public routes are limited per client, and nginx's X-Forwarded-For names the
                # client: one client's fourth request is refused, another's still answered.
                async def county(client_address: str) -> int:
                    r = await https.get(
                        "/api/providers/apply/county",
                        params={"organizer": "nowhere"},
                        headers={"X-Forwarded-For": client_address},
                    )
                    return r.status_code

                first = [await county("203.0.113.7") for _ in range(4)]
                assert first[:3] == [404, 404, 404] and first[3] == 429, first
                assert await county("198.51.100.9") == 404

            # The client's stream is held by process B; the charge is made on process A.
            async with stream_through(via_b, client, tls) as stream:
                async with httpx.AsyncClient(base_url=via_a, verify=tls) as https:
                    r = await post_charge(https, provider, CLEANING)
                assert r.status_code == 201, r.text
                assert r.headers["strict-transport-security"].startswith("max-age=")
                event = await stream.next(15)
                assert event.data["data"]["charge_id"] == r.json()["id"]
    finally:
        if worker is not None:
            worker.terminate()
            assert worker.wait(timeout=20) == 0, (tmp_path / "worker.log").read_text()
        worker_log.close()
        a.stop()
        b.stop()
    assert not a.tracebacks() and not b.tracebacks(), a.tracebacks() + b.tracebacks()
