"""A minimum payout (issue 18): a provider owed less than it is carried to a later settlement,
whose payout then includes that money; nothing is lost or paid twice."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from payments.books import check_books
from payments.db import Database
from payments.errors import InvalidInput
from payments.marketplace.settlements import settle_providers
from payments.models import Settlement
from payments.uow import UnitOfWork
from tests.factories import add_bank_profile, seed_world
from tests.marketplace.helpers import utc
from tests.support.money import charged, exactly
from wallet_api.settings import Settings

P = "2024-01"  # in the past: a settlement may not reach into the future


async def _settlements(db: Database) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Settlement)) or 0)


async def test_a_payout_below_the_minimum_is_carried_and_paid_with_the_next(db: Database):
    w = await seed_world(db, period=P)
    await add_bank_profile(db, w, iban="FI2112345600000785", bic="NDEAFIHH")
    await charged(db, w, exactly(500), now=utc(P, 3))

    first = await settle_providers(db, date(2024, 1, 10), minimum_payout_cents=1000)
    assert first.settled == []
    (carried,) = first.carried
    assert (carried.provider_id, carried.net_cents) == (w.provider_id, 500)
    assert await _settlements(db) == 0

    await charged(db, w, exactly(700), now=utc(P, 12))
    second = await settle_providers(db, date(2024, 1, 15), minimum_payout_cents=1000)
    (paid,) = second.settled
    assert (paid.provider_id, paid.amount_cents, paid.lines) == (w.provider_id, 1200, 2)
    assert second.carried == []

    # At exactly the minimum it is paid; a rerun pays nothing more.
    await charged(db, w, exactly(1000), now=utc(P, 16))
    third = await settle_providers(db, date(2024, 1, 20), minimum_payout_cents=1000)
    assert [s.amount_cents for s in third.settled] == [1000]
    again = await settle_providers(db, date(2024, 1, 20), minimum_payout_cents=1000)
    assert again.settled == [] and again.carried == []
    report = await check_books(db)
    assert report.ok, report.violations


async def test_a_negative_minimum_is_refused_and_settles_nothing(db: Database):
    w = await seed_world(db, period=P)
    await charged(db, w, exactly(500), now=utc(P, 3))
    with pytest.raises(InvalidInput):
        await settle_providers(db, date(2024, 1, 10), minimum_payout_cents=-1)
    assert await _settlements(db) == 0


def test_the_setting_is_read_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLET_SETTLEMENT_MINIMUM_PAYOUT_CENTS", "1500")
    assert Settings.from_env().settlement_minimum_payout_cents == 1500
    monkeypatch.setenv("WALLET_SETTLEMENT_MINIMUM_PAYOUT_CENTS", "-5")
    with pytest.raises(ValueError, match="MINIMUM_PAYOUT"):
        Settings.from_env()


def test_a_setting_that_is_not_a_number_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not Python's "invalid literal for int()": the setting's name and what it must be."""
    monkeypatch.setenv("WALLET_SETTLEMENT_MINIMUM_PAYOUT_CENTS", "10 €")
    with pytest.raises(ValueError, match=r"WALLET_SETTLEMENT_MINIMUM_PAYOUT_CENTS must be a whole"):
        Settings.from_env()
    monkeypatch.setenv("WALLET_SETTLEMENT_MINIMUM_PAYOUT_CENTS", "")  # empty: the default
    assert Settings.from_env().settlement_minimum_payout_cents == 0
