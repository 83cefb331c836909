"""Two real ``wallet serve`` processes on one PostgreSQL: a provider suspended through one is
refused at its very next charge through the other, although that other keeps the provider's
listings in its memory (payments.marketplace.listings_cache); reinstated, it charges again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from payments.db import Database
from tests.factories import api_key_for, seed_world
from tests.servers import Server
from tests.wallet_api.test_metrics import value

TOKEN = "listings-metrics-token"  # this test's own metrics token


@pytest.fixture
def engine_name() -> str:
    return "postgres"  # two server processes and the test share one database


@pytest.fixture
def servers(db: Database) -> Iterator[tuple[Server, Server]]:
    pair = (
        Server(db.url, {"WALLET_METRICS_TOKEN": TOKEN}),
        Server(db.url, {"WALLET_METRICS_TOKEN": TOKEN}),
    )
    yield pair
    for s in pair:
        s.stop()


async def test_a_suspension_through_one_process_holds_at_once_in_the_other(
    db: Database, servers: tuple[Server, Server]
):
    w = await seed_world(db)
    provider_key = await api_key_for(db, w.provider_principal)
    case_manager_key = await api_key_for(db, w.case_manager)
    charging, deciding = servers
    for s in servers:
        s.start()
    await asyncio.gather(*(s.ready() for s in servers))

    body = {
        "phone": w.phone,
        "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
    }

    async def charge(c: httpx.AsyncClient) -> httpx.Response:
        return await c.post(
            "/api/charges",
            json=body,
            headers={
                "Authorization": f"Bearer {provider_key}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )

    async def decide(c: httpx.AsyncClient, what: str) -> None:
        r = await c.post(
            f"/api/providers/{w.provider_id}/{what}",
            json={"reason": "test"},
            headers={"Authorization": f"Bearer {case_manager_key}"},
        )
        assert r.status_code == 200, r.text

    async with (
        httpx.AsyncClient(base_url=charging.base, timeout=30) as a,
        httpx.AsyncClient(base_url=deciding.base, timeout=30) as b,
    ):
        for _ in range(2):
            r = await charge(a)
            assert r.status_code == 201, r.text
        metrics = (await a.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text
        kept = value(metrics, "wallet_charge_batch_listings_total", source="kept")
        assert kept >= 1, "the charging process never used its copy: this test proves nothing"

        await decide(b, "suspend")
        r = await charge(a)
        assert r.status_code == 403, r.text
        assert r.json()["type"] == "provider-not-approved", r.text

        await decide(b, "reinstate")
        r = await charge(a)
        assert r.status_code == 201, r.text
    for s in servers:
        assert s.tracebacks() == ""
