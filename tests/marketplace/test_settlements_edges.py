"""Settlements at their edges (both engines where a database is involved): the reference and
the cut-off, reading settlements back, the bank file's refusals and the CSV's rows."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from lxml import etree
from sqlalchemy import delete, insert, select, update
from stdnum import iso11649

from payments.books import check_books
from payments.db import Database
from payments.errors import InvalidInput, NotFound
from payments.marketplace import settlements as st
from payments.models import Account, Organizer, Settlement, SettlementLine, Transfer
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    World,
    add_bank_profile,
    assert_books_ok,
    give_price,
    organizer_account_id,
    provider_payable_id,
    seed_world,
)
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
    # An empty part is skipped, not the end of the list.
    assert st.scheduled_until(date(2031, 2, 1), "15,,last") == date(2031, 1, 31)
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
    assert f"<Cd>SCOR</Cd></CdOrPrtry><Issr>ISO</Issr></Tp><Ref>{items[0].reference}</Ref>" in xml
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


# --- the files of a run -----------------------------------------------------------------------

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


async def _slug(db: Database, organizer_id: uuid.UUID) -> str:
    async with UnitOfWork(db, readonly=True) as uow:
        found = await uow.session.get(Organizer, organizer_id)
        assert found is not None
        return found.slug


async def test_a_runs_files_are_per_organizer_and_per_run_and_name_who_has_no_account(db):
    """Two counties settled in one run: each gets its own CSV and bank file, named by the day,
    the county and the run (so neither overwrites the other, nor a later run's files); the
    bank file pays only providers with a bank account, and those without one are returned."""
    w = await seed_world(db, period=P)
    await give_price(db, w.other_provider_id, "siivous", 100)
    other = await seed_world(db, period=P)
    await add_bank_profile(db, w, iban="FI5542345670000081", bic="NDEAFIHH")
    await add_bank_profile(db, other, iban="FI1410093000123458", bic="OKOYFIHH")
    await charged(db, w, exactly(3500), now=utc(P, 3))
    await charged(db, w, exactly(1200), now=utc(P, 3), provider_id=w.other_provider_id)
    await charged(db, other, exactly(2500), now=utc(P, 3))
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    assert len(run.settled) == 3
    out = await st.batch_files(db, run, DEBTOR, date(2031, 1, 7))
    batch = str(run.batch_id)[:8]
    stems = {
        org: f"settlement-2031-01-05-{await _slug(db, org)}-{batch}"
        for org in (w.organizer_id, other.organizer_id)
    }
    assert set(out.files) == {
        f"{stem}{ext}" for stem in stems.values() for ext in (".csv", ".pain001.xml")
    }
    assert [(p.provider_id, p.amount_cents) for p in out.without_account] == [
        (w.other_provider_id, 1200)
    ]
    mine = stems[w.organizer_id]
    rows = out.files[f"{mine}.csv"].decode("utf-8-sig").strip().splitlines()[1:]
    assert sorted(r.split(",")[3] for r in rows) == ["Siivouspalvelu Kuura Oy", "Taksi Hiltunen"]
    doc = etree.fromstring(out.files[f"{mine}.pain001.xml"])
    paid = doc.findall(".//p:CdtTrfTxInf", namespaces=NS)
    assert [
        (
            t.findtext("p:Amt/p:InstdAmt", namespaces=NS),
            t.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS),
        )
        for t in paid
    ] == [("35.00", "FI5542345670000081")]
    theirs = etree.fromstring(out.files[f"{stems[other.organizer_id]}.pain001.xml"])
    assert theirs.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) == "25.00"
    assert theirs.findtext(".//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == (
        "FI1410093000123458"
    )
    # A later run up to the same day writes files of its own.
    await charged(db, w, exactly(100), now=utc(P, 4))
    later = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 7))
    again = await st.batch_files(db, later, None, date(2031, 1, 7))
    assert list(again.files) == [
        f"settlement-2031-01-05-{await _slug(db, w.organizer_id)}-{str(later.batch_id)[:8]}.csv"
    ]
    assert later.batch_id != run.batch_id and not set(again.files) & set(out.files)


async def test_settlements_are_read_beside_a_writer_without_waiting_for_it(db: Database):
    """The list, one settlement and a run's files only read: on SQLite they do not queue
    behind a writer's lock (a settlement run, a charge)."""
    w = await seed_world(db, period=P)
    await add_bank_profile(db, w)
    await charged(db, w, exactly(3500), now=utc(P, 3))
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    (settled,) = run.settled
    async with UnitOfWork(db) as writer:
        await writer.session.execute(select(Account.id).limit(1))
        listed = await asyncio.wait_for(
            st.list_settlements(db, organizer_id=w.organizer_id, provider_id=None), timeout=5
        )
        view, lines = await asyncio.wait_for(
            st.get_settlement(
                db, settled.settlement_id, organizer_id=w.organizer_id, provider_id=None
            ),
            timeout=5,
        )
        files = await asyncio.wait_for(st.batch_files(db, run, DEBTOR, date(2031, 1, 7)), timeout=5)
        await writer.rollback()
    assert [v.id for v in listed] == [settled.settlement_id] and view == listed[0]
    assert [ln.amount_cents for ln in lines] == [3500]
    assert len(files.files) == 2 and files.without_account == []


# --- reading back: the order ------------------------------------------------------------------


async def test_settlements_are_listed_newest_first_then_by_id(db: Database):
    """One run settles every provider at the same instant: settlements of the same instant
    come in the order of their ids, so the list is the same on every read."""
    w = await seed_world(db, period=P)
    same_instant: list[uuid.UUID] = []
    for day in range(2, 12):
        await charged(db, w, exactly(100 * day), now=utc(P, day))
        run = await st.settle_providers(db, date(2031, 1, day), now=utc(P, 20))
        same_instant.append(run.settled[0].settlement_id)
        stored_in_order = same_instant in (sorted(same_instant), sorted(same_instant)[::-1])
        if len(same_instant) >= 3 and not stored_in_order:
            break
    assert not stored_in_order  # ids are random: written in neither their order nor its reverse
    newer = []
    for day, instant in ((13, 21), (14, 22), (15, 23)):
        await charged(db, w, exactly(100), now=utc(P, day))
        run = await st.settle_providers(db, date(2031, 1, day), now=utc(P, instant))
        newer.append(run.settled[0].settlement_id)
    listed = await st.list_settlements(db, organizer_id=w.organizer_id, provider_id=None)
    assert [v.id for v in listed] == newer[::-1] + sorted(same_instant)


async def test_a_settlements_lines_come_in_transfer_order_whatever_order_they_are_stored_in(
    db: Database,
):
    w = await seed_world(db, period=P)
    for day in (2, 3, 4):
        await charged(db, w, exactly(1000 * day), now=utc(P, day))
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    (settled,) = run.settled
    sid = settled.settlement_id
    async with db.engine.begin() as conn:
        stored = (
            (
                await conn.execute(
                    select(SettlementLine.__table__).where(SettlementLine.settlement_id == sid)
                )
            )
            .mappings()
            .all()
        )
        assert [r["amount_cents"] for r in sorted(stored, key=lambda r: r["transfer_id"])] == [
            2000,
            3000,
            4000,
        ]
        await conn.execute(delete(SettlementLine).where(SettlementLine.settlement_id == sid))
        for row in sorted(stored, key=lambda r: r["transfer_id"], reverse=True):
            await conn.execute(
                insert(SettlementLine).values({k: v for k, v in row.items() if k != "id"})
            )
    await assert_books_ok(db)
    _, lines = await st.get_settlement(db, sid, organizer_id=w.organizer_id, provider_id=None)
    assert [ln.amount_cents for ln in lines] == [2000, 3000, 4000]
    assert [ln.transfer_id for ln in lines] == sorted(ln.transfer_id for ln in lines)


# --- wallet check on settlements --------------------------------------------------------------


@dataclass
class TwoSettled:
    """Kuura settled for 35 + 12 EUR (two charges), Hiltunen for 25 EUR, in one run; Hiltunen
    then charged 35 EUR more, not yet settled."""

    w: World
    kuura: uuid.UUID  # Kuura's settlement
    kuura_transfer: int  # its settlement transfer
    hiltunen_open_transfer: int


async def _charge_transfer(db: Database, charge_id: uuid.UUID) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(
                    select(Transfer.id).where(
                        Transfer.charge_id == charge_id, Transfer.kind == "charge"
                    )
                )
            ).scalar_one()
        )


