"""GET /api/events over a real loopback server: who sees what, resume, revocation, heartbeats."""

from __future__ import annotations

import asyncio

import httpx

from payments.outbox import CHARGE_CAPTURED
from tests.notifications.helpers import outbox, revoke, sse
from tests.support.money import by_wallet, charged, cleaning


async def test_each_role_sees_what_it_may_and_nothing_else(db, world, people, live):
    async with (
        sse(live, people.client) as client,
        sse(live, people.carer) as carer,
        sse(live, people.provider) as provider,
        sse(live, people.case_manager) as cm,
        sse(live, people.other_client) as other_client,
        sse(live, people.other_provider) as other_provider,
        sse(live, people.foreign_case_manager) as foreign_cm,
    ):
        charge_id = str(await charged(db, world, cleaning(1), customer=by_wallet(world)))
        (event_id,) = [i for i, t, _ in await outbox(db) if t == CHARGE_CAPTURED]
        for reader in (client, carer, cm):
            got = await reader.next()
            assert (got.id, got.event) == (event_id, CHARGE_CAPTURED)
            assert got.data["data"]["charge_id"] == charge_id
            assert list(got.data["data"]["balances"].values()) == [30_000 - 3500]
        got = await provider.next()
        assert got.id == event_id and got.data["data"]["total_cents"] == 3500
        assert "balances" not in got.data["data"]  # a provider never sees the client's budget
        assert got.data["wallet_id"] is None
        for reader in (other_client, other_provider, foreign_cm):
            assert await reader.nothing_within(0.6)
        # Heartbeats keep the stream alive (0.5 s in this test app, 15 s by default).
        assert "keep-alive" in other_client.comments


async def test_last_event_id_replays_what_was_missed_then_goes_live(db, world, people, live):
    for _ in range(3):
        await charged(db, world, cleaning(1), customer=by_wallet(world))
    await asyncio.sleep(0.3)  # delivered while nobody listened
    ids = [i for i, t, _ in await outbox(db) if t == CHARGE_CAPTURED]
    async with sse(live, people.client, last_event_id=ids[0]) as client:
        assert [(await client.next()).id for _ in range(2)] == ids[1:]
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        live_event = await client.next()
        assert live_event.id > ids[-1]
        assert await client.nothing_within(0.3)
    # Replay is authorized too: another client resuming from 0 gets nothing of this wallet.
    async with sse(live, people.other_client, last_event_id=0) as other:
        assert await other.nothing_within(0.5)


async def test_revoked_mandate_stops_the_flow(db, world, people, live):
    async with sse(live, people.carer) as carer:
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        assert (await carer.next()).event == CHARGE_CAPTURED
        await revoke(db, people.carer_id)
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        # The next event of that wallet is refused and the stream ends; the browser reconnects
        # and gets a stream without that wallet.
        assert await carer.ended(3.0)
    async with sse(live, people.carer, last_event_id=0) as carer:
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        assert await carer.nothing_within(0.6)


async def test_events_route_refuses_anonymous_and_bad_resume_ids(live, people):
    async with httpx.AsyncClient(base_url=live) as c:
        r = await c.get("/api/events")
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        r = await c.get(
            "/api/events",
            headers={"Authorization": f"Bearer {people.client}", "Last-Event-ID": "x"},
        )
        assert r.status_code == 400
        assert r.json()["type"] == "invalid-input"
