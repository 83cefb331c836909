"""Closing a client's account through the HTTP API (issue 19, item 3): problem+json refusals in
the caller's language that write nothing, the Idempotency-Key, the client's own key refused
after the close, and the client file and list saying the account is closed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import update

from payments.clock import utcnow
from payments.db import Database
from payments.ledger.periods import HELSINKI
from payments.models import Decision
from payments.uow import UnitOfWork
from tests.factories import World, row_counts
from tests.support.api import Keys


def _auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


async def _end_decisions(db: Database, w: World) -> None:
    today = utcnow().astimezone(HELSINKI).date()
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Decision)
            .where(Decision.client_id == w.client_id)
            .values(valid_from=today - timedelta(days=60), valid_to=today - timedelta(days=1))
        )
        await uow.commit()


async def test_close_through_the_api(
    db: Database, client: AsyncTestClient[Any], world: World, keys: Keys
) -> None:
    url = f"/api/clients/{world.client_id}/close"
    cm = keys.case_manager

    before = await row_counts(db)
    refused = await client.post(
        url, json={}, headers=_auth(cm, **{"Idempotency-Key": "c1", "Accept-Language": "fi"})
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("decision-in-force")
    assert await row_counts(db) == before

    await _end_decisions(db, world)
    no_key = await client.post(url, json={}, headers=_auth(cm))
    assert no_key.status_code == 400
    assert await row_counts(db) == before

    # The client can still see its wallet before the close.
    wallet = f"/api/wallets/{world.wallet_id}"
    assert (await client.get(wallet, headers=_auth(keys.client))).status_code == 200

    closed = await client.post(url, json={}, headers=_auth(cm, **{"Idempotency-Key": "c1"}))
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert body["expired_cents"] == 30_000 and body["trusted_providers"] == 2
    assert body["api_keys"] == 1 and body["mandates"] == 3

    again = await client.post(url, json={}, headers=_auth(cm, **{"Idempotency-Key": "c1"}))
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == body
    twice = await client.post(url, json={}, headers=_auth(cm, **{"Idempotency-Key": "c2"}))
    assert twice.status_code == 409 and twice.json()["type"].endswith("client-closed")

    # The client's API key ended with the account; the case manager sees it closed.
    assert (await client.get(wallet, headers=_auth(keys.client))).status_code == 401
    file = (await client.get(f"/api/clients/{world.client_id}", headers=_auth(cm))).json()
    assert file["client"]["closed_at"] == body["closed_at"]
    listed = (await client.get("/api/clients", headers=_auth(cm))).json()["items"]
    assert [
        c["closed_at"] is not None for c in listed if c["client_id"] == str(world.client_id)
    ] == [True]


async def test_another_countys_case_manager_gets_404(
    db: Database, client: AsyncTestClient[Any], world: World, keys: Keys
) -> None:
    await _end_decisions(db, world)
    r = await client.post(
        f"/api/clients/{world.client_id}/close",
        json={},
        headers=_auth(keys.foreign_case_manager, **{"Idempotency-Key": "x"}),
    )
    assert r.status_code == 404 and r.json()["type"].endswith("not-found")
