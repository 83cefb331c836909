"""Prometheus metrics (issue 16): /metrics only with the operator's bearer token; Litestar's
HTTP metrics and the domain's own (charges, declines, outbox lag, last runs, lookups)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import insert as sql_insert
from sqlalchemy import update

from payments.clock import utcnow
from payments.db import Database
from payments.models import OutboxEvent
from tests.factories import World
from tests.support.api import Keys
from tests.support.money import post_charge
from wallet_api.app import create_app
from wallet_api.settings import Settings

TOKEN = "scrape-me-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CLEANING = {
    "phone": "040 123 4567",
    "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
}


def _settings(db: Database, token: str | None) -> Settings:
    return Settings(
        database_url=db.url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
        # The outbox stays undelivered, so its lag can be measured.
        dispatcher=False,
        metrics_token=token,
    )


@pytest.fixture
async def client(db: Database, keys: Keys) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(app=create_app(_settings(db, TOKEN))) as c:
        yield c


def value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return 0.0


async def scrape(client: AsyncTestClient[Any]) -> str:
    r = await client.get("/metrics", headers=BEARER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


async def test_no_token_configured_is_404(db):
    async with AsyncTestClient(app=create_app(_settings(db, None))) as c:
        assert (await c.get("/metrics")).status_code == 404
        assert (await c.get("/metrics", headers=BEARER)).status_code == 404


async def test_missing_or_wrong_token_is_401(client, keys):
    assert (await client.get("/metrics")).status_code == 401
    r = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert "wallet_charges" not in r.text
    # An API key is not the metrics token, however mighty its holder.
    r = await client.get("/metrics", headers={"Authorization": f"Bearer {keys.case_manager}"})
    assert r.status_code == 401


async def test_metric_names(client):
    assert (await client.get("/api/charges")).status_code == 401  # counted, by its route
    text = await scrape(client)
    for name in (
        "wallet_requests_total",
        "wallet_request_duration_seconds",
        "wallet_charges_total",
        "wallet_charge_declines_total",
        "wallet_lookups_refused_total",
        "wallet_sse_streams_open",
        "wallet_pushes_total",
        "wallet_charge_batches_total",
        "wallet_charge_batch_charges_total",
        "wallet_charge_batch_retried_total",
        "wallet_charge_batch_seconds_total",
        "wallet_charge_batch_listings_total",
        "wallet_outbox_lag_seconds",
        "wallet_webhook_deliveries",
        "wallet_sms_sent_total",
        "wallet_last_funding_run_timestamp_seconds",
        "wallet_last_settlement_run_timestamp_seconds",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


async def test_a_charge_and_a_decline_are_counted(client, keys: Keys):
    before = await scrape(client)
    started = time.perf_counter()
    r = await post_charge(client, keys.provider, CLEANING)
    assert r.status_code == 201, r.text
    too_much = {**CLEANING, "lines": [{**CLEANING["lines"][0], "quantity": "100"}]}
    r = await post_charge(client, keys.provider, too_much)
    assert r.status_code in (409, 422), r.text
    elapsed = time.perf_counter() - started
    slug = r.json()["type"].rsplit("/", 1)[-1]
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("wallet_charges_total", outcome="captured") == 1
    assert delta("wallet_charges_total", outcome="declined") == 1
    # Both went through the charge pipeline, each in a transaction of its own.
    assert delta("wallet_charge_batches_total") == 2
    assert delta("wallet_charge_batch_charges_total") == 2
    # Their transactions' time: more than nothing, less than the two requests took.
    assert 0 < delta("wallet_charge_batch_seconds_total") < elapsed
    # Each batch took its providers' listings from somewhere: kept, read, or read again.
    sources = ("kept", "read", "read_again")
    assert sum(delta("wallet_charge_batch_listings_total", source=x) for x in sources) == 2
    assert delta("wallet_charge_declines_total", type=slug) == 1
    # Litestar's HTTP metrics, by route template.
    for status in ("201", str(r.status_code)):
        sample = {"path": "/api/charges", "method": "POST", "status_code": status}
        assert value(after, "wallet_requests_total", **sample) >= 1


async def test_outbox_lag_and_last_funding(client, db, world: World):
    # seed_world funded the month: its events wait (no dispatcher here); make them 10 min old.
    async with db.engine.begin() as conn:
        await conn.execute(
            update(OutboxEvent)
            .where(OutboxEvent.delivered_at.is_(None))
            .values(created_at=utcnow() - timedelta(minutes=10))
        )
    text = await scrape(client)
    assert 600 <= value(text, "wallet_outbox_lag_seconds") < 700
    funded = value(text, "wallet_last_funding_run_timestamp_seconds")
    assert abs(funded - utcnow().timestamp()) < 600
    assert value(text, "wallet_last_settlement_run_timestamp_seconds") == 0

    async with db.engine.begin() as conn:
        await conn.execute(update(OutboxEvent).values(delivered_at=utcnow()))
    assert value(await scrape(client), "wallet_outbox_lag_seconds") == 0


async def test_a_refused_lookup_is_counted(client, keys: Keys):
    from payments.checkout import lookups
    from tests.checkout.helpers import CLEANING_2H, post

    before = await scrape(client)
    wrong = {"code": "00000000", "lines": CLEANING_2H}
    limit = lookups.LIMITS[lookups.LookupKind.CODE].per_provider
    for _ in range(limit):
        r = await post(client, "/api/checkout/token", keys.provider, wrong)
        assert r.status_code == 422, r.text
    r = await post(client, "/api/checkout/token", keys.provider, wrong)
    assert r.status_code == 429, r.text
    after = await scrape(client)
    refused = value(after, "wallet_lookups_refused_total", kind="code") - value(
        before, "wallet_lookups_refused_total", kind="code"
    )
    assert refused == 1
    # The wrong codes were declined charges by type; the refused lookup was not a charge.
    declines = value(after, "wallet_charge_declines_total", type="token-invalid") - value(
        before, "wallet_charge_declines_total", type="token-invalid"
    )
    assert declines == limit


async def test_open_streams_are_counted(db, keys: Keys):
    import asyncio

    import httpx

    from tests.notifications.helpers import serve, settings_for, sse

    async with serve(settings_for(db.url, metrics_token=TOKEN)) as base:
        async with httpx.AsyncClient(base_url=base, headers=BEARER) as scraper:

            async def open_streams() -> float:
                r = await scraper.get("/metrics")
                assert r.status_code == 200, r.text
                return value(r.text, "wallet_sse_streams_open")

            before = await open_streams()
            async with sse(base, keys.client), sse(base, keys.provider):
                assert await open_streams() == before + 2
            for _ in range(100):  # the server notices the disconnect on its next send
                if await open_streams() == before:
                    break
                await asyncio.sleep(0.05)
            assert await open_streams() == before


async def test_webhook_deliveries_waiting_and_failed(client, db, world: World):
    from sqlalchemy import update as sql_update

    from notifications import webhooks
    from notifications.models import WebhookDelivery
    from notifications.outbound import OutboundPolicy

    made, _ = await webhooks.create_endpoint(
        db,
        organizer_id=world.organizer_id,
        actor_id=None,
        url="https://hooks.example.com/m",
        event_types=["charge.captured"],
        policy=OutboundPolicy(),
    )
    pings = [
        await webhooks.ping(db, organizer_id=world.organizer_id, actor_id=None, endpoint_id=made.id)
        for _ in range(3)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(
            sql_update(WebhookDelivery)
            .where(WebhookDelivery.id == pings[0].id)
            .values(status="failed")
        )
    text = await scrape(client)
    assert value(text, "wallet_webhook_deliveries", status="pending") == 2
    assert value(text, "wallet_webhook_deliveries", status="failed") == 1


async def test_sms_use_of_the_monthly_cap(client, db, world: World):
    from notifications import sms
    from notifications.models import SmsUsage
    from payments.ledger.periods import current_period

    await sms.set_cap(db, organizer_id=world.organizer_id, monthly_cap=40)
    async with db.engine.begin() as conn:
        await conn.execute(
            sql_insert(SmsUsage).values(
                organizer_id=world.organizer_id, period=current_period(), sent=10, refused=3
            )
        )
    text = await scrape(client)
    org = str(world.organizer_id)
    assert value(text, "wallet_sms_cap_used_ratio", organizer=org) == 0.25
    assert value(text, "wallet_sms_month_texts", organizer=org, result="refused") == 3
