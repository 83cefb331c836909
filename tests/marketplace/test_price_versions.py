"""Versioned prices: a change takes effect from a date (Helsinki), never rewrites past charges,
and never exceeds the county's cap.

seed_world's cleaning provider lists 'siivous' at 35 EUR an hour (county cap 40 EUR).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from payments.budgets.funding import fund_period
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    InvalidInput,
    PriceAboveCap,
    PriceAboveList,
    ProviderNotApproved,
    Refusal,
    UnknownCategory,
)
from payments.ledger.periods import HELSINKI
from payments.marketplace import prices, providers
from payments.models import AuditEvent, Provider, ProviderPriceVersion
from payments.people.phones import to_e164
from payments.reporting.wallet_views import get_charge
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from tests.factories import World, assert_books_ok, assert_refused, seed_world
from tests.support.api import Keys, auth
from tests.support.money import by_phone, charge, cleaning
from wallet_api.problems import TITLES

JAN, FEB = "2026-01", "2026-02"
# The first instant of 1 February in Finland, and the last microsecond of January.
FEB_MIDNIGHT = datetime(2026, 2, 1, 0, 0, tzinfo=HELSINKI)
JAN_LAST = FEB_MIDNIGHT - timedelta(microseconds=1)


async def charge_at(db: Database, w: World, price: int, when: datetime) -> dict[str, Any]:
    out = await charge(db, w, cleaning(2, price), customer=by_phone(to_e164(w.phone)), now=when)
    return out.body


async def publish(
    db: Database, w: World, cents: int, eff: date, now: datetime | None = None, **kw: Any
) -> Outcome:
    return await prices.publish_price(
        db,
        provider_id=kw.get("provider_id", w.provider_id),
        category=kw.get("category", "siivous"),
        unit_price_cents=cents,
        effective_from=eff,
        actor_id=w.provider_principal,
        now=now,
    )


async def versions(db: Database) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (await uow.session.execute(select(func.count(ProviderPriceVersion.id)))).scalar_one()
        )


async def in_force(db: Database, w: World, day: date) -> int:
    """The provider's siivous price in force on ``day``, as the charge path reads it."""
    async with UnitOfWork(db, readonly=True) as uow:
        provider = await uow.session.get(Provider, w.provider_id)
        assert provider is not None
        found = await prices.listings(
            uow.session,
            provider_id=w.provider_id,
            organizer_id=provider.organizer_id,
            codes={"siivous", "no-such-service"},
            day=day,
        )
    assert set(found) == {"siivous"}  # unknown codes are missing, not errors
    price = found["siivous"].price_cents
    assert price is not None
    return price


async def test_the_price_in_force_changes_at_helsinki_midnight(db: Database) -> None:
    w = await seed_world(db, period=JAN)
    out = await publish(
        db, w, 3000, date(2026, 2, 1), now=datetime(2026, 1, 10, 12, tzinfo=HELSINKI)
    )
    assert out.what is Happened.CREATED and out.body["effective_from"] == "2026-02-01"
    assert await in_force(db, w, date(2026, 1, 31)) == 3500
    assert await in_force(db, w, date(2026, 2, 1)) == 3000
    assert prices.helsinki_day(JAN_LAST) == date(2026, 1, 31)
    # 22:00 UTC on 31 January is already 1 February in Finland.
    assert prices.helsinki_day(datetime(2026, 1, 31, 22, 0, tzinfo=UTC)) == date(2026, 2, 1)

    # The last moment of January still charges the old price ...
    old = await charge_at(db, w, 3500, JAN_LAST)
    assert old["total_cents"] == 7000
    # ... and from midnight, Helsinki time, the old price is above the list.
    await fund_period(db, FEB)
    err = await assert_refused(
        db, PriceAboveList, charge_at(db, w, 3500, FEB_MIDNIGHT.astimezone(UTC))
    )
    assert err.extra == {"list_price_cents": 3000}
    new = await charge_at(db, w, 3000, FEB_MIDNIGHT)
    assert new["total_cents"] == 6000

    # The January charge keeps its own price: a price change never rewrites the past.
    again = await get_charge(db, uuid.UUID(old["id"]))
    assert again["lines"][0]["unit_price_cents"] == 3500 and again["total_cents"] == 7000
    await assert_books_ok(db)


