"""API keys are checked against the database once and then trusted by the process for a few
seconds (``payments.people.access.API_KEYS``). Revocation: at once in the revoking process,
within the cache's time in any other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, update

from payments.clock import utcnow
from payments.db import Database
from payments.models import ApiKey
from payments.people.access import API_KEYS, authenticate_api_key, revoke_api_key
from payments.uow import UnitOfWork
from tests.factories import World, api_key_for
from tests.support.api import auth
from tests.unit.test_key_cache import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """The cache's monotonic clock, under the test's control."""
    c = Clock()
    monkeypatch.setattr(API_KEYS, "clock", c)
    API_KEYS.clear()
    yield c
    API_KEYS.clear()


class Statements:
    def __init__(self, db: Database) -> None:
        self.count = 0

        def count(*_: Any) -> None:
            self.count += 1

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)


async def revoke_elsewhere(db: Database, key: str) -> None:
    """Revoke as another process would: in the database, without touching this process's
    cache."""
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(ApiKey).where(ApiKey.prefix == key.split("_")[1]).values(revoked_at=utcnow())
        )
        await uow.commit()


async def test_a_checked_key_costs_no_statement_within_the_cache_time(db, world: World, clock):
    key = await api_key_for(db, world.provider_principal)
    seen = Statements(db)
    first = await authenticate_api_key(db, key)
    assert first is not None and first.provider_id == world.provider_id
    used = seen.count
    assert used > 0
    clock.now += API_KEYS.ttl - 0.1
    assert await authenticate_api_key(db, key) == first
    assert seen.count == used
    clock.now += 0.2  # expired: checked against the database again
    assert await authenticate_api_key(db, key) == first
    assert seen.count > used


async def test_revoking_in_this_process_takes_effect_at_once(db, world: World, clock):
    key = await api_key_for(db, world.provider_principal)
    assert await authenticate_api_key(db, key) is not None
    assert await revoke_api_key(db, key.split("_")[1])
    assert await authenticate_api_key(db, key) is None


async def test_revoking_in_another_process_takes_effect_within_the_cache_time(
    db, world: World, clock
):
    key = await api_key_for(db, world.provider_principal)
    assert await authenticate_api_key(db, key) is not None
    await revoke_elsewhere(db, key)
    # The bound this cache accepts: another process's revocation is seen within ttl seconds.
    clock.now += API_KEYS.ttl / 2
    assert await authenticate_api_key(db, key) is not None
    clock.now += API_KEYS.ttl / 2 + 0.01
    assert await authenticate_api_key(db, key) is None
    clock.now += 100
    assert await authenticate_api_key(db, key) is None  # refusals are not cached as valid


async def test_a_wrong_secret_for_a_cached_prefix_is_refused(db, world: World, clock):
    key = await api_key_for(db, world.provider_principal)
    assert await authenticate_api_key(db, key) is not None
    wk, prefix, secret = key.split("_", 2)
    forged = f"{wk}_{prefix}_{'A' if secret[0] != 'A' else 'B'}{secret[1:]}"
    assert await authenticate_api_key(db, forged) is None
    assert await authenticate_api_key(db, key) is not None


async def test_keys_of_two_databases_do_not_mix(db, world: World, clock):
    key = await api_key_for(db, world.provider_principal)
    assert await authenticate_api_key(db, key) is not None
    other = Database(engine=db.engine, url=db.url + "?other")
    # Same token, another database: not served from the first one's entry.
    seen = Statements(db)
    assert await authenticate_api_key(other, key) is not None
    assert seen.count > 0


async def test_over_http_another_process_revocation_is_refused_after_the_cache_time(
    client, db, world: World, clock
):
    key = await api_key_for(db, world.provider_principal)
    assert (await client.get("/api/me", headers=auth(key))).status_code == 200
    await revoke_elsewhere(db, key)
    assert (await client.get("/api/me", headers=auth(key))).status_code == 200
    clock.now += API_KEYS.ttl + 0.01
    r = await client.get("/api/me", headers=auth(key))
    assert r.status_code == 401


async def test_own_account_ids_are_looked_up_once_per_process(db, world: World):
    """``transfers.provider_payable_account`` / ``organizer_account``: ids that never change."""
    from payments.ledger import transfers
    from payments.vocabulary import AccountKind
    from tests.factories import organizer_account_id, provider_payable_id

    transfers._OWN_ACCOUNTS.clear()
    seen = Statements(db)
    for _ in range(2):
        async with UnitOfWork(db, readonly=True) as uow:
            payable = await transfers.provider_payable_account(uow.session, world.provider_id)
            budget = await transfers.organizer_account(
                uow.session, world.organizer_id, AccountKind.ORGANIZER_BUDGET
            )
            expired = await transfers.organizer_account(
                uow.session, world.organizer_id, AccountKind.EXPIRED
            )
        if _ == 0:
            first_round = seen.count
    assert first_round >= 3 and seen.count == first_round  # the second round sent nothing
    assert payable == await provider_payable_id(db, world.provider_id)
    assert budget == await organizer_account_id(
        db, world.organizer_id, AccountKind.ORGANIZER_BUDGET
    )
    assert expired == await organizer_account_id(db, world.organizer_id, AccountKind.EXPIRED)
    assert payable != budget != expired
