"""QR cards with a PIN (brute force locks), and declines a provider understands: the same
answer for an unknown number and no budget, rate limits, audit, the provider's language."""

from __future__ import annotations

import statistics
import time

from sqlalchemy import select

from payments.checkout.lookups import LIMITS, LookupKind
from payments.models import AuditEvent
from payments.uow import UnitOfWork
from tests.checkout.helpers import CLEANING_2H, assert_books_ok, balance, charges, post
from tests.support.api import auth

LOOKUP_LIMIT = LIMITS[LookupKind.PHONE].per_provider


async def issue(client, keys, world, pin="2468"):
    r = await client.post(
        f"/api/wallets/{world.wallet_id}/cards", json={"pin": pin}, headers=auth(keys.case_manager)
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_card_pin_checkout_and_brute_force_lock(client, db, world, keys):
    for who in (keys.provider, keys.client, keys.carer_view):
        r = await client.post(f"/api/wallets/{world.wallet_id}/cards", json={}, headers=auth(who))
        assert r.status_code == 403
    card = await issue(client, keys, world)
    assert card["status"] == "active" and card["has_pin"] and card["first_name"] == "Aino"
    page = await client.get(f"/api/cards/{card['id']}/print", headers=auth(keys.case_manager))
    assert page.status_code == 200 and "<svg" in page.text and "Aino" in page.text

    body = {"card_number": card["card_number"], "pin": "2468", "lines": CLEANING_2H}
    ok = await post(client, "/api/checkout/card", keys.provider, body)
    assert ok.status_code == 201, ok.text
    assert await balance(db, world) == 30_000 - 7000

    wrong = {**body, "pin": "1111"}
    for left in (4, 3, 2, 1):
        r = await post(client, "/api/checkout/card", keys.provider, wrong)
        assert r.status_code == 422 and r.json()["type"] == "card-invalid", r.text
        assert r.json()["attempts_left"] == left
    r = await post(client, "/api/checkout/card", keys.provider, wrong)
    assert r.status_code == 423 and r.json()["type"] == "card-locked"
    # Locked: even the right PIN is refused, and the count survived the refused charges.
    r = await post(client, "/api/checkout/card", keys.provider, body)
    assert r.status_code == 423
    assert await charges(db) == 1

    unlock = await client.post(
        f"/api/cards/{card['id']}/unlock", json={}, headers=auth(keys.case_manager)
    )
    assert unlock.status_code == 200 and unlock.json()["failed_attempts"] == 0
    assert (await post(client, "/api/checkout/card", keys.provider, body)).status_code == 201
    # Reissue revokes the lost card at once.
    await issue(client, keys, world, pin="9753")
    r = await post(client, "/api/checkout/card", keys.provider, body)
    assert r.status_code == 422 and r.json()["type"] == "card-invalid"
    await assert_books_ok(db)


async def test_client_sets_own_pin(client, db, world, keys):
    card = await issue(client, keys, world, pin="2468")
    r = await client.post(
        f"/api/cards/{card['id']}/pin", json={"pin": "13579"}, headers=auth(keys.client)
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/cards/{card['id']}/pin", json={"pin": "1234"}, headers=auth(keys.other_client)
    )
    assert r.status_code == 403
    body = {"card_number": card["card_number"], "pin": "13579", "lines": CLEANING_2H}
    assert (await post(client, "/api/checkout/card", keys.provider, body)).status_code == 201


async def test_unknown_number_and_no_budget_answer_alike(client, db, world, keys):
    # 040 555 0000 is a client of this county without any decision; 040 999 9999 is nobody.
    def ask(number):
        return post(
            client, "/api/checkout/phone", keys.provider, {"phone": number, "lines": CLEANING_2H}
        )

    timings: dict[str, list[float]] = {"0405550000": [], "0409999999": []}
    bodies = {}
    for _ in range(5):
        for number in timings:
            t0 = time.perf_counter()
            r = await ask(number)
            timings[number].append(time.perf_counter() - t0)
            bodies[number] = (r.status_code, r.json())
    assert bodies["0405550000"] == bodies["0409999999"]
    assert bodies["0405550000"][0] == 422 and bodies["0405550000"][1]["type"] == "not-in-budget"
    # No timing signal beyond noise (generous bound: CI machines are noisy).
    a, b = (statistics.median(v) for v in timings.values())
    assert abs(a - b) < max(a, b) * 0.5 + 0.02
    async with UnitOfWork(db, readonly=True) as uow:
        audited = (
            (
                await uow.session.execute(
                    select(AuditEvent.detail).where(AuditEvent.action == "checkout.phone_lookup")
                )
            )
            .scalars()
            .all()
        )
    assert len(audited) == 10 and set(audited) == {"not-in-budget"}


async def test_phone_lookups_are_rate_limited_per_provider(client, db, world, keys):
    for _ in range(LOOKUP_LIMIT):
        r = await post(
            client,
            "/api/checkout/phone",
            keys.provider,
            {"phone": "0409999999", "lines": CLEANING_2H},
        )
        assert r.status_code == 422
    r = await post(
        client, "/api/checkout/phone", keys.provider, {"phone": world.phone, "lines": CLEANING_2H}
    )
    assert r.status_code == 429 and r.json()["type"] == "too-many-requests"
    assert int(r.headers["retry-after"]) > 0
    assert r.headers["content-type"].startswith("application/problem+json")
    # Another provider is not held back.
    other = await post(
        client,
        "/api/checkout/phone",
        keys.other_provider,
        {"phone": "0409999999", "lines": CLEANING_2H},
    )
    assert other.status_code != 429


async def test_declines_speak_the_providers_language(client, db, world, keys):
    body = {"token": "hbp_" + "y" * 32, "lines": CLEANING_2H}
    titles = {}
    for lang in ("fi", "sv", "en"):
        r = await post(
            client, "/api/checkout/token", keys.provider, body, **{"Accept-Language": lang}
        )
        assert r.status_code == 422 and r.json()["type"] == "token-invalid"
        titles[lang] = r.json()["title"]
    assert titles["fi"].startswith("Maksukoodi") and titles["sv"].startswith("Betalningskoden")
    assert titles["en"].startswith("The payment code")


async def test_an_unapproved_provider_cannot_try_pins(client, db, world, keys):
    """Five wrong PINs from a provider that may not charge must not lock the client's card."""
    from sqlalchemy import update

    from payments.models import Provider
    from payments.uow import UnitOfWork

    card = await issue(client, keys, world)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Provider).where(Provider.id == world.provider_id).values(status="suspended")
        )
        await uow.commit()
    wrong = {"card_number": card["card_number"], "pin": "1111", "lines": CLEANING_2H}
    for _ in range(6):
        r = await post(client, "/api/checkout/card", keys.provider, wrong)
        assert r.status_code == 403 and r.json()["type"] == "provider-not-approved", r.text
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(Provider).where(Provider.id == world.provider_id).values(status="approved")
        )
        await uow.commit()
    right = {**wrong, "pin": "2468"}
    assert (await post(client, "/api/checkout/card", keys.provider, right)).status_code == 201


async def test_the_lookup_limit_holds_across_server_processes(client, db, world, keys):
    """Two app instances (as two `wallet serve` processes would be) share one allowance: the
    counters are in the database, not in one process's memory."""
    from litestar.testing import AsyncTestClient

    from wallet_api.app import create_app
    from wallet_api.settings import Settings

    second_app = create_app(
        Settings(
            database_url=db.url,
            redis_url=None,
            scheduler=False,
            scheduler_interval_s=300,
            max_body_bytes=64 * 1024,
        )
    )
    async with AsyncTestClient(app=second_app) as second:
        for i in range(LOOKUP_LIMIT):
            via = client if i % 2 else second
            r = await post(via, "/api/checkout/phone", keys.provider,
                           {"phone": "0409999999", "lines": CLEANING_2H})  # fmt: skip
            assert r.status_code == 422
        for via in (client, second):
            r = await post(via, "/api/checkout/phone", keys.provider,
                           {"phone": world.phone, "lines": CLEANING_2H})  # fmt: skip
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
