"""An app client bound to the test database, with a seeded county and keys for every role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from payments.budgets import catalogue
from payments.db import Database
from payments.people.mandates import grant_mandate
from tests.factories import World, add_carer, api_key_for, seed_world
from tests.support.api import Foreign, Keys
from wallet_api.app import create_app
from wallet_api.settings import Settings


@pytest.fixture
async def world(db: Database) -> World:
    return await seed_world(db)


@pytest.fixture
async def keys(db: Database, world: World) -> Keys:
    carers = {}
    for name, scopes in (
        ("Katsoja", ("view",)),
        ("Matti", ("view", "approve")),
        ("Hoitaja", ("view", "manage-providers")),
    ):
        carer = await catalogue.create_principal(
            db, organizer_id=world.organizer_id, role="carer", display_name=name
        )
        await grant_mandate(db, carer_id=carer, client_id=world.client_id, scopes=scopes)
        carers[scopes[-1]] = await api_key_for(db, carer)
    carer_none = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Outsider"
    )
    other_client = await catalogue.create_client(
        db, organizer_id=world.organizer_id, first_name="Eino", last_name="K", phone="0405550000"
    )
    other_org = await catalogue.create_organizer(db, slug="eksote-x", name="Eksote")
    foreign_cm = await catalogue.create_principal(
        db, organizer_id=other_org, role="case_manager", display_name="Other"
    )
    return Keys(
        provider=await api_key_for(db, world.provider_principal),
        other_provider=await api_key_for(db, world.other_provider_principal),
        client=await api_key_for(db, world.client_principal),
        case_manager=await api_key_for(db, world.case_manager),
        carer_view=carers["view"],
        carer_approve=carers["approve"],
        carer_providers=carers["manage-providers"],
        carer_none=await api_key_for(db, carer_none),
        foreign_case_manager=await api_key_for(db, foreign_cm),
        other_client=await api_key_for(db, other_client.principal_id),
    )


@pytest.fixture
async def foreign(db: Database, world: World) -> Foreign:
    """A second organizer beside ``world``, seeded the same way."""
    other = await seed_world(db, phone="040 765 4321")
    carer = await add_carer(
        db,
        organizer_id=other.organizer_id,
        client_id=other.client_id,
        scopes=("view", "approve", "manage-providers"),
        display_name="Vieras",
    )
    return Foreign(
        world=other,
        client=await api_key_for(db, other.client_principal),
        carer=await api_key_for(db, carer),
        provider=await api_key_for(db, other.provider_principal),
        case_manager=await api_key_for(db, other.case_manager),
    )


@pytest.fixture
async def client(db: Database) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = Settings(
        database_url=db.url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
    )
    # The test client runs the app on its own event loop, so the app gets its own engine.
    app = create_app(settings)
    async with AsyncTestClient(app=app) as c:
        yield c
