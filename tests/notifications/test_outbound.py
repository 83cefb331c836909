"""Requests the server sends out (issue 13, item 5) and bad push input (item 7).

Every request the server makes goes through one outbound-URL policy
(``notifications.outbound``): https to a public host, no user-info, checked when a push
subscription is registered and again, by resolving the name, when the push is sent; no
redirects followed; at most ten devices per person; an endpoint stays with the person who
registered it first. Loopback only with the test-and-development setting
``outbound_allow_loopback``.

"The listener saw nothing" is counted in TCP connections accepted, not in pushes received.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select

from notifications.models import NotificationPreference, PushSubscription
from payments.clock import utcnow
from payments.db import Database
from payments.models import AuditEvent
from payments.uow import UnitOfWork
from tests.factories import World
from tests.notifications.helpers import People, push_settings, serve
from tests.notifications.push_service import Device, PushService
from tests.support.money import by_wallet, charged, cleaning

PROBLEM = "application/problem+json"
PUBLIC = "https://push.example.com/send/"  # registration does no DNS: any public-looking name


async def _until(cond: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await cond():
            return True
        await asyncio.sleep(0.05)
    return False


async def _rows(db: Database) -> list[PushSubscription]:
    async with UnitOfWork(db, readonly=True) as uow:
        return list((await uow.session.execute(select(PushSubscription))).scalars().all())


async def _audit(db: Database, action: str) -> list[AuditEvent]:
    async with UnitOfWork(db, readonly=True) as uow:
        return list(
            (await uow.session.execute(select(AuditEvent).where(AuditEvent.action == action)))
            .scalars()
            .all()
        )


async def _insert_row(db: Database, principal_id: uuid.UUID, endpoint: str, d: Device) -> None:
    """A subscription written straight to the table, as rows were before the policy."""
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            insert(PushSubscription).values(
                id=uuid.uuid4(),
                principal_id=principal_id,
                endpoint=endpoint,
                p256dh=d.p256dh,
                auth=d.subscription(endpoint)["keys"]["auth"],
                created_at=utcnow(),
            )
        )
        await uow.commit()


def _refused(r: httpx.Response, slug: str, status: int = 400) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    assert r.json()["type"] == slug, r.text


# --- at registration ---------------------------------------------------------------------

REFUSED_ENDPOINTS = [
    # not https
    "http://push.example.com/send/x",
    "ftp://push.example.com/send/x",
    "wss://push.example.com/send/x",
    # user-info: which host is meant depends on who parses it
    "http://127.0.0.1@push.example.com/send/x",
    "https://127.0.0.1@push.example.com/send/x",
    "https://push.example.com@127.0.0.1/send/x",
    "https://user:secret@push.example.com/send/x",
    "https://@push.example.com/send/x",
    # loopback, spelled every way a resolver takes it
    "https://127.0.0.1/send/x",
    "https://127.9.9.9/send/x",
    "https://127.1/send/x",
    "https://2130706433/send/x",
    "https://0x7f000001/send/x",
    "https://0177.0.0.1/send/x",
    "https://localhost/send/x",
    "https://LOCALHOST./send/x",
    "https://push.localhost/send/x",
    "https://[::1]/send/x",
    # private, shared (CGNAT), link-local, unspecified, multicast, reserved, broadcast
    "https://10.1.2.3/send/x",
    "https://172.16.5.4/send/x",
    "https://192.168.1.1/send/x",
    "https://100.64.0.1/send/x",
    "https://169.254.10.10/send/x",
    "https://0.0.0.0/send/x",
    "https://224.0.0.1/send/x",
    "https://240.0.0.1/send/x",
    "https://255.255.255.255/send/x",
    "https://192.0.2.1/send/x",
    # cloud metadata (AWS/GCP/Azure/Oracle, AWS IPv6, Alibaba, Azure wire server, GCP name)
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/latest/meta-data/",
    "https://100.100.100.200/latest/meta-data/",
    "https://168.63.129.16/machine",
    "https://metadata.google.internal/computeMetadata/v1/",
    # IPv6: ULA, link-local, multicast, unspecified, and IPv4 inside IPv6
    "https://[fc00::1]/send/x",
    "https://[fd12:3456::1]/send/x",
    "https://[fe80::1]/send/x",
    "https://[fe80::1%25eth0]/send/x",
    "https://[ff02::1]/send/x",
    "https://[::]/send/x",
    "https://[::ffff:127.0.0.1]/send/x",
    "https://[::ffff:a9fe:a9fe]/send/x",
    "https://[::127.0.0.1]/send/x",
    "https://[64:ff9b::7f00:1]/send/x",
    "https://[64:ff9b::a9fe:a9fe]/send/x",
    "https://[2002:7f00:1::1]/send/x",
    "https://[2002:a9fe:a9fe::1]/send/x",
    # names that only mean something inside a network
    "https://intranet/send/x",
    "https://printer.local/send/x",
    "https://db.internal/send/x",
    "https://router.home.arpa/send/x",
    # not URLs a push service hands out
    "https:///send/x",
    "https://push.example.com:99999/send/x",
    "https://push.example.com:0/send/x",
    "https://push .example.com/send/x",
    "https://push.example.com/send/x#fragment",
    "https://pü.example.com/send/x",
    "//push.example.com/send/x",
    "push.example.com/send/x",
]

ALLOWED_ENDPOINTS = [
    "https://fcm.googleapis.com/fcm/send/abc:def",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABl",
    "https://web.push.apple.com/QGuVm0oNt1Xl",
    "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAC",
    "https://push.example.com:8443/send/x",
    "https://8.8.8.8/send/x",
    "https://[2606:4700:4700::1111]/send/x",
]


async def test_registration_refuses_every_outbound_form_the_policy_forbids(
    live: str, people: People, device: Device, db: Database
) -> None:
    """Each endpoint form that could reach an inside address is refused with a problem+json
    that names the rule, and nothing is written; ordinary push services are accepted."""
    h = {"Authorization": f"Bearer {people.client}"}
    async with httpx.AsyncClient(base_url=live) as http:
        wrongly_accepted = []
        for endpoint in REFUSED_ENDPOINTS:
            r = await http.post(
                "/api/push/subscriptions", json=device.subscription(endpoint), headers=h
            )
            if r.status_code != 400:
                wrongly_accepted.append((endpoint, r.status_code))
                continue
            _refused(r, "url-not-allowed")
        assert wrongly_accepted == []
        assert await _rows(db) == []
        for endpoint in ALLOWED_ENDPOINTS:
            r = await http.post(
                "/api/push/subscriptions", json=device.subscription(endpoint), headers=h
            )
            assert r.status_code == 201, (endpoint, r.text)
    assert len(await _rows(db)) == len(ALLOWED_ENDPOINTS)


async def test_loopback_listener_receives_nothing_when_registration_is_refused(
    db: Database,
    world: World,
    people: People,
    vapid: tuple[str, str],
    device: Device,
    push_service: PushService,
) -> None:
    """Production mode (the loopback setting off): the loopback push service is refused at
    registration, and a charge afterwards sends it nothing."""
    async with serve(push_settings(db.url, vapid), db=db) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.post(
                "/api/push/subscriptions",
                json=device.subscription(push_service.url + "/push/abc"),
                headers={"Authorization": f"Bearer {people.client}"},
            )
            _refused(r, "url-not-allowed")
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        await asyncio.sleep(1.0)
    assert push_service.connections == 0
    assert await _rows(db) == []


# --- at send time ------------------------------------------------------------------------


async def test_row_written_before_the_policy_is_refused_at_send_time(
    db: Database,
    world: World,
    people: People,
    vapid: tuple[str, str],
    device: Device,
    push_service: PushService,
) -> None:
    """A loopback row already in the table (written before the policy) is checked again when
    a push is sent: the listener sees no connection, the refusal is audited and the row is
    removed, so it is not tried again."""
    await _insert_row(db, world.client_principal, push_service.url + "/push/old", device)
    async with serve(push_settings(db.url, vapid), db=db):
        await charged(db, world, cleaning(1), customer=by_wallet(world))

        async def settled() -> bool:
            return push_service.connections > 0 or await _rows(db) == []

        assert await _until(settled)
        # and the next event does not try it again
        await charged(db, world, cleaning(1), customer=by_wallet(world))
        await asyncio.sleep(0.5)
    assert push_service.connections == 0
    assert await _rows(db) == []
    [refusal] = await _audit(db, "push.endpoint_refused")
    assert refusal.organizer_id == world.organizer_id
    assert refusal.detail and "127.0.0.1" in refusal.detail


@pytest.fixture
def dns_to_loopback(monkeypatch: pytest.MonkeyPatch) -> str:
    """A public-looking name whose DNS answer is 127.0.0.1 (a rebinding attack: it may have
    answered with a public address when it was registered). Every other name resolves as
    usual."""
    name = "rebind.push.example.com"
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and host.rstrip(".").lower() == name:
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return name


async def test_public_name_resolving_to_loopback_is_refused_at_send_time(
    db: Database,
    world: World,
    people: People,
    vapid: tuple[str, str],
    device: Device,
    push_service: PushService,
    dns_to_loopback: str,
) -> None:
    """The name is public when registered; at send time it resolves to loopback. The sender
    resolves, checks the answer, and connects to nothing."""
    endpoint = f"https://{dns_to_loopback}:{push_service.port}/push/rebound"
    async with serve(push_settings(db.url, vapid), db=db) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.post(
                "/api/push/subscriptions",
                json=device.subscription(endpoint),
                headers={"Authorization": f"Bearer {people.client}"},
            )
            assert r.status_code == 201, r.text
        await charged(db, world, cleaning(1), customer=by_wallet(world))

        async def settled() -> bool:
            return push_service.connections > 0 or await _rows(db) == []

        assert await _until(settled)
    assert push_service.connections == 0
    assert await _rows(db) == []
    [refusal] = await _audit(db, "push.endpoint_refused")
    assert dns_to_loopback in (refusal.detail or "") and "127.0.0.1" in (refusal.detail or "")


async def test_public_name_resolving_to_a_private_address_is_refused_even_in_development(
    db: Database,
    world: World,
    people: People,
    vapid: tuple[str, str],
    device: Device,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The development setting opens loopback only: a name that resolves to a private address
    at send time is refused by the sender's client (before any connection), audited, and its
    row deleted, as in production."""
    name = "private.push.example.com"
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and host.rstrip(".").lower() == name:
            host = "10.20.30.40"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    await _insert_row(db, world.client_principal, f"https://{name}/push/private", device)
    async with serve(push_settings(db.url, vapid, outbound_allow_loopback=True), db=db):
        await charged(db, world, cleaning(1), customer=by_wallet(world))

        async def gone() -> bool:
            return await _rows(db) == []

        assert await _until(gone)
    [refusal] = await _audit(db, "push.endpoint_refused")
    assert name in (refusal.detail or "") and "10.20.30.40" in (refusal.detail or "")
    assert "private" in (refusal.detail or "")