async def test_a_future_price_is_not_used_today(db: Database) -> None:
    w = await seed_world(db)
    today = prices.helsinki_day(utcnow())
    out = await publish(db, w, 3900, today + timedelta(days=1))
    assert out.what is Happened.CREATED
    # Today the list price is still 35 EUR: 39 EUR is refused, 35 EUR goes through.
    err = await assert_refused(db, PriceAboveList, charge_at(db, w, 3900, utcnow()))
    assert err.extra == {"list_price_cents": 3500}
    assert (await charge_at(db, w, 3500, utcnow()))["total_cents"] == 7000

    # The directory and the provider's own list show today's price and the change ahead.
    rows = await providers.provider_directory(db, organizer_id=w.organizer_id, category="siivous")
    assert [(r.unit_price_cents, r.next_price_cents) for r in rows] == [(3500, 3900)]
    assert rows[0].next_price_from == today + timedelta(days=1)
    own = {e.category: e for e in await prices.price_list(db, provider_id=w.provider_id)}
    assert own["siivous"].unit_price_cents == 3500 and own["siivous"].approved
    assert own["siivous"].upcoming == [
        {"effective_from": (today + timedelta(days=1)).isoformat(), "unit_price_cents": 3900}
    ]
    assert own["kotiapu"].upcoming == []
    # Case managers reviewing providers see the same.
    (summary,) = [
        p
        for p in await providers.list_providers(db, organizer_id=w.organizer_id)
        if p.provider_id == w.provider_id
    ]
    siivous = next(x for x in summary.prices if x["category"] == "siivous")
    assert siivous["unit_price_cents"] == 3500 and len(siivous["upcoming"]) == 1


async def test_a_price_change_today_applies_at_once(db: Database) -> None:
    w = await seed_world(db)
    await publish(db, w, 3200, prices.helsinki_day(utcnow()))
    await assert_refused(db, PriceAboveList, charge_at(db, w, 3500, utcnow()))
    assert (await charge_at(db, w, 3200, utcnow()))["total_cents"] == 6400


async def test_refusals_write_nothing(db: Database) -> None:
    w = await seed_world(db)
    today = prices.helsinki_day(utcnow())
    n = await versions(db)

    async def audits() -> int:
        async with UnitOfWork(db, readonly=True) as uow:
            return int((await uow.session.execute(select(func.count(AuditEvent.id)))).scalar_one())

    a = await audits()
    # Above the county's cap (siivous: 40 EUR).
    with pytest.raises(PriceAboveCap) as cap:
        await publish(db, w, 4001, today + timedelta(days=3))
    assert cap.value.slug == "price-above-cap" and cap.value.kind is Refusal.REFUSED
    assert cap.value.extra["price_cap_cents"] == 4000
    # In the past: past prices are never changed.
    with pytest.raises(InvalidInput):
        await publish(db, w, 3000, today - timedelta(days=1))
    with pytest.raises(InvalidInput):
        await publish(db, w, 0, today)
    with pytest.raises(InvalidInput):
        await publish(db, w, 3000, today + timedelta(days=800))
    with pytest.raises(UnknownCategory):
        await publish(db, w, 3000, today, category="ei-ole")
    # A service the provider does not offer.
    with pytest.raises(ProviderNotApproved):
        await publish(db, w, 3000, today, category="kuljetus")
    assert await versions(db) == n and await audits() == a

    # The same version twice is a replay (200, nothing new); a different price that day is 409.
    assert (await publish(db, w, 3300, today + timedelta(days=2))).what is Happened.CREATED
    assert (await publish(db, w, 3300, today + timedelta(days=2))).what is Happened.ALREADY_DONE
    with pytest.raises(prices.PriceVersionExists) as dup:
        await publish(db, w, 3400, today + timedelta(days=2))
    assert dup.value.kind is Refusal.CONFLICT and dup.value.extra == {"unit_price_cents": 3300}
    assert await versions(db) == n + 1 and await audits() == a + 1
    await assert_books_ok(db)


