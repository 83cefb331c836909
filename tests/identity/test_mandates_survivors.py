"""Mandates at the edges the whole mutation run of 4 December 2026 found untested (issue 23;
tests/mutation/survivors.toml): a carer's pending list orders clients of one last name by
first name."""

from __future__ import annotations

from sqlalchemy import update

from payments.db import Database
from payments.models import Client
from payments.people import mandates as m
from payments.people.access import Actor
from payments.uow import UnitOfWork
from tests.factories import seed_world
from tests.identity.test_mandates_edges import _actors, _second_client


async def test_a_carers_pending_list_orders_one_last_name_by_first_name(db: Database) -> None:
    """Two Virtanens ask the same carer: Aino comes before Eino whatever their ids (the one
    with the smaller id is named Eino, so an order by last name and id alone would put Eino
    first)."""
    w = await seed_world(db)
    a = await _actors(db, w)
    carer = a["carer_a"]
    other = await _second_client(db, w)
    smaller, larger = sorted((w.client_id, other), key=str)
    async with UnitOfWork(db) as uow:
        for client_id, first_name in ((smaller, "Eino"), (larger, "Aino")):
            await uow.session.execute(
                update(Client)
                .where(Client.id == client_id)
                .values(first_name=first_name, last_name="Virtanen")
            )
        await uow.commit()
    for client_id in (smaller, larger):
        asker = Actor(a["client"].principal_id, w.organizer_id, "client", "", client_id=client_id)
        await m.set_mandate(
            db, asker, client_id=client_id, carer_id=carer.principal_id, scopes=["view"]
        )
    waiting = await m.pending_mandates(db, carer)
    assert [(v.client_name, v.client_id) for v in waiting] == [
        ("Aino Virtanen", larger),
        ("Eino Virtanen", smaller),
    ]
