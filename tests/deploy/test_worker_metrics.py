"""``wallet worker``'s own ``/metrics`` (``WALLET_WORKER_METRICS_PORT``, docs/deploy.md): the
pushes are counted in the process that sends them, which in a deployment is the worker, so the
worker serves them itself, under the web's token rule. And the worker logs as the web does
(``WALLET_LOG_FORMAT=json``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from notifications.push import generate_vapid_keys
from payments.db import Database
from tests.factories import api_key_for, seed_world
from tests.notifications.helpers import mark_all_delivered, push_settings, serve
from tests.notifications.push_service import SUBJECT, Device, PushService, b64e
from tests.servers import WALLET, free_port
from tests.support.money import by_wallet, charged, cleaning
from tests.wallet_api.test_metrics import value
from wallet_api.metrics import serve_worker_metrics
from wallet_api.worker import metrics_port_from_env

TOKEN = "worker-scrape-0123456789"


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    server = await serve_worker_metrics(0, TOKEN, None)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_the_token_rule_is_the_webs(endpoint: str):
    async with httpx.AsyncClient(base_url=endpoint) as http:
        r = await http.get("/metrics")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="metrics"'
        r = await http.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert r.status_code == 401
        r = await http.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        assert r.status_code == 401
        r = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain; version=")
        assert r.headers["cache-control"] == "no-store"
        assert 'wallet_pushes_total{result="sent"}' in r.text
        assert "wallet_outbox_lag_seconds" in r.text
        r = await http.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 404
        r = await http.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 405


async def test_without_a_token_configured_it_answers_404():
    server = await serve_worker_metrics(0, None, None)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient() as http:
            r = await http.get(
                f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer anything"}
            )
            assert r.status_code == 404
    finally:
        server.close()
        await server.wait_closed()


async def test_a_request_that_never_ends_its_head_gets_400(endpoint: str):
    host, port = endpoint.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /metrics HTTP/1.1\r\n" + b"X: " + b"a" * 20_000)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 15)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen([WALLET, "worker"], env=env, stdout=out, stderr=out)


def test_the_port_setting(monkeypatch):
    monkeypatch.setenv("WALLET_WORKER_METRICS_PORT", "9101")
    assert metrics_port_from_env() == 9101
    for off in ("", "0"):
        monkeypatch.setenv("WALLET_WORKER_METRICS_PORT", off)
        assert metrics_port_from_env() is None
    monkeypatch.delenv("WALLET_WORKER_METRICS_PORT")
    assert metrics_port_from_env() is None
    for bad in ("http", "70000", "-1"):
        monkeypatch.setenv("WALLET_WORKER_METRICS_PORT", bad)
        with pytest.raises(ValueError, match="WALLET_WORKER_METRICS_PORT"):
            metrics_port_from_env()


async def test_a_real_worker_counts_the_push_it_sent_on_its_own_port(db: Database, tmp_path: Path):
    """A web process without the dispatcher (as wallet-web@ runs) takes the subscription; the
    charge's push goes out from the worker, and only the worker's /metrics can count it."""
    world = await seed_world(db)
    await mark_all_delivered(db)
    vapid, device = generate_vapid_keys(), Device()
    push_service = PushService(device, vapid[1])
    web = push_settings(db.url, vapid, outbound_allow_loopback=True, dispatcher=False)
    port = free_port()
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": db.url.replace("postgresql+asyncpg://", "postgresql://"),
        "WALLET_VAPID_PRIVATE_KEY": vapid[0],
        "WALLET_VAPID_PUBLIC_KEY": vapid[1],
        "WALLET_VAPID_SUBJECT": SUBJECT,
        "WALLET_OUTBOUND_ALLOW_LOOPBACK": "1",
        "WALLET_METRICS_TOKEN": TOKEN,
        "WALLET_WORKER_METRICS_PORT": str(port),
        "WALLET_LOG_FORMAT": "json",
        "WALLET_SCHEDULER_INTERVAL": "3600",
    }
    env.pop("WALLET_REDIS_URL", None)
    proc = None
    try:
        async with serve(web, db=db) as base, httpx.AsyncClient(base_url=base) as http:
            h = {"Authorization": f"Bearer {await api_key_for(db, world.client_principal)}"}
            sub = {
                "endpoint": push_service.url + "/push/worker",
                "keys": {"p256dh": device.p256dh, "auth": b64e(device.auth)},
            }
            r = await http.post("/api/push/subscriptions", json=sub, headers=h)
            assert r.status_code == 201, r.text
        proc = _start_worker(env, log)
        scrape = f"http://127.0.0.1:{port}/metrics"
        async with httpx.AsyncClient() as http:

            async def sent() -> float | None:
                try:
                    r = await http.get(scrape, headers={"Authorization": f"Bearer {TOKEN}"})
                except httpx.TransportError:
                    return None  # not listening yet
                assert r.status_code == 200, r.text
                return value(r.text, "wallet_pushes_total", result="sent")

            deadline = time.monotonic() + 60
            while await sent() is None:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.2)
            assert await sent() == 0
            assert (await http.get(scrape)).status_code == 401
            await charged(db, world, cleaning(1), customer=by_wallet(world))
            while await sent() != 1:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"no push counted:\n{log.read_text()}"
                await asyncio.sleep(0.2)
        assert len(push_service.received) == 1 and push_service.errors == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()
    finally:
        push_service.close()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    messages = [line["message"] for line in lines]
    assert f"worker metrics on http://127.0.0.1:{port}/metrics" in messages
    assert "worker stopped" in messages
    assert all(line["request_id"] == "-" for line in lines)
