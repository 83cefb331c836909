"""Settlements: amounts, cut-off, idempotent reruns, refunds carried, files (RF references:
``tests/unit/test_settlement_references.py``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from lxml import etree
from sqlalchemy import select, update
from stdnum import iso11649

from payments.clock import utcnow
from payments.db import Database
from payments.errors import InvalidInput
from payments.marketplace import settlements as st
from payments.models import Settlement, SettlementLine, Transfer
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    account_balance,
    add_bank_profile,
    assert_books_ok,
    organizer_account_id,
    provider_payable_id,
    seed_world,
)
from tests.marketplace.helpers import line_count, settlement_rows, utc
from tests.support.money import charged, exactly, refund

P = "2031-01"


@pytest.fixture
async def w(db: Database):
    return await seed_world(db, period=P)


async def test_settles_captured_charges_once(db, w):
    c1 = await charged(db, w, exactly(3500), now=utc(P, 3))
    c2 = await charged(db, w, exactly(2000), now=utc(P, 4))
    run = await st.settle_providers(db, date(2031, 1, 10), now=utc(P, 11))
    assert [s.amount_cents for s in run.settled] == [5500]
    (s,) = await settlement_rows(db)
    assert s.provider_id == w.provider_id and s.amount_cents == 5500
    assert iso11649.is_valid(s.reference) and s.reference.startswith("RF")
    # One transfer payable -> settlement; the payable is empty, the settlement account holds it.
    payable = await provider_payable_id(db, w.provider_id)
    settle_acc = await organizer_account_id(db, w.organizer_id, AccountKind.SETTLEMENT)
    assert await account_balance(db, payable) == 0
    assert await account_balance(db, settle_acc) == 5500
    _, lines = await st.get_settlement(
        db, s.id, organizer_id=w.organizer_id, provider_id=w.provider_id
    )
    assert {ln.charge_id for ln in lines} == {c1, c2}
    assert sum(ln.amount_cents for ln in lines) == 5500
    await assert_books_ok(db)

    again = await st.settle_providers(db, date(2031, 1, 10), now=utc(P, 12))
    assert again.settled == [] and again.providers_seen == 0
    assert len(await settlement_rows(db)) == 1 and await line_count(db) == 2


async def test_cutoff_is_end_of_day_in_helsinki(db, w):
    await charged(db, w, exactly(1000), now=utc(P, 10, 23))  # 23:00 Helsinki on the 10th: inside
    await charged(db, w, exactly(700), now=utc(P, 11, 0))  # 00:00 Helsinki on the 11th: outside
    run = await st.settle_providers(db, date(2031, 1, 10), now=utc(P, 12))
    assert run.total_cents == 1000
    run = await st.settle_providers(db, date(2031, 1, 11), now=utc(P, 12))
    assert run.total_cents == 700
    await assert_books_ok(db)


async def test_refund_after_settlement_is_carried_into_the_next(db, w):
    c1 = await charged(db, w, exactly(4000), now=utc(P, 3))
    await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    await refund(db, w, c1, 1500, now=utc(P, 7))
    await charged(db, w, exactly(1000), now=utc(P, 8))
    run = await st.settle_providers(db, date(2031, 1, 9), now=utc(P, 10))
    # 1000 charged, 1500 refunded: refunds exceed captures -> carried, nothing paid.
    assert run.settled == [] and [c.net_cents for c in run.carried] == [-500]
    await charged(db, w, exactly(2000), now=utc(P, 12))
    run = await st.settle_providers(db, date(2031, 1, 13), now=utc(P, 14))
    assert run.total_cents == 1500  # -500 carried + 2000
    rows = await settlement_rows(db)
    assert [r.amount_cents for r in rows] == [4000, 1500]
    payable = await provider_payable_id(db, w.provider_id)
    assert await account_balance(db, payable) == 0
    await assert_books_ok(db)


async def test_future_date_is_refused_and_nothing_written(db, w):
    await charged(db, w, exactly(1000), now=utc(P, 3))
    with pytest.raises(InvalidInput):
        await st.settle_providers(db, utcnow().date() + timedelta(days=5))
    assert await settlement_rows(db) == []


async def test_check_detects_a_tampered_settlement(db, w):
    await charged(db, w, exactly(1000), now=utc(P, 3))
    await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(Settlement).values(amount_cents=999))
        await uow.commit()
    from payments.books import check_books

    report = await check_books(db)
    assert not report.ok
    assert any("lines" in v for v in report.violations)


async def test_a_transfer_cannot_be_settled_twice(db, w):
    from sqlalchemy.exc import IntegrityError

    await charged(db, w, exactly(1000), now=utc(P, 3))
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    async with UnitOfWork(db) as uow:
        line = (await uow.session.execute(select(SettlementLine))).scalars().first()
        assert line is not None
        uow.session.add(
            SettlementLine(
                settlement_id=run.settled[0].settlement_id,
                transfer_id=line.transfer_id,
                charge_id=line.charge_id,
                kind=line.kind,
                period=line.period,
                amount_cents=line.amount_cents,
                booked_at=line.booked_at,
            )
        )
        with pytest.raises(IntegrityError):
            await uow.session.flush()


async def test_bank_file_validates_and_csv_adds_up(db, w):
    await charged(db, w, exactly(3500), now=utc(P, 3))
    await add_bank_profile(db, w, iban="FI2112345600000785", bic="NDEAFIHH")
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    items = await st.payouts(db, [s.settlement_id for s in run.settled])
    debtor = st.Debtor(name="Kainuun hyvinvointialue", iban="FI4950009420028730", bic="OKOYFIHH")
    xml = st.pain001(debtor, items, date(2031, 1, 7))
    doc = etree.fromstring(xml)
    ns = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
    assert doc.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == "35.00"
    assert doc.findtext(".//p:CdtTrfTxInf/p:CdtrAcct/p:Id/p:IBAN", namespaces=ns) == (
        "FI2112345600000785"
    )
    assert doc.findtext(".//p:RmtInf/p:Strd/p:CdtrRefInf/p:Ref", namespaces=ns) == (
        run.settled[0].reference
    )
    csv_text = st.payouts_csv(items).decode("utf-8-sig")  # UTF-8 with a BOM, CRLF lines
    header, row = csv_text.splitlines()
    assert header.split(",")[-2:] == ["amount_cents", "amount_eur"]
    assert row.endswith(",3500,35.00")


async def test_bank_file_refuses_payouts_without_an_account(db, w):
    await charged(db, w, exactly(3500), now=utc(P, 3))
    run = await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    items = await st.payouts(db, [s.settlement_id for s in run.settled])
    debtor = st.Debtor(name="Kainuu", iban="FI4950009420028730", bic="OKOYFIHH")
    with pytest.raises(InvalidInput):
        st.pain001(debtor, items, date(2031, 1, 7))


async def test_settlement_transfer_goes_from_payable_to_settlement(db, w):
    await charged(db, w, exactly(1200), now=utc(P, 3))
    await st.settle_providers(db, date(2031, 1, 5), now=utc(P, 6))
    async with UnitOfWork(db, readonly=True) as uow:
        t = (
            await uow.session.execute(select(Transfer).where(Transfer.kind == "settlement"))
        ).scalar_one()
    assert t.amount_cents == 1200
    assert t.debit_account_id == await provider_payable_id(db, w.provider_id)
    assert t.credit_account_id == await organizer_account_id(
        db, w.organizer_id, AccountKind.SETTLEMENT
    )
    assert AccountKind.PROVIDER_PAYABLE  # kind names come from payments.vocabulary


async def test_concurrent_runs_settle_each_transfer_once(db, w):
    import asyncio

    for day in range(2, 9):
        await charged(db, w, exactly(100 * day), now=utc(P, day))
    runs = await asyncio.gather(
        *(st.settle_providers(db, date(2031, 1, 10), now=utc(P, 11)) for _ in range(4))
    )
    settled = [s for run in runs for s in run.settled]
    assert [s.amount_cents for s in settled] == [sum(100 * d for d in range(2, 9))]
    assert await line_count(db) == 7
    await assert_books_ok(db)
