"""Names are checked where clients are made, whatever the way in (API, CLI, demo, imports):
no control characters, no text-direction overrides; nothing written when refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from payments.budgets import catalogue
from payments.db import Database
from payments.errors import InvalidInput
from payments.models import Client
from payments.uow import UnitOfWork


async def _clients(db: Database) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int((await uow.session.execute(select(func.count(Client.id)))).scalar_one())


@pytest.mark.parametrize(
    "first",
    ["Ai\x00no", "Aino\x1b[31m", "\u202eoniA", "Ai\u2066no", "   ", "A" * 101],
    ids=["nul", "escape", "rlo", "isolate", "blank", "too-long"],
)
async def test_refused_names_write_nothing(db: Database, first: str) -> None:
    org = await catalogue.create_organizer(db, slug="kainuu-names", name="Kainuu")
    before = await _clients(db)
    with pytest.raises(InvalidInput):
        await catalogue.create_client(
            db, organizer_id=org, first_name=first, last_name="Virtanen", phone="0401234567"
        )
    assert await _clients(db) == before


async def test_real_names_are_kept_as_written(db: Database) -> None:
    org = await catalogue.create_organizer(db, slug="kainuu-names2", name="Kainuu")
    made = await catalogue.create_client(
        db,
        organizer_id=org,
        first_name="  Åsa-Märta ",
        last_name="O'Brien Öhman",
        phone="0401234568",
    )
    async with UnitOfWork(db, readonly=True) as uow:
        client = await uow.session.get(Client, made.client_id)
        assert client is not None
        assert (client.first_name, client.last_name) == ("Åsa-Märta", "O'Brien Öhman")
