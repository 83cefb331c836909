"""Settlements at their edges (both engines where a database is involved): the reference and
the cut-off, reading settlements back, the bank file's refusals and the CSV's rows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from stdnum import iso11649

from payments.db import Database
from payments.errors import InvalidInput, NotFound
from payments.marketplace import settlements as st
from payments.results import Happened
from tests.factories import add_bank_profile, give_price, seed_world
from tests.marketplace.helpers import utc
from tests.support.money import charged, exactly, refund

P = "2031-01"


def test_the_reference_is_rf_check_date_and_twelve_digits_of_the_id() -> None:
    sid = uuid.UUID(int=123_456_789_012_345)
    ref = st.creditor_reference(sid, date(2031, 1, 10))
    assert ref.startswith("RF") and len(ref) == 4 + 8 + 12
    assert ref[4:] == "20310110" + f"{sid.int % 10**12:012d}"
    assert iso11649.is_valid(ref)
    small = st.creditor_reference(uuid.UUID(int=7), date(2031, 2, 1))
    assert small[4:] == "20310201000000000007" and iso11649.is_valid(small)


def test_the_cut_off_is_the_next_helsinki_midnight_in_utc() -> None:
    assert st.cutoff_instant(date(2031, 1, 10)) == datetime(2031, 1, 10, 22, tzinfo=UTC)
    assert st.cutoff_instant(date(2031, 7, 10)) == datetime(2031, 7, 10, 21, tzinfo=UTC)
    assert st.cutoff_instant(date(2031, 12, 31)) == datetime(2031, 12, 31, 22, tzinfo=UTC)


def test_the_schedule_reads_its_days() -> None:
    assert st.scheduled_until(date(2031, 1, 16), " 15 , ,LAST") == date(2031, 1, 15)
    assert st.scheduled_until(date(2031, 1, 2), "31") == date(2030, 12, 31)
    assert st.scheduled_until(date(2031, 1, 1), "1") == date(2030, 12, 1)
    assert st.scheduled_until(date(2031, 5, 1), "last") == date(2031, 4, 30)
    # 62 days back and no such day: none.
    assert st.scheduled_until(date(2031, 3, 1), "31") == date(2031, 1, 31)
    assert st.scheduled_until(date(2031, 5, 1), "") is None
    for bad in ("0", "32", "x", "-1"):
        with pytest.raises(ValueError, match=r"^not a day of the month or 'last': "):
            st.scheduled_until(date(2031, 3, 2), bad)


def _payout(name: str, iban: str | None, bic: str | None = None, cents: int = 12_345):
    return st.Payout(
        settlement_id=uuid.UUID(int=1),
        organizer_id=uuid.UUID(int=2),
        provider_id=uuid.UUID(int=3),
        provider_name=name,
        business_id="1234567-1",
        iban=iban,
        bic=bic,
        reference=st.creditor_reference(uuid.UUID(int=1), date(2031, 1, 10)),
        until=date(2031, 1, 10),
        amount_cents=cents,
    )


DEBTOR = st.Debtor(name="Kainuun hyvinvointialue", iban="FI2112345600000785", bic="NDEAFIHH")


def test_the_bank_file_refuses_missing_accounts_by_name_and_an_empty_batch() -> None:
    with pytest.raises(InvalidInput, match=r"^No bank account for: Kuura, Hiltunen$"):
        st.pain001(DEBTOR, [_payout("Kuura", None), _payout("Hiltunen", "")], date(2031, 1, 12))
    with pytest.raises(InvalidInput, match=r"^Nothing to pay$"):
        st.pain001(DEBTOR, [], date(2031, 1, 12))


def test_the_bank_file_pays_each_item_with_its_reference() -> None:
    items = [
        _payout("Kuura", "FI5542345670000081", "NDEAFIHH", 5500),
        _payout("Hiltunen", "FI1410093000123458", None, 1),
    ]
    xml = st.pain001(DEBTOR, items, date(2031, 1, 12)).decode()
    assert xml.count("<CdtTrfTxInf>") == 2
    assert '<InstdAmt Ccy="EUR">55.00</InstdAmt>' in xml
    assert '<InstdAmt Ccy="EUR">0.01</InstdAmt>' in xml
    assert f"<Ustrd>{items[0].reference} Tilitys 10.01.2031</Ustrd>" in xml
    assert f"<EndToEndId>{items[0].reference}</EndToEndId>" in xml
    assert "<ReqdExctnDt>2031-01-12</ReqdExctnDt>" in xml
    assert xml.count("<BIC>NDEAFIHH</BIC>") == 2  # the debtor's and Kuura's; Hiltunen has none
    assert "Kainuun hyvinvointialue" in xml


def test_the_csv_has_one_row_per_payout_in_cents_and_euros() -> None:
    rows = st.payouts_csv([_payout("Kuura", "FI5542345670000081", "NDEAFIHH", 5505)])
    lines = rows.decode("utf-8-sig").strip().splitlines()
    assert lines[0].split(",") == list(st.CSV_COLUMNS)
    fields = lines[1].split(",")
    assert fields[3] == "Kuura" and fields[4] == "1234567-1"
    assert fields[5:] == ["FI5542345670000081", "NDEAFIHH", "2031-01-10", "5505", "55.05"]
    assert len(lines) == 2


def test_a_run_totals_what_it_settled() -> None:
    run = st.SettlementRun(batch_id=uuid.uuid4(), until=date(2031, 1, 10), cutoff_at=utc(P))
    assert run.total_cents == 0 and run.settled == [] and run.carried == []
    run.settled.append(st.SettledProvider(uuid.uuid4(), uuid.uuid4(), "a", "RF", 100, 1))
    run.settled.append(st.SettledProvider(uuid.uuid4(), uuid.uuid4(), "b", "RF", 250, 2))
    assert run.total_cents == 350


async def test_reading_settlements_back(db: Database):
    w = await seed_world(db, period=P)
    await give_price(db, w.other_provider_id, "siivous", 100)
    other = await seed_world(db, period=P)
    await charged(db, w, exactly(3500), now=utc(P, 3))
    await charged(db, w, exactly(2500), now=utc(P, 3), provider_id=w.other_provider_id)
    first = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    await charged(db, w, exactly(1000), now=utc(P, 7))
    second = await st.settle_providers(db, date(2031, 1, 8), now=utc(P, 9))
    assert [s.amount_cents for s in first.settled] == [3500, 2500]
    assert [s.amount_cents for s in second.settled] == [1000]
    assert second.settled[0].lines == 1 and first.settled[0].lines == 1
    listed = await st.list_settlements(db, organizer_id=w.organizer_id, provider_id=None)
    # Newest first.
    assert listed[0].amount_cents == 1000
    assert sorted(v.amount_cents for v in listed) == [1000, 2500, 3500]
    mine = await st.list_settlements(db, organizer_id=w.organizer_id, provider_id=w.provider_id)
    assert [(v.amount_cents, v.lines, v.provider_name) for v in mine] == [
        (1000, 1, "Siivouspalvelu Kuura Oy"),
        (3500, 1, "Siivouspalvelu Kuura Oy"),
    ]
    assert mine[0].until == date(2031, 1, 8) and mine[0].reference == second.settled[0].reference
    one = await st.list_settlements(db, organizer_id=w.organizer_id, provider_id=None, limit=0)
    assert len(one) == 1
    assert await st.list_settlements(db, organizer_id=other.organizer_id, provider_id=None) == []
    view, lines = await st.get_settlement(
        db, mine[1].id, organizer_id=w.organizer_id, provider_id=w.provider_id
    )
    assert view == mine[1]
    assert [(ln.kind, ln.period, ln.amount_cents) for ln in lines] == [("charge", P, 3500)]
    assert lines[0].charge_id is not None and lines[0].booked_at is not None
    for org, prov in (
        (other.organizer_id, None),
        (w.organizer_id, w.other_provider_id),
    ):
        with pytest.raises(NotFound, match=r"^No such settlement$"):
            await st.get_settlement(db, mine[1].id, organizer_id=org, provider_id=prov)
    # The bank file's payouts: in the order asked, unknown ids left out.
    ids = [mine[0].id, uuid.uuid4(), mine[1].id]
    paid = await st.payouts(db, ids)
    assert [p.settlement_id for p in paid] == [mine[0].id, mine[1].id]
    assert paid[0].business_id == "1234567-1" and paid[0].iban is None
    assert paid[0].amount_cents == 1000 and paid[0].until == date(2031, 1, 8)
    assert await st.payouts(db, []) == []
    until = await st.settlement_ids_until(db, organizer_id=w.organizer_id, until=date(2031, 1, 5))
    refs = {v.id: v.reference for v in listed}
    assert len(until) == 2 and [refs[i] for i in until] == sorted(refs[i] for i in until)
    assert (
        await st.settlement_ids_until(db, organizer_id=w.organizer_id, until=date(2031, 1, 6)) == []
    )


async def test_payouts_carry_the_providers_bank_account(db: Database):
    w = await seed_world(db, period=P)
    await charged(db, w, exactly(3500), now=utc(P, 3))
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    await add_bank_profile(db, w, iban="FI5542345670000081", bic="NDEAFIHH")
    (paid,) = await st.payouts(db, [run.settled[0].settlement_id])
    assert (paid.iban, paid.bic, paid.provider_name) == (
        "FI5542345670000081",
        "NDEAFIHH",
        "Siivouspalvelu Kuura Oy",
    )


async def test_a_refund_larger_than_the_open_charges_is_carried(db: Database):
    w = await seed_world(db, period=P)
    c = await charged(db, w, exactly(3500), now=utc(P, 3))
    await st.settle_providers(db, date(2031, 1, 4), now=utc(P, 5))
    refunded = await refund(db, w, c, 1000, now=utc(P, 6))
    assert refunded.what is Happened.CREATED and not refunded.replayed
    run = await st.settle_providers(db, date(2031, 1, 7), now=utc(P, 8))
    assert run.settled == [] and run.providers_seen == 1
    assert run.carried == [st.CarriedProvider(w.provider_id, "Siivouspalvelu Kuura Oy", -1000)]
    assert run.until == date(2031, 1, 7) and run.cutoff_at == st.cutoff_instant(date(2031, 1, 7))
