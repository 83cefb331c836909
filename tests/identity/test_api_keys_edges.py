"""API keys on the use cases themselves (both engines): their form, what authenticates, and
revocation, one key or all of a person's, reaching this process's cache at once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from payments.clock import utcnow
from payments.db import Database
from payments.errors import NotFound
from payments.models import ApiKey, Principal
from payments.people import access
from payments.uow import UnitOfWork
from tests.factories import seed_world


@pytest.fixture(autouse=True)
def _empty_cache():
    access.API_KEYS.clear()
    yield
    access.API_KEYS.clear()


async def test_a_key_is_wk_prefix_secret_and_stored_only_as_a_hash(db: Database):
    w = await seed_world(db)
    key = await access.create_api_key(db, w.provider_principal, name="till")
    wk, prefix, secret = key.split("_", 2)
    assert wk == "wk" and len(prefix) == 12 and int(prefix, 16) >= 0
    # 32 random bytes, URL-safe base64 without padding.
    assert len(secret) == 43
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(select(ApiKey).where(ApiKey.prefix == prefix))
        ).scalar_one()
    assert row.principal_id == w.provider_principal and row.name == "till"
    assert row.secret_hash != secret and row.revoked_at is None and row.created_at is not None
    default = await access.create_api_key(db, w.provider_principal)
    async with UnitOfWork(db, readonly=True) as uow:
        names = set((await uow.session.execute(select(ApiKey.name))).scalars())
    assert "default" in names and default != key
    with pytest.raises(NotFound, match=r"^No such principal$"):
        await access.create_api_key(db, uuid.uuid4())


async def test_the_actor_behind_a_key(db: Database):
    w = await seed_world(db)
    key = await access.create_api_key(db, w.provider_principal)
    actor = await access.authenticate_api_key(db, key)
    assert actor is not None
    assert (actor.principal_id, actor.organizer_id, actor.role) == (
        w.provider_principal,
        w.organizer_id,
        "provider",
    )
    assert actor.provider_id == w.provider_id and actor.client_id is None
    assert actor.display_name
    client = await access.authenticate_api_key(
        db, await access.create_api_key(db, w.client_principal)
    )
    assert client is not None and client.role == "client" and client.client_id == w.client_id
    assert client.provider_id is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda k: k.replace("wk_", "wx_", 1),
        lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"),
        lambda k: "wk_" + k.split("_", 2)[1][:11] + "_" + k.split("_", 2)[2],
        lambda k: "wk_" + k.split("_", 2)[1],
        lambda k: "wk_abcdefabcdef_" + k.split("_", 2)[2],
        lambda k: "",
    ],
    ids=["scheme", "secret", "short prefix", "no secret", "unknown prefix", "empty"],
)
async def test_a_malformed_unknown_or_wrong_key_is_nobody(db: Database, mangle):
    w = await seed_world(db)
    key = await access.create_api_key(db, w.provider_principal)
    assert await access.authenticate_api_key(db, mangle(key)) is None
    # Nothing of a refusal is remembered: the right key still works, and is then cached.
    assert await access.authenticate_api_key(db, key) is not None


async def test_a_revoked_key_is_refused_at_once_in_this_process(db: Database):
    w = await seed_world(db)
    key = await access.create_api_key(db, w.provider_principal)
    other = await access.create_api_key(db, w.provider_principal)
    assert await access.authenticate_api_key(db, key) is not None
    assert await access.authenticate_api_key(db, other) is not None
    prefix = key.split("_", 2)[1]
    assert await access.revoke_api_key(db, prefix) is True
    assert await access.authenticate_api_key(db, key) is None
    assert await access.authenticate_api_key(db, other) is not None
    # Only that key was revoked, in the database too (not just this process's cache).
    access.API_KEYS.clear()
    assert await access.authenticate_api_key(db, other) is not None
    # Revoking it again, or a prefix nobody has: nothing to revoke.
    assert await access.revoke_api_key(db, prefix) is False
    assert await access.revoke_api_key(db, "000000000000") is False


async def test_revoking_all_keys_of_a_person(db: Database):
    w = await seed_world(db)
    keys = [await access.create_api_key(db, w.client_principal) for _ in range(2)]
    kept = await access.create_api_key(db, w.provider_principal)
    for key in (*keys, kept):
        assert await access.authenticate_api_key(db, key) is not None
    now = utcnow()
    async with UnitOfWork(db) as uow:
        prefixes = await access.revoke_api_keys_of(uow.session, w.client_principal, now)
        await uow.commit()
    assert sorted(prefixes) == sorted(k.split("_", 2)[1] for k in keys)
    access.forget_api_keys(db, prefixes)
    for key in keys:
        assert await access.authenticate_api_key(db, key) is None
    assert await access.authenticate_api_key(db, kept) is not None
    async with UnitOfWork(db, readonly=True) as uow:
        revoked = (
            (
                await uow.session.execute(
                    select(ApiKey.revoked_at).where(ApiKey.prefix.in_(prefixes))
                )
            )
            .scalars()
            .all()
        )
    assert len(revoked) == 2 and all(r is not None for r in revoked)
    async with UnitOfWork(db) as uow:
        assert await access.revoke_api_keys_of(uow.session, w.client_principal, now) == ()
        await uow.commit()


async def test_a_checked_key_is_served_from_the_cache_until_forgotten(db: Database):
    w = await seed_world(db)
    key = await access.create_api_key(db, w.provider_principal)
    first = await access.authenticate_api_key(db, key)
    prefix = key.split("_", 2)[1]
    # Revoked behind this process's back (another process): still trusted from the cache ...
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(ApiKey).where(ApiKey.prefix == prefix).values(revoked_at=utcnow())
        )
        await uow.commit()
    assert await access.authenticate_api_key(db, key) == first
    # ... until this process forgets it.
    access.forget_api_keys(db, (prefix,))
    assert await access.authenticate_api_key(db, key) is None


async def test_actor_of_a_principal(db: Database):
    w = await seed_world(db)
    async with UnitOfWork(db, readonly=True) as uow:
        principal = await uow.session.get(Principal, w.client_principal)
    assert principal is not None
    actor = access.actor_of(principal)
    assert actor == access.Actor(
        principal_id=w.client_principal,
        organizer_id=w.organizer_id,
        role="client",
        display_name=principal.display_name,
        client_id=w.client_id,
        provider_id=None,
    )


async def test_actor_of_a_provider_names_its_provider(db: Database):
    w = await seed_world(db)
    async with UnitOfWork(db, readonly=True) as uow:
        principal = await uow.session.get(Principal, w.provider_principal)
    assert principal is not None
    actor = access.actor_of(principal)
    assert (actor.role, actor.provider_id, actor.client_id) == ("provider", w.provider_id, None)


async def test_actor_of_an_admin_is_an_admin(db: Database):
    """The county's admin flag travels with the principal into its actor (the staff screens'
    guard reads ``actor.admin``)."""
    w = await seed_world(db)
    async with UnitOfWork(db) as uow:
        principal = await uow.session.get(Principal, w.case_manager)
        assert principal is not None
        principal.admin = True
        await uow.commit()
    async with UnitOfWork(db, readonly=True) as uow:
        principal = await uow.session.get(Principal, w.case_manager)
    assert principal is not None
    assert access.actor_of(principal).admin is True
