"""Finding a client at the door: one gate for every phone number, payment code and card.

Issue 13, items 2 and 3. Each test here failed before the lookup gate (payments.checkout.lookups):
- the limit is checked and counted *before* an attempt, in one atomic step, so a right code
  after the guesses are used up is refused, and parallel guesses get no more tries than the
  limit;
- the code space of an organizer has a limit of its own, across providers;
- a provider the client does not trust gets one answer by phone number, whether the number is
  a client's or not: same status, type, body and number of database statements;
- every route that takes a phone number, payment code or card number is limited (a walk over
  the OpenAPI document, so a new route cannot escape).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event, select

from payments.checkout import lookups
from payments.db import Database
from payments.models import AuditEvent, RateCounter
from payments.uow import UnitOfWork
from tests.checkout.helpers import CLEANING_2H, balance, charges, post
from tests.factories import World, give_price
from tests.servers import Server
from tests.support.api import Keys, auth
from tests.support.money import post_charge

UNKNOWN_PHONE = "0409999999"


async def _token(client: Any, keys: Keys, world: World) -> dict[str, Any]:
    r = await client.post(
        f"/api/wallets/{world.wallet_id}/payment-tokens", json={}, headers=auth(keys.client)
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**8:08d}"


async def _actions(db: Database, action: str) -> list[str | None]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = await uow.session.execute(
            select(AuditEvent.detail).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return list(rows.scalars())


async def test_a_right_code_is_refused_once_the_guesses_are_used_up(client, db, world, keys):
    token = await _token(client, keys, world)
    limit = lookups.LIMITS[lookups.LookupKind.CODE].per_provider
    wrong = {"code": _wrong(token["code"]), "lines": CLEANING_2H}
    for _ in range(limit):
        r = await post(client, "/api/checkout/token", keys.provider, wrong)
        assert r.status_code == 422 and r.json()["type"] == "token-invalid", r.text
    right = {"code": token["code"], "lines": CLEANING_2H}
    r = await post(client, "/api/checkout/token", keys.provider, right)
    assert r.status_code == 429 and r.json()["type"] == "too-many-requests", r.text
    assert int(r.headers["retry-after"]) > 0
    assert await charges(db) == 0 and await balance(db, world) == 30_000
    # The refusal is audited, and so is every wrong code.
    assert await _actions(db, "checkout.lookup_limited") == ["code"]
    assert await _actions(db, "checkout.code_lookup") == ["token-invalid"] * limit
    # Another provider is not held back by this one's guesses.
    r = await post(client, "/api/checkout/token", keys.other_provider, right)
    assert r.status_code != 429


async def test_right_codes_do_not_use_up_the_allowance(client, db, world, keys):
    limit = lookups.LIMITS[lookups.LookupKind.CODE].per_provider
    for _ in range(limit + 2):
        token = await _token(client, keys, world)
        body = {"code": token["code"], "lines": [{**CLEANING_2H[0], "quantity": "0.1"}]}
        r = await post(client, "/api/checkout/token", keys.provider, body)
        assert r.status_code == 201, r.text


async def test_parallel_wrong_codes_get_no_more_tries_than_the_limit(client, db, world, keys):
    """40 wrong codes at once over real connections to a real server get exactly the limit's
    tries; before, the count was read before and written after, so all 40 got through."""
    token = await _token(client, keys, world)
    limit = lookups.LIMITS[lookups.LookupKind.CODE].per_provider
    wrong = {"code": _wrong(token["code"]), "lines": CLEANING_2H}
    server = Server(db.url)
    server.start()
    try:
        await server.ready()
        pool = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=server.base, limits=pool, timeout=30) as c:
            answers = await asyncio.gather(
                *(post(c, "/api/checkout/token", keys.provider, wrong) for _ in range(40))
            )
    finally:
        server.stop()
    assert server.tracebacks() == ""
    statuses = sorted(r.status_code for r in answers)
    assert statuses.count(422) == limit, statuses
    assert statuses.count(429) == 40 - limit, statuses


async def test_the_code_space_of_an_organizer_has_its_own_limit(
    client, db, world, keys, monkeypatch: pytest.MonkeyPatch
):
    """Many providers together cannot walk the 8-digit code space either."""
    kind = lookups.LookupKind.CODE
    monkeypatch.setitem(lookups.LIMITS, kind, lookups.Limit(per_provider=3, per_organizer=5))
    await give_price(db, world.other_provider_id, "siivous", 3500)
    token = await _token(client, keys, world)
    wrong = {"code": _wrong(token["code"]), "lines": CLEANING_2H}
    for _ in range(3):
        assert (await post(client, "/api/checkout/token", keys.provider, wrong)).status_code == 422
    for _ in range(2):
        r = await post(client, "/api/checkout/token", keys.other_provider, wrong)
        assert r.status_code == 422
    right = {"code": token["code"], "lines": CLEANING_2H}
    r = await post(client, "/api/checkout/token", keys.other_provider, right)
    assert r.status_code == 429 and r.json()["type"] == "too-many-requests", r.text
    assert await charges(db) == 0


async def test_a_right_card_is_refused_once_card_guesses_are_used_up(client, db, world, keys):
    r = await client.post(
        f"/api/wallets/{world.wallet_id}/cards",
        json={"pin": "2468"},
        headers=auth(keys.case_manager),
    )
    assert r.status_code == 201, r.text
    card = r.json()
    limit = lookups.LIMITS[lookups.LookupKind.CARD].per_provider
    for i in range(limit):
        guess = {"card_number": f"HB-NOPE-{i:04d}", "pin": "2468", "lines": CLEANING_2H}
        r = await post(client, "/api/checkout/card", keys.provider, guess)
        assert r.status_code == 422 and r.json()["type"] == "card-invalid", r.text
    right = {"card_number": card["card_number"], "pin": "2468", "lines": CLEANING_2H}
    r = await post(client, "/api/checkout/card", keys.provider, right)
    assert r.status_code == 429, r.text
    assert await charges(db) == 0
    assert await _actions(db, "checkout.lookup_limited") == ["card"]


# --------------------------------------------------------------------------- phone numbers


def _answer(r: Any) -> tuple[int, str, dict[str, Any]]:
    body = dict(r.json())
    return r.status_code, r.headers["content-type"], body


async def test_untrusted_charge_by_phone_says_the_same_for_a_client_and_a_stranger(
    client, db, world, keys
):
    """A known number with budget and an unknown number must not be told apart (it would tell
    who receives disability services); both are told to send a payment request."""
    known = await post_charge(client, keys.provider, {"phone": world.phone, "lines": CLEANING_2H})
    stranger = await post_charge(
        client, keys.provider, {"phone": UNKNOWN_PHONE, "lines": CLEANING_2H}
    )
    assert _answer(known) == _answer(stranger), (known.text, stranger.text)
    status, ctype, body = _answer(known)
    assert status == 403 and ctype.startswith("application/problem+json")
    assert body["type"] == "consent-required"
    assert "maksupyyntö" in body["title"]  # told what to do instead
    en = await post(
        client,
        "/api/charges",
        keys.provider,
        {"phone": UNKNOWN_PHONE, "lines": CLEANING_2H},
        **{"Accept-Language": "en"},
    )
    assert "send a payment request" in en.json()["detail"]
    # The same by wallet id: an untrusted provider learns nothing from a guessed id either.
    by_id = await post_charge(
        client, keys.provider, {"wallet_id": str(world.wallet_id), "lines": CLEANING_2H}
    )
    by_unknown_id = await post_charge(
        client, keys.provider, {"wallet_id": str(uuid.uuid4()), "lines": CLEANING_2H}
    )
    assert _answer(by_id) == _answer(by_unknown_id) == _answer(known)
    assert await charges(db) == 0


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_untrusted_and_unknown_numbers_do_the_same_work(client, db, world, keys):
    """Same timing class: the same database statements, whether the number is a client's."""
    work = {}
    for label, phone in (("known", world.phone), ("unknown", UNKNOWN_PHONE)):
        with statements(db) as seen:
            r = await post_charge(client, keys.provider, {"phone": phone, "lines": CLEANING_2H})
            assert r.status_code == 403
        work[label] = seen
    assert work["known"] == work["unknown"]


