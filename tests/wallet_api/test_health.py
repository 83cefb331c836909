"""Liveness and readiness (issue 16): /health touches nothing, /ready checks the database,
the migrations and Redis, public and unlimited, with nothing secret in the body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from payments.db import Database
from wallet_api.app import create_app
from wallet_api.migrate import schema_state
from wallet_api.settings import Settings


def _settings(db: Database, **extra: Any) -> Settings:
    return Settings(
        database_url=db.url,
        redis_url=extra.pop("redis_url", None),
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
        **extra,
    )


@pytest.fixture
async def client(db: Database) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(_settings(db))) as c:
        yield c


async def test_health_is_liveness(client):
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_ready_reports_each_check(client):
    r = await client.get("/ready")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "redis": "not-configured"},
    }
    assert r.headers["cache-control"] == "no-store"


async def test_ready_is_not_rate_limited_nor_signed_in(db):
    settings = _settings(db, rate_anonymous=2)
    async with AsyncTestClient(app=create_app(settings)) as c:
        for _ in range(5):
            assert (await c.get("/ready")).status_code == 200
            assert (await c.get("/health")).status_code == 200


async def test_ready_is_503_when_the_schema_is_behind(client, db):
    current, head = await schema_state(db)
    assert current == head
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        r = await client.get("/ready")
        assert r.status_code == 503, r.text
        assert r.json()["status"] == "unavailable"
        assert r.json()["checks"]["migrations"] == "behind"
        assert r.json()["checks"]["database"] == "ok"
        # Liveness does not care.
        assert (await client.get("/health")).status_code == 200
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


async def test_ready_is_503_when_redis_does_not_answer(db):
    # Nothing listens on port 1: the channels start lazily, the ping fails.
    settings = _settings(db, redis_url="redis://127.0.0.1:1/0")
    async with AsyncTestClient(app=create_app(settings)) as c:
        r = await c.get("/ready")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["checks"]["redis"] == "failed"
    assert "127.0.0.1" not in r.text and "redis://" not in r.text  # no addresses, no secrets


@pytest.mark.redis
async def test_ready_with_redis(db):
    import os

    import redis

    url = os.environ.get("WALLET_TEST_REDIS", "redis://127.0.0.1:6379") + "/3"
    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError:
        from tests.support.databases import need

        need("Redis is not reachable")
    async with AsyncTestClient(app=create_app(_settings(db, redis_url=url))) as c:
        r = await c.get("/ready")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["redis"] == "ok"