async def test_dns_stand_in_reaches_the_listener_when_loopback_is_allowed(
    db: Database,
    world: World,
    people: People,
    vapid: tuple[str, str],
    device: Device,
    push_service: PushService,
    dns_to_loopback: str,
) -> None:
    """The control for the test above: with the development setting on, the same name and
    listener do get a connection (a TLS hello the plain-HTTP listener cannot answer), so
    "no connection" above is the policy's doing, not the stand-in's."""
    endpoint = f"https://{dns_to_loopback}:{push_service.port}/push/rebound"
    await _insert_row(db, world.client_principal, endpoint, device)
    async with serve(push_settings(db.url, vapid, outbound_allow_loopback=True), db=db):
        await charged(db, world, cleaning(1), customer=by_wallet(world))

        async def connected() -> bool:
            return push_service.connections > 0

        assert await _until(connected)


async def test_redirect_from_the_push_service_is_not_followed(
    db: Database,
    world: World,
    people: People,
    vapid: tuple[str, str],
    device: Device,
    push_service: PushService,
) -> None:
    """A push service that answers 307 (which ``requests`` follows, body and all, by
    default) is a failed delivery: the target of the redirect sees no connection, and the
    push is not retried."""
    redirecting = PushService(device, vapid[1], redirect_to=push_service.url + "/push/moved")
    try:
        settings = push_settings(db.url, vapid, outbound_allow_loopback=True)
        async with serve(settings, db=db) as base:
            async with httpx.AsyncClient(base_url=base) as http:
                r = await http.post(
                    "/api/push/subscriptions",
                    json=device.subscription(redirecting.url + "/push/here"),
                    headers={"Authorization": f"Bearer {people.client}"},
                )
                assert r.status_code == 201, r.text
            await charged(db, world, cleaning(1), customer=by_wallet(world))

            async def posted() -> bool:
                return redirecting.posts > 0

            assert await _until(posted)
            await asyncio.sleep(1.0)  # room for a followed redirect or a retry to show
        assert push_service.connections == 0
        assert redirecting.posts == 1
    finally:
        redirecting.close()