async def test_charges_by_phone_are_limited_and_audited(client, db, world, keys):
    limit = lookups.LIMITS[lookups.LookupKind.PHONE].per_provider
    for _ in range(limit):
        r = await post_charge(client, keys.provider, {"phone": UNKNOWN_PHONE, "lines": CLEANING_2H})
        assert r.status_code == 403, r.text
    r = await post_charge(client, keys.provider, {"phone": world.phone, "lines": CLEANING_2H})
    assert r.status_code == 429 and r.json()["type"] == "too-many-requests"
    assert await _actions(db, "checkout.phone_lookup") == ["consent-required"] * limit
    assert await _actions(db, "checkout.lookup_limited") == ["phone"]


async def test_a_trusted_provider_charging_by_phone_is_not_held_back(client, db, world, keys):
    """A charge that finds a client who trusts the provider gives its attempt back: a busy
    provider at the door is never limited, only misses are."""
    r = await client.put(
        f"/api/wallets/{world.wallet_id}/trusted-providers/{world.provider_id}",
        json={"per_charge_cap_cents": 10_000},
        headers=auth(keys.client),
    )
    assert r.status_code == 200, r.text
    limit = lookups.LIMITS[lookups.LookupKind.PHONE].per_provider
    small = [{**CLEANING_2H[0], "quantity": "0.1"}]  # 3.50 EUR
    for _ in range(limit + 2):
        r = await post_charge(client, keys.provider, {"phone": world.phone, "lines": small})
        assert r.status_code == 201, r.text
    assert await balance(db, world) == 30_000 - (limit + 2) * 350