# --- HTTP -------------------------------------------------------------------------------------


async def test_http_price_list_and_publish(client: Any, keys: Keys, world: World) -> None:
    tomorrow = (prices.helsinki_day(utcnow()) + timedelta(days=1)).isoformat()
    r = await client.post(
        "/api/providers/me/prices",
        json={"category": "siivous", "unit_price_cents": 3700, "effective_from": tomorrow},
        headers=auth(keys.provider),
    )
    assert r.status_code == 201, r.text
    assert r.json() == {
        "category": "siivous",
        "unit_price_cents": 3700,
        "effective_from": tomorrow,
        "approved": True,
    }
    r = await client.post(
        "/api/providers/me/prices",
        json={"category": "siivous", "unit_price_cents": 3700, "effective_from": tomorrow},
        headers=auth(keys.provider),
    )
    assert r.status_code == 200
    r = await client.get("/api/providers/me/prices", headers=auth(keys.provider))
    assert r.status_code == 200
    siivous = next(x for x in r.json() if x["category"] == "siivous")
    assert siivous["unit_price_cents"] == 3500 and siivous["price_cap_cents"] == 4000
    assert siivous["upcoming"] == [{"effective_from": tomorrow, "unit_price_cents": 3700}]
    r = await client.get("/api/directory?category=siivous", headers=auth(keys.client))
    assert [(x["unit_price_cents"], x["next_price_cents"]) for x in r.json()] == [(3500, 3700)]


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"category": "siivous", "unit_price_cents": 4001}, 422, "price-above-cap"),
        ({"category": "siivous", "unit_price_cents": "3000"}, 400, "invalid-input"),
        ({"category": "siivous", "unit_price_cents": 30.5}, 400, "invalid-input"),
        ({"category": "siivous", "unit_price_cents": 3000, "x": 1}, 400, "invalid-input"),
        ({"category": "kuljetus", "unit_price_cents": 3000}, 403, "provider-not-approved"),
    ],
)
async def test_http_bad_input_is_a_clear_4xx_with_nothing_written(
    client: Any,
    keys: Keys,
    world: World,
    db: Database,
    body: dict[str, Any],
    status: int,
    slug: str,
) -> None:
    n = await versions(db)
    eff = (prices.helsinki_day(utcnow()) + timedelta(days=1)).isoformat()
    r = await client.post(
        "/api/providers/me/prices",
        json={**body, "effective_from": eff},
        headers=auth(keys.provider, **{"Accept-Language": "fi"}),
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == slug
    assert await versions(db) == n


async def test_http_duplicate_version_is_409_with_titles_in_three_languages(
    client: Any, keys: Keys, world: World
) -> None:
    eff = (prices.helsinki_day(utcnow()) + timedelta(days=5)).isoformat()
    ok = await client.post(
        "/api/providers/me/prices",
        json={"category": "siivous", "unit_price_cents": 3600, "effective_from": eff},
        headers=auth(keys.provider),
    )
    assert ok.status_code == 201
    r = await client.post(
        "/api/providers/me/prices",
        json={"category": "siivous", "unit_price_cents": 3650, "effective_from": eff},
        headers=auth(keys.provider),
    )
    assert r.status_code == 409 and r.json()["type"] == "price-version-exists"
    assert r.json()["title"] == TITLES["price-version-exists"]["fi"]  # the provider's language
    for slug in ("price-version-exists", "price-above-cap"):
        assert len({TITLES[slug][lang] for lang in ("fi", "sv", "en")}) == 3
