"""The webhook routes (issue 18): an admin's own organizer only, the secret shown once, bad
input refused with problem+json and nothing written, the delivery log's pages and filter,
replay and ping, audit entries, and the admin right checked again from the row."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from notifications import webhooks
from notifications.models import WebhookDelivery, WebhookEndpoint
from payments.budgets import catalogue
from payments.db import Database
from payments.errors import Forbidden
from payments.models import AuditEvent, Principal
from payments.uow import UnitOfWork
from tests.factories import World, api_key_for, seed_world
from wallet_api.app import create_app
from wallet_api.settings import Settings

HOOK = {"url": "https://hooks.example.com/in", "event_types": ["refund.created", "charge.captured"]}


@pytest.fixture
async def web(db: Database) -> AsyncIterator[AsyncTestClient[Any]]:
    # No dispatcher: nothing here is sent (the sender is tests/notifications/test_webhooks.py's).
    settings = Settings(
        database_url=db.url,
        redis_url=None,
        scheduler=False,
        dispatcher=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
    )
    async with AsyncTestClient(app=create_app(settings)) as c:
        yield c


async def _admin(
    db: Database, organizer_id: uuid.UUID, name: str = "Helmi"
) -> tuple[uuid.UUID, str]:
    pid = await catalogue.create_principal(
        db, organizer_id=organizer_id, role="case_manager", display_name=name
    )
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(Principal).where(Principal.id == pid).values(admin=True))
        await uow.commit()
    return pid, await api_key_for(db, pid)


def h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _count(db: Database, table: Any, *where: Any) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        q = select(func.count()).select_from(table)
        for w in where:
            q = q.where(w)
        return int((await uow.session.execute(q)).scalar_one())


async def _audit(db: Database, prefix: str = "webhook.") -> list[str]:
    async with UnitOfWork(db, readonly=True) as uow:
        found = await uow.session.execute(
            select(AuditEvent.action)
            .where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id)
        )
        return list(found.scalars().all())


async def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(
    db: Database, world: World, web: AsyncTestClient[Any]
) -> None:
    _, key = await _admin(db, world.organizer_id)
    r = await web.post("/api/webhooks", json=HOOK, headers=h(key))
    assert r.status_code == 201, r.text
    made = r.json()
    secret = made["secret"]
    assert secret.startswith("whsec_")
    assert made["endpoint"]["event_types"] == ["charge.captured", "refund.created"]  # outbox order
    assert made["endpoint"]["enabled"] is True
    listed = await web.get("/api/webhooks", headers=h(key))
    assert listed.status_code == 200
    assert secret not in listed.text and "secret" not in listed.text
    body = listed.json()
    assert [e["id"] for e in body["items"]] == [made["endpoint"]["id"]]
    assert "settlement.paid" in body["event_types"] and body["max_endpoints"] == 10
    assert await _audit(db) == ["webhook.created"]
    async with UnitOfWork(db, readonly=True) as uow:
        details = (await uow.session.execute(select(AuditEvent.detail))).scalars().all()
    assert not any(secret in (d or "") for d in details)


@pytest.mark.parametrize(
    ("body", "slug"),
    [
        (
            {"url": "http://hooks.example.com/in", "event_types": ["charge.captured"]},
            "url-not-allowed",
        ),
        ({"url": "https://127.0.0.1/in", "event_types": ["charge.captured"]}, "url-not-allowed"),
        (
            {"url": "https://169.254.169.254/x", "event_types": ["charge.captured"]},
            "url-not-allowed",
        ),
        (
            {"url": "https://user@hooks.example.com/", "event_types": ["charge.captured"]},
            "url-not-allowed",
        ),
        (
            {"url": "https://hooks.example.com/in", "event_types": ["charge.stolen"]},
            "invalid-input",
        ),
        ({"url": "https://hooks.example.com/in", "event_types": []}, "invalid-input"),
        ({"url": "https://hooks.example.com/in"}, "invalid-input"),
        ({**HOOK, "secret": "whsec_mine"}, "invalid-input"),
        ({"url": 5, "event_types": ["charge.captured"]}, "invalid-input"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    db: Database, world: World, web: AsyncTestClient[Any], body: dict[str, Any], slug: str
) -> None:
    _, key = await _admin(db, world.organizer_id)
    r = await web.post("/api/webhooks", json=body, headers=h(key))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == slug
    assert await _count(db, WebhookEndpoint) == 0
    assert await _audit(db) == []


async def test_at_most_ten_endpoints(db: Database, world: World, web: AsyncTestClient[Any]) -> None:
    _, key = await _admin(db, world.organizer_id)
    for i in range(webhooks.MAX_ENDPOINTS):
        body = {**HOOK, "url": f"https://hooks.example.com/{i}"}
        assert (await web.post("/api/webhooks", json=body, headers=h(key))).status_code == 201
    r = await web.post("/api/webhooks", json=HOOK, headers=h(key))
    assert r.status_code == 409 and r.json()["type"] == "webhook-endpoint-limit"
    assert await _count(db, WebhookEndpoint) == webhooks.MAX_ENDPOINTS


async def test_only_admins_and_only_their_own_organizer(
    db: Database, world: World, web: AsyncTestClient[Any]
) -> None:
    _, key = await _admin(db, world.organizer_id)
    made = (await web.post("/api/webhooks", json=HOOK, headers=h(key))).json()["endpoint"]
    ping = await web.post(f"/api/webhooks/{made['id']}/ping", json={}, headers=h(key))
    assert ping.status_code == 202, ping.text
    delivery = ping.json()
    assert delivery["event_type"] == "webhook.ping" and delivery["webhook_id"].startswith("ping_")

    plain = await api_key_for(db, world.case_manager)  # a case manager without the admin right
    for method, path in (
        ("GET", "/api/webhooks"),
        ("GET", f"/api/webhooks/{made['id']}/deliveries"),
        ("POST", f"/api/webhooks/deliveries/{delivery['id']}/replay"),
    ):
        r = await web.request(method, path, json={} if method == "POST" else None, headers=h(plain))
        assert r.status_code == 403, (path, r.text)

    other = await seed_world(db, phone="040 765 4321")
    _, foreign = await _admin(db, other.organizer_id, "Vieras")
    assert (await web.get("/api/webhooks", headers=h(foreign))).json()["items"] == []
    for method, path, body in (
        ("GET", f"/api/webhooks/{made['id']}/deliveries", None),
        ("PATCH", f"/api/webhooks/{made['id']}", {"enabled": False}),
        ("POST", f"/api/webhooks/{made['id']}/ping", None),
        ("DELETE", f"/api/webhooks/{made['id']}", None),
        ("POST", f"/api/webhooks/deliveries/{delivery['id']}/replay", None),
    ):
        if method == "POST":
            body = {}
        r = await web.request(method, path, json=body, headers=h(foreign))
        assert (r.status_code, r.json()["type"]) == (404, "not-found"), (method, path, r.text)
    assert await _count(db, WebhookEndpoint, WebhookEndpoint.enabled.is_(True)) == 1
    assert await _count(db, WebhookDelivery) == 1


async def test_the_admin_right_is_checked_again_from_the_row(
    db: Database, world: World, web: AsyncTestClient[Any]
) -> None:
    pid, key = await _admin(db, world.organizer_id)
    made = (await web.post("/api/webhooks", json=HOOK, headers=h(key))).json()["endpoint"]
    # The right is taken while the process still trusts the key's cached actor.
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(Principal).where(Principal.id == pid).values(admin=False))
        await uow.commit()
    r = await web.delete(f"/api/webhooks/{made['id']}", headers=h(key))
    assert r.status_code == 403, r.text
    # And the use case itself, whatever a guard let through.
    with pytest.raises(Forbidden):
        await webhooks.delete_endpoint(
            db, organizer_id=world.organizer_id, actor_id=pid, endpoint_id=uuid.UUID(made["id"])
        )
    assert await _count(db, WebhookEndpoint) == 1


async def test_update_log_pages_replay_and_delete(
    db: Database, world: World, web: AsyncTestClient[Any]
) -> None:
    _, key = await _admin(db, world.organizer_id)
    made = (await web.post("/api/webhooks", json=HOOK, headers=h(key))).json()["endpoint"]
    base = f"/api/webhooks/{made['id']}"
    r = await web.patch(
        base, json={"event_types": ["settlement.paid"], "enabled": False}, headers=h(key)
    )
    assert r.status_code == 200, r.text
    assert r.json()["event_types"] == ["settlement.paid"] and r.json()["enabled"] is False
    r = await web.post(base + "/ping", json={}, headers=h(key))
    assert r.status_code == 409 and r.json()["type"] == "webhook-endpoint-disabled"
    assert (await web.patch(base, json={"enabled": True}, headers=h(key))).json()["enabled"]
    r = await web.patch(base, json={"event_types": ["nope"]}, headers=h(key))
    assert r.status_code == 400
    ids = [(await web.post(base + "/ping", json={}, headers=h(key))).json()["id"] for _ in range(3)]
    # One failed, as the sender would leave it.
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == uuid.UUID(ids[0]))
            .values(status="failed", attempts=8, last_status_code=500, last_error="HTTP 500")
        )
        await uow.commit()
    page = (await web.get(base + "/deliveries", params={"limit": 2}, headers=h(key))).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (
        await web.get(
            base + "/deliveries", params={"limit": 2, "cursor": page["next_cursor"]}, headers=h(key)
        )
    ).json()
    assert rest["next_cursor"] is None
    assert sorted(d["id"] for d in page["items"] + rest["items"]) == sorted(ids)
    failed = (
        await web.get(base + "/deliveries", params={"status": "failed"}, headers=h(key))
    ).json()
    assert [d["id"] for d in failed["items"]] == [ids[0]]
    assert failed["items"][0]["last_error"] == "HTTP 500"
    bad = await web.get(base + "/deliveries", params={"status": "lost"}, headers=h(key))
    assert bad.status_code == 400
    bad = await web.get(base + "/deliveries", params={"cursor": "x"}, headers=h(key))
    assert bad.status_code == 400 and bad.json()["type"] == "invalid-cursor"

    r = await web.post(f"/api/webhooks/deliveries/{ids[0]}/replay", json={}, headers=h(key))
    assert r.status_code == 202, r.text
    again = r.json()
    assert (again["status"], again["attempts"], again["webhook_id"]) == (
        "pending",
        0,
        f"ping_{uuid.UUID(ids[0]).hex}",
    )
    assert (await web.delete(base, headers=h(key))).status_code == 204
    assert await _count(db, WebhookEndpoint) == 0 and await _count(db, WebhookDelivery) == 0
    assert (await web.get(base + "/deliveries", headers=h(key))).status_code == 404
    assert await _audit(db) == [
        "webhook.created",
        "webhook.updated",
        "webhook.updated",
        "webhook.replayed",
        "webhook.deleted",
    ]


def test_the_command_line_lists_and_replays(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from click.testing import CliRunner

    from payments.db import create_database
    from payments.models import Organizer
    from wallet_api.cli import main

    async def seed() -> tuple[str, str, str]:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        w = await seed_world(db)
        made, _ = await webhooks.create_endpoint(
            db,
            organizer_id=w.organizer_id,
            actor_id=None,
            url="https://hooks.example.com/cli",
            event_types=["charge.captured"],
            policy=webhooks.OutboundPolicy(),
        )
        pinged = await webhooks.ping(
            db, organizer_id=w.organizer_id, actor_id=None, endpoint_id=made.id
        )
        async with UnitOfWork(db) as uow:
            slug = (await uow.session.get(Organizer, w.organizer_id)).slug  # type: ignore[union-attr]
            await uow.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == pinged.id)
                .values(status="failed", attempts=8, last_error="HTTP 500")
            )
            await uow.commit()
        await db.dispose()
        return slug, str(made.id), str(pinged.id)

    slug, endpoint_id, delivery_id = asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    from wallet_api import cli

    monkeypatch.setattr(cli.console, "width", 300)  # tables unfolded, for the asserts
    runner = CliRunner()
    listed = runner.invoke(main, ["webhooks", "list", "--organizer", slug])
    assert listed.exit_code == 0, listed.output
    assert "hooks.example.com/cli" in listed.output and "charge.captured" in listed.output
    assert "whsec_" not in listed.output
    log = runner.invoke(main, ["webhooks", "deliveries", endpoint_id, "--status", "failed"])
    assert log.exit_code == 0, log.output
    assert delivery_id[:8] in log.output and "HTTP 500" in log.output
    again = runner.invoke(main, ["webhooks", "replay", delivery_id])
    assert again.exit_code == 0, again.output
    assert "queued again" in again.output
    missing = runner.invoke(main, ["webhooks", "replay", str(uuid.uuid4())])
    assert missing.exit_code == 1 and "No such webhook delivery" in missing.output
    nobody = runner.invoke(main, ["webhooks", "list", "--organizer", "nope"])
    assert nobody.exit_code == 1 and "no organizer" in nobody.output

    async def state() -> tuple[str, list[str]]:
        db = create_database(database_url)
        async with UnitOfWork(db, readonly=True) as uow:
            status = (await uow.session.get(WebhookDelivery, uuid.UUID(delivery_id))).status  # type: ignore[union-attr]
            actions = (await uow.session.execute(select(AuditEvent.action))).scalars().all()
        await db.dispose()
        return status, list(actions)

    status, actions = asyncio.run(state())
    assert status == "pending" and "webhook.replayed" in actions
