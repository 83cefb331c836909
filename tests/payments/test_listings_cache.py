"""The providers' listings kept in each process (payments.marketplace.listings_cache), on SQLite
and PostgreSQL.

A batch of charges takes its providers and their listings from the process's copy, and uses
them only if the catalogue's token its own statements read is the one they were kept with.
These tests change the catalogue from another process's database object (another engine, its
own connections and its own copy) and check that the next charge here is decided on the change:
a suspended provider, a lower price, a listing withdrawn, a lower cap. Each checks first that the
copy was in use, so a test cannot pass by the copy never serving.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, insert, select, text, update

from payments.clock import utcnow
from payments.db import Database, create_database
from payments.errors import ConsentRequired, PriceAboveList, ProviderNotApproved
from payments.marketplace.listings_cache import ListingsCache, listings_cache_for
from payments.marketplace.prices import helsinki_day, publish_price
from payments.models import (
    Base,
    CatalogueVersion,
    Provider,
    ProviderPrice,
    ProviderPriceVersion,
    ServiceCategory,
)
from payments.results import Happened
from payments.uow import UnitOfWork
from tests.factories import World, assert_books_ok, seed_world, set_provider_status
from tests.payments.test_pipeline import clients, phone
from tests.payments.test_transfer_kinds import migrate
from tests.support.money import charge, charged, cleaning


@pytest.fixture
async def other(database_url: str) -> AsyncIterator[Database]:
    """The same database as another process sees it."""
    database = create_database(database_url)
    yield database
    await database.dispose()


async def token_of(db: Database) -> int | None:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(CatalogueVersion.token))).scalar_one_or_none()


async def run(db: Database, *stmts: Any) -> None:
    async with UnitOfWork(db) as uow:
        for stmt in stmts:
            await uow.session.execute(stmt)
        await uow.commit()


async def kept_and_used(db: Database, w: World) -> ListingsCache:
    """Two charges of two clients, the second from the copy the first one filled."""
    cache = listings_cache_for(db)
    await charged(db, w, cleaning(hours=1), customer=phone(0))
    hits = cache.stats.hits
    await charged(db, w, cleaning(hours=1), customer=phone(1))
    assert cache.stats.hits == hits + 1, cache.stats
    return cache


async def test_every_change_to_the_catalogue_gives_a_new_token(db: Database):
    """Inserts, updates and deletes of each of the four tables, and nothing else, replace the
    token; a change rolled back leaves it."""
    w = await seed_world(db)
    cat = await _category(db, "kuljetus")
    changes: list[tuple[str, Any]] = [
        ("provider", update(Provider).where(Provider.id == w.provider_id).values(name="Kuura")),
        (
            "category",
            update(ServiceCategory).where(ServiceCategory.id == cat).values(price_cap_cents=9000),
        ),
        (
            "listing",
            insert(ProviderPrice).values(
                id=uuid.uuid4(), provider_id=w.provider_id, category_id=cat, approved=True
            ),
        ),
        (
            "price",
            insert(ProviderPriceVersion).values(
                id=uuid.uuid4(),
                provider_id=w.provider_id,
                category_id=cat,
                unit_price_cents=2000,
                effective_from=helsinki_day(utcnow()) + timedelta(days=3),
                created_at=utcnow(),
            ),
        ),
        ("price gone", delete(ProviderPriceVersion).where(ProviderPriceVersion.category_id == cat)),
        ("listing gone", delete(ProviderPrice).where(ProviderPrice.category_id == cat)),
    ]
    before = await token_of(db)
    assert before is not None
    for what, stmt in changes:
        await run(db, stmt)
        after = await token_of(db)
        assert after is not None and after != before, what
        before = after

    await run(db, text("UPDATE clients SET first_name = 'Aino'"))  # not the catalogue
    assert await token_of(db) == before
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(Provider).values(name="Rolled back"))
        await uow.rollback()
    assert await token_of(db) == before


async def test_a_suspension_in_another_process_stops_the_next_charge(db: Database, other):
    w = await seed_world(db)
    await clients(db, w, 4)
    cache = await kept_and_used(db, w)

    await set_provider_status(other, w.provider_id, "suspended")
    with pytest.raises(ProviderNotApproved):
        await charge(db, w, cleaning(hours=1), customer=phone(2))
    assert cache.stats.stale == 1

    await set_provider_status(other, w.provider_id, "approved")
    await charged(db, w, cleaning(hours=1), customer=phone(2))
    await assert_books_ok(db)


@pytest.mark.parametrize("change", ["price", "listing", "cap"])
async def test_a_price_listing_or_cap_changed_elsewhere_holds_at_once(
    db: Database, other: Database, change: str
):
    """The provider's price lowered (the use case), its listing of cleaning withdrawn, the
    county's cap lowered: the next charge at the old price is refused, as a process that
    read the listings itself would refuse it."""
    w = await seed_world(db)
    await clients(db, w, 4)
    cache = await kept_and_used(db, w)
    cat = await _category(db, "siivous")
    changes: dict[str, Callable[[], Awaitable[Any]]] = {
        "price": lambda: publish_price(
            other,
            provider_id=w.provider_id,
            category="siivous",
            unit_price_cents=3000,
            effective_from=helsinki_day(utcnow()),
            actor_id=None,
        ),
        "listing": lambda: run(
            other,
            update(ProviderPrice)
            .where(ProviderPrice.provider_id == w.provider_id, ProviderPrice.category_id == cat)
            .values(approved=False),
        ),
        "cap": lambda: run(
            other,
            update(ServiceCategory).where(ServiceCategory.id == cat).values(price_cap_cents=3000),
        ),
    }
    await changes[change]()

    refusal = ProviderNotApproved if change == "listing" else PriceAboveList
    with pytest.raises(refusal):
        await charge(db, w, cleaning(hours=1), customer=phone(2))
    assert cache.stats.stale == 1
    if change != "listing":  # at the new price it goes, from the listings read again
        out = await charge(db, w, cleaning(hours=1, cents=3000), customer=phone(2))
        assert out.what is Happened.CREATED
        assert cache.stats.stale == 1, "the listings read again were kept"
    await assert_books_ok(db)


async def test_a_batch_that_finds_no_trusting_wallet_reads_the_listings_again(db: Database):
    """The token comes with the trusting wallets' rows; a batch that found none has no proof,
    and decides on listings it read itself."""
    w = await seed_world(db)
    await clients(db, w, 2)
    cache = await kept_and_used(db, w)
    with pytest.raises(ConsentRequired):
        await charge(db, w, cleaning(hours=1), customer=phone(99))
    assert cache.stats.stale == 1


async def test_listings_are_kept_for_their_day_only(db: Database):
    """A price starts on a day: the copy of one day is not used on the next."""
    w = await seed_world(db)
    await clients(db, w, 3)
    cache = await kept_and_used(db, w)
    misses = cache.stats.misses
    tomorrow = utcnow() + timedelta(days=1)
    await charged(db, w, cleaning(hours=1), customer=phone(2), now=tomorrow)
    assert cache.stats.misses == misses + 1
    assert cache.day == helsinki_day(tomorrow)


async def test_without_a_token_every_batch_reads_its_listings(db: Database, other: Database):
    """The token's row deleted (a database emptied with its triggers off, as the tests do):
    nothing is kept, nothing is used, and the next change brings the row back."""
    w = await seed_world(db)
    await clients(db, w, 3)
    cache = await kept_and_used(db, w)
    await run(other, delete(CatalogueVersion))
    await charged(db, w, cleaning(hours=1), customer=phone(2))  # stale: no token seen
    await set_provider_status(other, w.provider_id, "suspended")  # the row is back
    assert await token_of(db) is not None
    with pytest.raises(ProviderNotApproved):
        await charge(db, w, cleaning(hours=1), customer=phone(0))
    assert cache.stats.hits == 1, cache.stats


async def test_the_migration_matches_its_model_and_goes_down_and_up_again(db: Database):
    """0025 removed leaves no trigger behind (the catalogue writable without its table), and
    comes back with a token."""
    found = await _triggers(db)
    assert len(found) == (8 if db.is_postgres else 12), found
    async with db.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
        )
    assert [d for d in diff if "catalogue_versions" in repr(d)] == []
    try:
        await migrate(db, "0024", down=True)
        assert await _triggers(db) == []
    finally:
        await migrate(db, "head")
    assert len(await _triggers(db)) == len(found)
    assert await token_of(db) is not None


async def _triggers(db: Database) -> list[str]:
    sql = (
        "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'catalogue%'"
        if db.is_postgres
        else "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'catalogue%'"
    )
    async with db.engine.connect() as conn:
        return sorted((await conn.execute(text(sql))).scalars().all())


async def _category(db: Database, code: str) -> uuid.UUID:
    async with db.engine.connect() as conn:
        return (
            await conn.execute(
                select(ServiceCategory.id).where(ServiceCategory.code == code).limit(1)
            )
        ).scalar_one()


async def test_codes_that_are_nobodys_do_not_grow_the_copy_without_bound(
    db: Database, monkeypatch: pytest.MonkeyPatch
):
    """A provider's charges may name any code; each is kept as "not the county's" (a charge
    naming it is refused as unknown), and past the bound the copy starts again."""
    from payments.errors import UnknownCategory
    from payments.marketplace import listings_cache
    from tests.support.money import line

    monkeypatch.setattr(listings_cache, "MAX_ENTRIES", 5)
    w = await seed_world(db)
    await clients(db, w, 1)
    cache = listings_cache_for(db)
    for i in range(12):
        with pytest.raises(UnknownCategory):
            await charge(db, w, [line(f"nobodys-{i}", 1, 100)], customer=phone(0))
        assert cache.entries <= 6, cache.entries
    assert cache.stats.misses == 12
