"""Settlement runs at the edges the mutation run found untested (issue 23): the date limit,
the progress count, the organizer filter, a zero or one-cent balance, the cut-off's zone,
reading beside a writer, the minimum payout at its limit, the order of one day's
settlements, and the bank file's XML declaration."""

from __future__ import annotations

import asyncio
import re
import uuid
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


async def test_the_settlement_date_may_be_at_most_one_day_ahead(db: Database) -> None:
    cutoff = st.cutoff_instant(date(2031, 1, 10))  # 2031-01-10 22:00 UTC
    run = await st.settle_providers(db, date(2031, 1, 10), now=cutoff - timedelta(days=1))
    assert run.settled == [] and run.providers_seen == 0
    with pytest.raises(InvalidInput) as refused:
        await st.settle_providers(db, date(2031, 1, 10), now=cutoff - timedelta(days=1, seconds=1))
    assert str(refused.value) == "The settlement date may not be in the future"
    with pytest.raises(InvalidInput):
        await st.settle_providers(db, date(2031, 1, 10), now=cutoff - timedelta(days=1, hours=12))


async def test_a_run_counts_its_providers_and_reports_progress(db: Database) -> None:
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


async def test_a_run_of_one_organizer_settles_only_its_providers(db: Database) -> None:
    w = await seed_world(db, period=P)
    other = await seed_world(db, period=P)
    await charged(db, w, exactly(3500), now=utc(P, 3))
    await charged(db, other, exactly(2500), now=utc(P, 3))
    run = await st.settle_providers(
        db, date(2031, 1, 5), organizer_id=w.organizer_id, now=utc(P, 6)
    )
    assert [(s.provider_id, s.amount_cents) for s in run.settled] == [(w.provider_id, 3500)]
    assert run.providers_seen == 1


async def test_a_balance_of_nothing_is_carried_and_of_one_cent_is_paid(db: Database) -> None:
    w = await seed_world(db, period=P)
    await give_price(db, w.other_provider_id, "siivous", 100)
    zero = await charged(db, w, exactly(3500), now=utc(P, 3))
    await refund(db, w, zero, 3500, now=utc(P, 4))
    one = await charged(db, w, exactly(1200), now=utc(P, 3), provider_id=w.other_provider_id)
    await refund(db, w, one, 1199, provider_id=w.other_provider_id, now=utc(P, 4))
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    assert [(c.provider_id, c.net_cents) for c in run.carried] == [(w.provider_id, 0)]
    assert [(s.provider_id, s.amount_cents) for s in run.settled] == [(w.other_provider_id, 1)]


async def test_a_run_and_its_ids_are_looked_up_beside_a_writer_without_waiting(
    db: Database,
) -> None:
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


# Written for the survivors of the whole run of 4 December 2026, 05:43-06:28 UTC.


async def test_a_balance_of_exactly_the_minimum_is_paid_and_a_cent_less_is_carried(
    db: Database,
) -> None:
    w = await seed_world(db, period=P)
    await give_price(db, w.other_provider_id, "siivous", 100)
    await charged(db, w, exactly(1000), now=utc(P, 3))
    await charged(db, w, exactly(999), now=utc(P, 3), provider_id=w.other_provider_id)
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6), minimum_payout_cents=1000)
    assert [(s.provider_id, s.amount_cents) for s in run.settled] == [(w.provider_id, 1000)]
    assert [(c.provider_id, c.net_cents) for c in run.carried] == [(w.other_provider_id, 999)]


async def test_a_negative_minimum_payout_is_refused_with_its_reason(db: Database) -> None:
    with pytest.raises(InvalidInput) as refused:
        await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6), minimum_payout_cents=-1)
    assert str(refused.value) == "The minimum payout may not be negative"


async def test_the_settlements_of_one_day_are_listed_in_reference_order(db: Database) -> None:
    """What one bank file pays: every run up to that day, in the order of the references. The
    references are random, so runs are made until the order they were made in is not the
    order of their references (after two runs half the time)."""
    w = await seed_world(db, period=P)
    until = date(2031, 1, 5)
    made: list[tuple[str, uuid.UUID]] = []
    for minute in range(12):
        await charged(db, w, exactly(100 + minute), now=utc(P, 3) + timedelta(minutes=minute))
        run = await st.settle_providers(db, until, now=utc(P, 6) + timedelta(minutes=minute))
        (settled,) = run.settled
        made.append((settled.reference, settled.settlement_id))
        if made != sorted(made):
            break
    assert made != sorted(made), "twelve runs made in reference order: 1 in 479,001,600"
    ids = await st.settlement_ids_until(db, organizer_id=w.organizer_id, until=until)
    assert ids == [settlement_id for _, settlement_id in sorted(made)]


def test_the_bank_file_declares_itself_xml_in_utf_8() -> None:
    """SEPA messages are UTF-8 (the EPC implementation guidelines), and the file says so in
    its XML declaration, as sepaxml's own export does before the structured references are
    written in."""
    item = _payout("Kuura", "FI5542345670000081", "NDEAFIHH", 5500)
    xml = st.pain001(DEBTOR, [item], date(2031, 1, 12))
    declaration = re.match(rb"<\?xml [^>]*\?>", xml)
    assert declaration is not None, xml[:60]
    assert re.fullmatch(
        rb"<\?xml version=['\"]1\.0['\"] encoding=['\"]utf-8['\"]\?>", declaration[0], re.I
    ), declaration[0]