# --- how many, and whose -----------------------------------------------------------------


async def test_eleventh_device_is_refused_and_re_registering_is_not_a_new_one(
    live: str, people: People, device: Device, db: Database
) -> None:
    h = {"Authorization": f"Bearer {people.client}"}
    async with httpx.AsyncClient(base_url=live) as http:
        ids = []
        for i in range(10):
            r = await http.post(
                "/api/push/subscriptions", json=device.subscription(f"{PUBLIC}{i}"), headers=h
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        r = await http.post(
            "/api/push/subscriptions", json=device.subscription(f"{PUBLIC}10"), headers=h
        )
        _refused(r, "push-device-limit", 409)
        assert r.json()["limit"] == 10
        # The same device again, even with new keys, is the same row, not an eleventh.
        again = Device().subscription(f"{PUBLIC}3")
        r = await http.post("/api/push/subscriptions", json=again, headers=h)
        assert r.status_code == 201 and r.json()["id"] == ids[3], r.text
        rows = await _rows(db)
        assert len(rows) == 10
        assert {x.p256dh for x in rows if x.endpoint == f"{PUBLIC}3"} == {again["keys"]["p256dh"]}
        # Another person's devices do not count against this one.
        r = await http.post(
            "/api/push/subscriptions",
            json=device.subscription(f"{PUBLIC}carer"),
            headers={"Authorization": f"Bearer {people.carer}"},
        )
        assert r.status_code == 201, r.text
        # Turning one off makes room again.
        r = await http.delete(
            "/api/push/subscriptions", params={"endpoint": f"{PUBLIC}0"}, headers=h
        )
        assert r.status_code == 204
        r = await http.post(
            "/api/push/subscriptions", json=device.subscription(f"{PUBLIC}10"), headers=h
        )
        assert r.status_code == 201, r.text
    assert len(await _rows(db)) == 11


async def test_parallel_registrations_stop_at_ten(
    live: str, people: People, device: Device, db: Database
) -> None:
    """The cap is checked and the row written under one lock per person: sixteen devices
    registered at once leave exactly ten."""
    h = {"Authorization": f"Bearer {people.client}"}
    async with httpx.AsyncClient(base_url=live, timeout=30) as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    "/api/push/subscriptions",
                    json=device.subscription(f"{PUBLIC}p{i}"),
                    headers=h,
                )
                for i in range(16)
            )
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201] * 10 + [409] * 6, [r.text for r in answers if r.status_code >= 500]
    assert len(await _rows(db)) == 10


