"""``wallet serve --server granian`` (``wallet_api.asgi:granian_app``, issue 16 item 1) for real:
granian's proxy-headers wrapper and the app agree that ``X-Forwarded-For`` names the client
only when the connection comes from a proxy in ``WALLET_TRUSTED_PROXIES``. The client the app
settled on is read from its JSON access line, found by the request id the test sent."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import WALLET, free_port


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(
            [WALLET, "serve", "--server", "granian", "--web-only", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=out,
        )


@pytest.fixture
def granian(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port, log = free_port(), tmp_path / "granian.log"
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'wallet.sqlite3'}",
        # As deploy/wallet.env.example has it: nginx on this host.
        "WALLET_TRUSTED_PROXIES": "127.0.0.1,::1",
        "WALLET_LOG_FORMAT": "json",
    }
    env.pop("WALLET_REDIS_URL", None)
    proc = _start(env, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base, log
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _client_seen(base: str, log: Path, source: str, forwarded_for: str | None) -> str:
    """Send one request from ``source`` (a loopback address) and return the client address
    of its access line."""
    request_id = uuid.uuid4().hex
    headers = {"X-Request-ID": request_id, "X-Forwarded-Proto": "https"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, base_url=base) as http:
        r = http.get("/health", headers=headers)
    assert r.status_code == 200 and r.headers["x-request-id"] == request_id
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if request_id in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("request_id") == request_id and "client" in entry:
                    return str(entry["client"])
        time.sleep(0.1)
    raise AssertionError(f"no access line for {request_id}:\n{log.read_text()}")


def test_forwarded_for_counts_only_from_a_trusted_hop(granian: tuple[str, Path]):
    base, log = granian
    # nginx on 127.0.0.1 appended the client it saw to what the client claimed: the nearest
    # untrusted hop, from the right, is the client.
    assert _client_seen(base, log, "127.0.0.1", "198.51.100.9, 203.0.113.7") == "203.0.113.7"
    assert _client_seen(base, log, "127.0.0.1", "203.0.113.8") == "203.0.113.8"
    assert _client_seen(base, log, "127.0.0.1", None) == "127.0.0.1"
    # A connection from anywhere else is the client itself, whatever it claims.
    assert _client_seen(base, log, "127.0.0.2", "203.0.113.7") == "127.0.0.2"
    assert _client_seen(base, log, "127.0.0.2", "127.0.0.1") == "127.0.0.2"
    assert "Traceback" not in log.read_text()
