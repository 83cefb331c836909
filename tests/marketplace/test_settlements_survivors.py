"""Settlement runs at the edges the mutation run found untested (issue 23): the date limit,
the progress count, the organizer filter, a zero or one-cent balance, the cut-off's zone,
and reading beside a writer."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, timedelta

import pytest
from sqlalchemy import select

from payments.db import Database
from payments.errors import InvalidInput
from payments.marketplace import settlements as st
from payments.models import Account
from payments.uow import UnitOfWork
from tests.factories import give_price, seed_world
from tests.marketplace.helpers import utc
from tests.marketplace.test_settlements_edges import DEBTOR, _payout
from tests.support.money import charged, exactly, refund

P = "2031-01"


def test_the_cut_off_is_in_utc_itself() -> None:
    """Not the machine's zone: ``UTC`` itself, whatever the local zone is."""
    assert st.cutoff_instant(date(2031, 1, 10)).tzinfo is UTC


async def test_the_settlement_date_may_be_at_most_one_day_ahead(db: Database):
    cutoff = st.cutoff_instant(date(2031, 1, 10))  # 2031-01-10 22:00 UTC
    run = await st.settle_providers(db, date(2031, 1, 10), now=cutoff - timedelta(days=1))
    assert run.settled == [] and run.providers_seen == 0
    with pytest.raises(InvalidInput) as refused:
        await st.settle_providers(db, date(2031, 1, 10), now=cutoff - timedelta(days=1, seconds=1))
    assert str(refused.value) == "The settlement date may not be in the future"
    with pytest.raises(InvalidInput):
        await st.settle_providers(db, date(2031, 1, 10), now=cutoff - timedelta(days=1, hours=12))


async def test_a_run_counts_its_providers_and_reports_progress(db: Database):
    w = await seed_world(db, period=P)
    await give_price(db, w.other_provider_id, "siivous", 100)
    await charged(db, w, exactly(3500), now=utc(P, 3))
    await charged(db, w, exactly(1200), now=utc(P, 3), provider_id=w.other_provider_id)
    seen: list[tuple[int, int]] = []
    run = await st.settle_providers(
        db, date(2031, 1, 5), now=utc(P, 6), progress=lambda done, total: seen.append((done, total))
    )
    assert seen == [(0, 2), (1, 2), (2, 2)]
    assert run.providers_seen == 2 and len(run.settled) == 2


async def test_a_run_of_one_organizer_settles_only_its_providers(db: Database):
    w = await seed_world(db, period=P)
    other = await seed_world(db, period=P)
    await charged(db, w, exactly(3500), now=utc(P, 3))
    await charged(db, other, exactly(2500), now=utc(P, 3))
    run = await st.settle_providers(
        db, date(2031, 1, 5), organizer_id=w.organizer_id, now=utc(P, 6)
    )
    assert [(s.provider_id, s.amount_cents) for s in run.settled] == [(w.provider_id, 3500)]
    assert run.providers_seen == 1


async def test_a_balance_of_nothing_is_carried_and_of_one_cent_is_paid(db: Database):
    w = await seed_world(db, period=P)
    await give_price(db, w.other_provider_id, "siivous", 100)
    zero = await charged(db, w, exactly(3500), now=utc(P, 3))
    await refund(db, w, zero, 3500, now=utc(P, 4))
    one = await charged(db, w, exactly(1200), now=utc(P, 3), provider_id=w.other_provider_id)
    await refund(db, w, one, 1199, provider_id=w.other_provider_id, now=utc(P, 4))
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    assert [(c.provider_id, c.net_cents) for c in run.carried] == [(w.provider_id, 0)]
    assert [(s.provider_id, s.amount_cents) for s in run.settled] == [(w.other_provider_id, 1)]


async def test_a_run_and_its_ids_are_looked_up_beside_a_writer_without_waiting(db: Database):
    """Finding who to settle and which settlements a file pays only read: on SQLite they do
    not queue behind a writer's lock."""
    w = await seed_world(db, period=P)
    async with UnitOfWork(db) as writer:
        await writer.session.execute(select(Account.id).limit(1))
        run = await asyncio.wait_for(
            st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6)), timeout=5
        )
        ids = await asyncio.wait_for(
            st.settlement_ids_until(db, organizer_id=w.organizer_id, until=date(2031, 1, 5)),
            timeout=5,
        )
        await writer.rollback()
    assert run.providers_seen == 0 and ids == []


def test_the_bank_file_spells_names_in_the_sepa_character_set() -> None:
    """Banks refuse letters outside the SEPA set: the file writes Ä and Ö as A and O."""
    item = _payout("Äijälä & Co Öy", "FI5542345670000081", "NDEAFIHH", 5500)
    xml = st.pain001(DEBTOR, [item], date(2031, 1, 12)).decode()
    assert "<Nm>Aijala &amp; Co Oy</Nm>" in xml and "Ä" not in xml