async def test_endpoint_stays_with_the_person_who_registered_it_first(
    live: str, people: People, world: World, device: Device, db: Database
) -> None:
    """Another person posting the same endpoint (with their own keys) does not move it to
    themselves, and learns only that it is refused, not whose it is."""
    endpoint = f"{PUBLIC}shared-device"
    client_h = {"Authorization": f"Bearer {people.client}"}
    carer_h = {"Authorization": f"Bearer {people.carer}"}
    async with httpx.AsyncClient(base_url=live) as http:
        r = await http.post(
            "/api/push/subscriptions", json=device.subscription(endpoint), headers=client_h
        )
        assert r.status_code == 201, r.text
        first_id = r.json()["id"]
        thief = Device()
        r = await http.post(
            "/api/push/subscriptions", json=thief.subscription(endpoint), headers=carer_h
        )
        _refused(r, "push-endpoint-taken", 409)
        assert str(world.client_principal) not in r.text
        assert first_id not in r.text
        r = await http.delete(
            "/api/push/subscriptions", params={"endpoint": endpoint}, headers=carer_h
        )
        assert r.status_code == 404
        # The owner re-registering is fine and keeps the row.
        r = await http.post(
            "/api/push/subscriptions", json=device.subscription(endpoint), headers=client_h
        )
        assert r.status_code == 201 and r.json()["id"] == first_id
    [row] = await _rows(db)
    assert row.principal_id == world.client_principal
    assert row.p256dh == device.p256dh


