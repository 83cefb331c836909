"""Notification rules: the low-balance alert fires once per person, envelope and month."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from notifications.dispatcher import Dispatcher
from notifications.rules import Follower, followers_of, get_preferences, set_preferences
from payments.errors import InvalidInput
from payments.outbox import BALANCE_LOW, CHARGE_CAPTURED, ENVELOPE_FUNDED, PAYMENT_REQUESTED
from payments.uow import UnitOfWork
from tests.factories import add_carer
from tests.notifications.helpers import outbox
from tests.support.money import by_wallet, charged, cleaning


async def _dispatch_all(d: Dispatcher) -> None:
    while await d.run_once():
        pass


async def test_low_balance_fires_once_per_person_when_the_threshold_is_crossed(
    db, world, people, hub
):
    d = Dispatcher(db, hub)
    # The carer wants to know below 100 EUR; the client keeps the default (a fifth: 60 EUR).
    await set_preferences(db, people.carer_id, low_balance_cents=10_000)
    paid = by_wallet(world)
    await charged(db, world, cleaning(5), customer=paid)  # 300 - 175 = 125 EUR left: nobody yet
    await _dispatch_all(d)
    assert [t for _, t, _ in await outbox(db)].count(BALANCE_LOW) == 0
    await charged(db, world, cleaning(1), customer=paid)  # 90 EUR: below the carer's 100
    await _dispatch_all(d)
    await charged(db, world, cleaning(1), customer=paid)  # 55 EUR: below the client's 60
    await _dispatch_all(d)
    await charged(db, world, cleaning(1), customer=paid)  # 20 EUR: both already told this month
    await _dispatch_all(d)
    rows = [i for i, t, _ in await outbox(db) if t == BALANCE_LOW]
    assert len(rows) == 2
    assert all(delivered for i, _, delivered in await outbox(db))


async def test_low_balance_can_be_turned_off(db, world, people, hub):
    await set_preferences(db, people.carer_id, types={BALANCE_LOW: False})
    await charged(db, world, cleaning(8), customer=by_wallet(world))  # 20 EUR left
    await _dispatch_all(Dispatcher(db, hub))
    # Only the client (default on) is alerted.
    assert [t for _, t, _ in await outbox(db)].count(BALANCE_LOW) == 1


async def test_preferences_defaults_and_validation(db, world, people):
    prefs = await get_preferences(db, people.carer_id)
    assert prefs.wants(CHARGE_CAPTURED) and prefs.wants(PAYMENT_REQUESTED)
    assert not prefs.wants(ENVELOPE_FUNDED)
    with pytest.raises(InvalidInput):
        await set_preferences(db, people.carer_id, low_balance_cents=-1)
    with pytest.raises(InvalidInput):
        await set_preferences(db, people.carer_id, language="de")


async def test_a_wallets_followers_are_its_client_and_the_carers_who_may_view_it(db, world, people):
    """Who hears of a wallet's events (the dispatcher's rules read them in one statement): its
    client, and each carer whose mandate in force includes ``view``; not a carer who may only
    manage providers, nor one whose mandate has ended."""
    await add_carer(
        db,
        organizer_id=world.organizer_id,
        client_id=world.client_id,
        scopes=("manage-providers",),
        display_name="Liisa",
    )
    await add_carer(
        db,
        organizer_id=world.organizer_id,
        client_id=world.client_id,
        scopes=("view",),
        valid_until=date.today() - timedelta(days=2),
        display_name="Pekka",
    )
    async with UnitOfWork(db, readonly=True) as uow:
        found = await followers_of(uow.session, {world.wallet_id, people.other_wallet})
    assert found[world.wallet_id] == [
        Follower(world.client_principal, "client", True),
        Follower(people.carer_id, "carer", True),
    ]
    assert [f.role for f in found[people.other_wallet]] == ["client"]