async def two_settled(db: Database) -> TwoSettled:
    w = await seed_world(db, period=P)
    await give_price(db, w.other_provider_id, "siivous", 100)
    await charged(db, w, exactly(3500), now=utc(P, 3))
    await charged(db, w, exactly(1200), now=utc(P, 3))
    await charged(db, w, exactly(2500), now=utc(P, 3), provider_id=w.other_provider_id)
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    by_provider = {s.provider_id: s for s in run.settled}
    assert [by_provider[p].amount_cents for p in (w.provider_id, w.other_provider_id)] == [
        4700,
        2500,
    ]
    later = await charged(db, w, exactly(3500), now=utc(P, 7), provider_id=w.other_provider_id)
    # Two providers' settlements side by side check out: each line against its own provider.
    await assert_books_ok(db)
    kuura = by_provider[w.provider_id].settlement_id
    async with UnitOfWork(db, readonly=True) as uow:
        found = await uow.session.get(Settlement, kuura)
        assert found is not None
        transfer_id = int(found.transfer_id)
    return TwoSettled(w, kuura, transfer_id, await _charge_transfer(db, later))


async def _tamper(db: Database, statement) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(statement)


async def _violations(db: Database) -> list[str]:
    report = await check_books(db)
    assert not report.ok
    return report.violations


