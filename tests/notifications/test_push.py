"""Web Push end to end: a loopback push service decrypts (RFC 8291 aes128gcm) with the
subscription's private key and checks the VAPID JWT (RFC 8292), so the real path is used."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from sqlalchemy import func, select

from notifications import events as ev
from notifications.models import PushSubscription
from notifications.push import build_payload, generate_vapid_keys
from notifications.rules import Preferences
from payments.uow import UnitOfWork
from tests.notifications.helpers import charge, serve, settings_for

SUBJECT = "mailto:push-test@example.invalid"


def b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@dataclass
class Device:
    """A browser's side of a subscription: its ECDH key and auth secret."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: uuid.uuid4().bytes)

    @property
    def p256dh(self) -> str:
        return b64e(
            self.key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )


class PushService:
    """A loopback push service: answers with the queued statuses (then 201) and decrypts."""

    def __init__(self, device: Device, vapid_public: str) -> None:
        self.device = device
        self.vapid_public = vapid_public
        self.statuses: list[int] = []
        self.received: list[dict[str, Any]] = []
        self.errors: list[str] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    service.check(self.headers, body)
                except Exception as exc:
                    service.errors.append(repr(exc))
                status = service.statuses.pop(0) if service.statuses else 201
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def check(self, headers: Any, body: bytes) -> None:
        assert headers["Content-Encoding"] == "aes128gcm"
        assert int(headers["TTL"]) > 0 and headers["Urgency"] in ("high", "normal", "low")
        scheme, _, params = headers["Authorization"].partition(" ")
        assert scheme == "vapid"
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        assert parts["k"] == self.vapid_public
        h, p, s = parts["t"].split(".")
        assert json.loads(b64d(h)) == {"typ": "JWT", "alg": "ES256"}
        claims = json.loads(b64d(p))
        assert claims["aud"] == self.url and claims["sub"] == SUBJECT
        assert claims["exp"] > time.time()
        sig = b64d(s)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(parts["k"]))
        key.verify(
            utils.encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            ),
            f"{h}.{p}".encode(),
            ec.ECDSA(hashes.SHA256()),
        )
        plain = http_ece.decrypt(
            body,
            private_key=self.device.key,
            auth_secret=self.device.auth,
            version="aes128gcm",
        )
        self.received.append(json.loads(plain))


@pytest.fixture
def vapid() -> tuple[str, str]:
    return generate_vapid_keys()


@pytest.fixture
def device() -> Device:
    return Device()


@pytest.fixture
def push_service(device, vapid):
    svc = PushService(device, vapid[1])
    yield svc
    svc.close()


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
    settings = settings_for(
        db.url, vapid_private_key=vapid[0], vapid_public_key=vapid[1], vapid_subject=SUBJECT
    )
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
        charge_id = await charge(db, world)
        await _wait(lambda: _async(len(push_service.received) >= 2))
        assert push_service.errors == []
        got = push_service.received[-1]
        assert got["type"] == ev.CHARGE_CAPTURED
        assert got["who"] == "Siivouspalvelu Kuura Oy"
        assert got["amount_cents"] == 3500 and got["remaining_cents"] == 30_000 - 3500
        assert got["tag"] == f"wallet-event-{got['id']}"
        assert charge_id  # the charge committed before the push was built

        # Hidden amounts: who and what, but no euros on the lock screen.
        r = await http.put("/api/notifications/preferences", json={"hide_amounts": True}, headers=h)
        assert r.status_code == 200 and r.json()["hide_amounts"] is True
        await charge(db, world)
        await _wait(lambda: _async(len(push_service.received) >= 3))
        hidden = push_service.received[-1]
        assert "amount_cents" not in hidden and "remaining_cents" not in hidden
        assert "€" not in hidden["body"]

        # Charges turned off: nothing more is pushed.
        r = await http.put(
            "/api/notifications/preferences",
            json={"types": {"charge.captured": False}},
            headers=h,
        )
        assert r.json()["types"]["charge.captured"] is False
        await charge(db, world)
        await asyncio.sleep(0.5)
        assert len(push_service.received) == 3

        # Unsubscribe removes the device.
        r = await http.delete(
            "/api/push/subscriptions", params={"endpoint": sub["endpoint"]}, headers=h
        )
        assert r.status_code == 204
        assert await _subscriptions(db) == 0


async def test_gone_subscription_is_removed(db, world, people, vapid, device, push_service):
    settings = settings_for(
        db.url, vapid_private_key=vapid[0], vapid_public_key=vapid[1], vapid_subject=SUBJECT
    )
    async with serve(settings, db=db) as base, httpx.AsyncClient(base_url=base) as http:
        h = {"Authorization": f"Bearer {people.carer}"}
        sub = {
            "endpoint": push_service.url + "/push/gone",
            "keys": {"p256dh": device.p256dh, "auth": b64e(device.auth)},
        }
        assert (await http.post("/api/push/subscriptions", json=sub, headers=h)).status_code == 201
        push_service.statuses = [410]
        await charge(db, world)

        async def gone() -> bool:
            return await _subscriptions(db) == 0

        await _wait(gone)
        assert push_service.errors == []  # it was a well-formed push, refused as gone


async def _async(value: bool) -> bool:
    return value


def test_payment_request_carries_actions_only_for_those_who_may_approve():
    e = ev.Event(
        id=7,
        type=ev.PAYMENT_REQUESTED,
        organizer_id=uuid.uuid4(),
        wallet_id=uuid.uuid4(),
        provider_id=uuid.uuid4(),
        created_at=ev.datetime.now(),
        data={"request_id": "r1", "provider_name": "Taksi", "amount_cents": 1250},
    )
    p = build_payload(e, Preferences(language="en"), can_approve=True)
    assert [a["action"] for a in p["actions"]] == ["approve", "decline"]
    assert p["request_id"] == "r1" and p["body"] == "Taksi · €12.50"
    assert "actions" not in build_payload(e, Preferences(), can_approve=False)


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