async def test_two_people_racing_for_one_endpoint_leave_one_owner(
    live: str, people: People, device: Device, db: Database
) -> None:
    """The client and the carer post the same new endpoint at once, several times: one of
    them owns it, the other is refused every time, and nothing fails with a 5xx."""
    endpoint = f"{PUBLIC}raced"
    keys = {people.client: device, people.carer: Device()}
    async with httpx.AsyncClient(base_url=live, timeout=30) as http:
        answers = await asyncio.gather(
            *(
                http.post(
                    "/api/push/subscriptions",
                    json=keys[key].subscription(endpoint),
                    headers={"Authorization": f"Bearer {key}"},
                )
                for _ in range(5)
                for key in keys
            )
        )
    by_key: dict[str, set[int]] = {}
    for i, r in enumerate(answers):
        by_key.setdefault(list(keys)[i % 2], set()).add(r.status_code)
    assert sorted(map(sorted, by_key.values())) == [[201], [409]], [r.text for r in answers]
    [row] = await _rows(db)
    winner = next(k for k, v in by_key.items() if v == {201})
    assert row.p256dh == keys[winner].p256dh


# --- bad input (item 7) ------------------------------------------------------------------

CONTROL = ["\x00", "\x01", "\n", "\r", "\t", "\x1b", "\x7f", "\u0085", "\u2028"]


async def test_control_characters_in_push_input_are_refused(
    live: str, people: People, device: Device, db: Database
) -> None:
    """NUL and other control characters in an endpoint or key: 400 problem+json on both
    engines (PostgreSQL gave 500 on NUL; SQLite stored it), nothing written."""
    h = {"Authorization": f"Bearer {people.client}"}
    async with httpx.AsyncClient(base_url=live) as http:
        for c in CONTROL:
            body = device.subscription(f"{PUBLIC}nul{c}tail")
            r = await http.post("/api/push/subscriptions", json=body, headers=h)
            # A C0/C1 control is refused by the body's text rule (wallet_api.types) before the
            # URL is looked at; a line separator by the URL's own check.
            _refused(r, "url-not-allowed" if c == "\u2028" else "invalid-input")
            for key in ("p256dh", "auth"):
                body = device.subscription(f"{PUBLIC}keys")
                value = body["keys"][key]
                body["keys"][key] = value[:4] + c + value[4:]
                r = await http.post("/api/push/subscriptions", json=body, headers=h)
                _refused(r, "invalid-input")
            r = await http.delete(
                "/api/push/subscriptions", params={"endpoint": f"{PUBLIC}nul{c}tail"}, headers=h
            )
            _refused(r, "invalid-input")
    assert await _rows(db) == []


async def _preferences(db: Database) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(select(func.count()).select_from(NotificationPreference))
            ).scalar_one()
        )


async def test_empty_or_truncated_json_is_a_400(
    live: str, people: People, device: Device, db: Database
) -> None:
    """An empty or cut-off body on the two push writes: 400 problem+json (it was a 500),
    nothing written."""
    h = {"Authorization": f"Bearer {people.client}", "Content-Type": "application/json"}
    whole = httpx.Request("POST", "/", json=device.subscription(f"{PUBLIC}cut")).content
    bodies = [b"", b" ", b"{", whole[: len(whole) // 2], whole[:-1], b"null", b"[]", b'"x"']
    async with httpx.AsyncClient(base_url=live) as http:
        for body in bodies:
            r = await http.post("/api/push/subscriptions", content=body, headers=h)
            _refused(r, "invalid-input")
        for body in [b"", b"{", b'{"hide_amounts": tr', b'{"types": {"charge.captured"', b"null"]:
            r = await http.put("/api/notifications/preferences", content=body, headers=h)
            _refused(r, "invalid-input")
    assert await _rows(db) == []
    assert await _preferences(db) == 0