# --------------------------------------------------------------------------- the route walk


def _lookup_fields(schema: dict[str, Any], doc: dict[str, Any]) -> set[str]:
    """The client-finding fields of a body that charges or holds (it has service lines)."""
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    fields = set(schema.get("properties", {}))
    if "lines" not in fields:
        return set()
    return fields & {"phone", "token", "code", "card_number"}


async def test_every_route_that_finds_a_client_is_limited(
    client, db, world, keys, monkeypatch: pytest.MonkeyPatch
):
    """Walk the OpenAPI document: every operation whose body names a phone number, payment
    code or card is refused with 429 after a few misses, so no new route skips the gate."""
    for kind in lookups.LookupKind:
        monkeypatch.setitem(lookups.LIMITS, kind, lookups.Limit(per_provider=2, per_organizer=50))
    doc = (await client.get("/schema/openapi.json")).json()
    probes = {
        "phone": {"phone": UNKNOWN_PHONE},
        "code": {"code": "12345678"},
        "card_number": {"card_number": "HB-NOPE-0001", "pin": "1234"},
    }
    walked = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {})).get(
                "schema"
            )
            if schema is None or method != "post":
                continue
            for field in sorted(_lookup_fields(schema, doc) & set(probes)):
                body = {**probes[field], "lines": CLEANING_2H}
                statuses = []
                for _ in range(3):
                    r = await post(client, path, keys.provider, body)
                    statuses.append(r.status_code)
                if r.json().get("type") == "forbidden":
                    continue  # not a provider's route (a case manager's client search)
                assert statuses[-1] == 429, (path, field, statuses)
                walked.append((path, field))
                async with UnitOfWork(db) as uow:  # a fresh allowance for the next route
                    await uow.session.execute(delete(RateCounter))
                    await uow.commit()
    assert {p for p, _ in walked} >= {
        "/api/charges",
        "/api/checkout/phone",
        "/api/checkout/token",
        "/api/checkout/card",
        "/api/holds",
    }, walked