async def test_a_settlement_whose_transfer_moved_another_amount_is_reported(db):
    t = await two_settled(db)
    await _tamper(
        db, update(Transfer).where(Transfer.id == t.kuura_transfer).values(amount_cents=4600)
    )
    assert f"settlement {t.kuura}: amount 4700 != its transfer 4600 (settlement)" in (
        await _violations(db)
    )


@pytest.mark.parametrize("side", ["debit", "credit"])
async def test_a_settlement_paid_from_or_to_the_wrong_account_is_reported(db, side):
    """From the other provider's payable account (the right kind of account), or into the
    organizer's budget (the right organizer)."""
    t = await two_settled(db)
    if side == "debit":
        values = {"debit_account_id": await provider_payable_id(db, t.w.other_provider_id)}
    else:
        budget = await organizer_account_id(db, t.w.organizer_id, AccountKind.ORGANIZER_BUDGET)
        values = {"credit_account_id": budget}
    await _tamper(db, update(Transfer).where(Transfer.id == t.kuura_transfer).values(values))
    assert f"settlement {t.kuura}: its transfer is not provider payable -> settlement" in (
        await _violations(db)
    )


@pytest.mark.parametrize("damage", ["other providers charge", "sign flipped"])
async def test_a_settlement_line_that_is_not_its_providers_movement_is_reported(db, damage):
    """Kuura's 35 EUR line pays Hiltunen's open 35 EUR charge (same amount, other provider),
    or books Kuura's own charge as -35 EUR (a refund)."""
    t = await two_settled(db)
    async with UnitOfWork(db, readonly=True) as uow:
        line_id, transfer_id = (
            await uow.session.execute(
                select(SettlementLine.id, SettlementLine.transfer_id).where(
                    SettlementLine.settlement_id == t.kuura, SettlementLine.amount_cents == 3500
                )
            )
        ).one()
    if damage == "sign flipped":
        values = {"amount_cents": -3500}
    else:
        values = {"transfer_id": t.hiltunen_open_transfer}
        transfer_id = t.hiltunen_open_transfer
    await _tamper(db, update(SettlementLine).where(SettlementLine.id == line_id).values(values))
    assert (
        f"settlement line {line_id}: transfer {transfer_id} is not its provider's movement "
        "as booked"
    ) in await _violations(db)
