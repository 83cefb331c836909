"""Web Push end to end: a loopback push service decrypts (RFC 8291 aes128gcm) with the
subscription's private key and checks the VAPID JWT (RFC 8292), so the real path is used.

The push service listens on loopback, which the outbound policy allows only when
``outbound_allow_loopback`` is set: these tests set it explicitly (``push_settings``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from sqlalchemy import func, select

from notifications.models import PushSubscription
from notifications.outbound import OutboundPolicy
from notifications.push import Delivery, PushSender, VapidConfig, subscribe
from payments.outbox import CHARGE_CAPTURED
from payments.uow import UnitOfWork
from tests.notifications.helpers import push_settings, serve
from tests.notifications.push_service import SUBJECT, PushService, b64e
from tests.support.money import by_wallet, charged, cleaning
from wallet_api.live.lifecycle import start_live, stop_live


async def _wait(cond: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await cond():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def _subscriptions(db) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(select(func.count()).select_from(PushSubscription))
            ).scalar_one()
        )


async def test_charge_reaches_the_device_encrypted_and_signed(
    db, world, people, vapid, device, push_service
):
    settings = push_settings(db.url, vapid, outbound_allow_loopback=True)
    async with serve(settings, db=db) as base, httpx.AsyncClient(base_url=base) as http:
        h = {"Authorization": f"Bearer {people.client}"}
        assert (await http.get("/api/push/key", headers=h)).json() == {"public_key": vapid[1]}
        sub = {
            "endpoint": push_service.url + "/push/abc",
            "keys": {"p256dh": device.p256dh, "auth": b64e(device.auth)},
        }
        r = await http.post("/api/push/subscriptions", json=sub, headers=h)
        assert r.status_code == 201, r.text
        # The push service is busy once: the sender retries.
        push_service.statuses = [429]
        charge_id = await charged(db, world, cleaning(1), customer=by_wallet(world))
        await _wait(lambda: _async(len(push_service.received) >= 2))
        assert push_service.errors == []
        # By default amounts stay off the lock screen: who and what, but no euros.
        hidden = push_service.received[-1]
        assert hidden["type"] == CHARGE_CAPTURED
        assert hidden["who"] == "Siivouspalvelu Kuura Oy"
        assert hidden["tag"] == f"wallet-event-{hidden['id']}"
        assert "amount_cents" not in hidden and "remaining_cents" not in hidden
        assert "€" not in hidden["body"]
        assert charge_id  # the charge committed before the push was built

        # The client chooses to show amounts: the amount and the balance left are in it.
        r = await http.put(
            "/api/notifications/preferences", json={"hide_amounts": False}, headers=h
        )
        assert r.status_code == 200 and r.json()["hide_amounts"] is False
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        await _wait(lambda: _async(len(push_service.received) >= 3))
        got = push_service.received[-1]
        assert got["amount_cents"] == 3500 and got["remaining_cents"] == 30_000 - 2 * 3500
        assert "35,00\u00a0€" in got["body"]

        # Charges turned off: nothing more is pushed.
        r = await http.put(
            "/api/notifications/preferences",
            json={"types": {"charge.captured": False}},
            headers=h,
        )
        assert r.json()["types"]["charge.captured"] is False
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        await asyncio.sleep(0.5)
        assert len(push_service.received) == 3

        # Unsubscribe removes the device.
        r = await http.delete(
            "/api/push/subscriptions", params={"endpoint": sub["endpoint"]}, headers=h
        )
        assert r.status_code == 204
        assert await _subscriptions(db) == 0


async def test_gone_subscription_is_removed(db, world, people, vapid, device, push_service):
    settings = push_settings(db.url, vapid, outbound_allow_loopback=True)
    async with serve(settings, db=db) as base, httpx.AsyncClient(base_url=base) as http:
        h = {"Authorization": f"Bearer {people.carer}"}
        sub = {
            "endpoint": push_service.url + "/push/gone",
            "keys": {"p256dh": device.p256dh, "auth": b64e(device.auth)},
        }
        assert (await http.post("/api/push/subscriptions", json=sub, headers=h)).status_code == 201
        push_service.statuses = [410]
        await charged(db, world, cleaning(1), customer=by_wallet(world))

        async def gone() -> bool:
            return await _subscriptions(db) == 0

        await _wait(gone)
        assert push_service.errors == []  # it was a well-formed push, refused as gone


async def _async(value: bool) -> bool:
    return value


async def test_subscription_input_is_checked(live, people):
    async with httpx.AsyncClient(base_url=live) as http:
        h = {"Authorization": f"Bearer {people.client}"}
        bad = {"endpoint": "https://push.example/x", "keys": {"p256dh": "short", "auth": "x"}}
        r = await http.post("/api/push/subscriptions", json=bad, headers=h)
        assert r.status_code == 400 and r.json()["type"] == "invalid-input"
        r = await http.get("/api/push/key", headers=h)
        assert r.status_code == 404  # no VAPID keys configured on this server
        r = await http.put(
            "/api/notifications/preferences", json={"types": {"nope": True}}, headers=h
        )
        assert r.status_code == 400


async def test_pushes_sent_and_failed_are_on_metrics(
    db, world, people, vapid, device, push_service
):
    from tests.wallet_api.test_metrics import BEARER, TOKEN, value

    settings = push_settings(db.url, vapid, outbound_allow_loopback=True, metrics_token=TOKEN)
    async with serve(settings, db=db) as base, httpx.AsyncClient(base_url=base) as http:

        async def pushes(result: str) -> float:
            r = await http.get("/metrics", headers=BEARER)
            assert r.status_code == 200, r.text
            return value(r.text, "wallet_pushes_total", result=result)

        sent, failed = await pushes("sent"), await pushes("failed")
        h = {"Authorization": f"Bearer {people.client}"}
        sub = {
            "endpoint": push_service.url + "/push/metrics",
            "keys": {"p256dh": device.p256dh, "auth": b64e(device.auth)},
        }
        assert (await http.post("/api/push/subscriptions", json=sub, headers=h)).status_code == 201
        push_service.statuses = [400]  # refused once, not retried: a failed push
        await charged(db, world, cleaning(1), customer=by_wallet(world))

        async def one_failed() -> bool:
            return await pushes("failed") == failed + 1

        await _wait(one_failed)
        await charged(db, world, cleaning(1), customer=by_wallet(world))

        async def one_sent() -> bool:
            return await pushes("sent") == sent + 1

        await _wait(one_sent)


async def test_one_client_per_process_carries_every_push_and_closes_with_it(
    db, world, people, vapid, device
):
    """The live machinery (web and ``wallet worker`` alike: both use ``start_live``) opens one
    outbound client and the sender pushes through it: three pushes to a push service that
    keeps connections open arrive over one connection. Stopping closes the client."""
    service = PushService(device, vapid[1], keep_alive=True)
    live = await start_live(
        push_settings(db.url, vapid, outbound_allow_loopback=True), db, dispatcher_on=True
    )
    try:
        assert live.push is not None and live.push.http is live.outbound
        await subscribe(
            db,
            world.client_principal,
            endpoint=service.url + "/push/shared",
            p256dh=device.p256dh,
            auth=b64e(device.auth),
            policy=OutboundPolicy(allow_loopback=True),
        )
        # One at a time, so each push could reuse the kept-alive connection (pushes sent at
        # once may each open one, which says nothing about a shared client).
        for i in range(3):
            await charged(db, world, cleaning(1), customer=by_wallet(world))
            await _wait(lambda n=i + 1: _async(len(service.received) >= n))
        assert service.errors == []
        assert live.push.sent == 3
        assert service.connections == 1
    finally:
        await stop_live(live)
        service.close()
    assert live.outbound.closed


async def test_push_service_that_never_answers_is_a_failed_push_at_the_deadline(
    db, world, device, vapid
):
    """The sender's client has a deadline: a push service that accepts and never answers is
    retried, then counted as failed, within the deadline times the attempts."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0))
    endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}/push/silent"
    sender = PushSender(
        db,
        VapidConfig(vapid[0], vapid[1], SUBJECT),
        policy=OutboundPolicy(allow_loopback=True),
        timeout_s=0.3,
        max_attempts=2,
        base_delay_s=0.01,
    )
    sender.start()
    try:
        started = time.monotonic()
        await sender._send(
            Delivery(
                world.client_principal,  # any id: a failure writes nothing
                world.client_principal,
                device.subscription(endpoint),
                b'{"title": "x"}',
                60,
                "normal",
            )
        )
        assert time.monotonic() - started < 3
        assert (sender.sent, sender.failed, sender.removed) == (0, 1, 0)
    finally:
        await sender.stop()
        silent.close()
    assert sender.http is None  # its own client, closed by stop
