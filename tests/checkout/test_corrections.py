"""Corrections of charges after their month has closed (issue 18, item 2), on both engines.

A case manager takes (part of) a wrong charge back from the provider's payable account to the
organizer's budget; above the organizer's limit a second case manager approves it first. The
money moves once, never beyond what is left of the charge, and ``wallet check`` proves it.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from payments.books import check_books
from payments.budgets import catalogue
from payments.budgets.funding import fund_period
from payments.checkout import corrections
from payments.db import Database
from payments.errors import (
    CorrectionNotPending,
    CorrectionTooLarge,
    InvalidInput,
    MonthStillOpen,
    NotFound,
    SecondApproverRequired,
)
from payments.models import AuditEvent, Correction, OutboxEvent, Transfer
from payments.reporting.statements import statement
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    World,
    account_balance,
    assert_books_ok,
    assert_refused,
    at,
    charge_row,
    count,
    envelope,
    organizer_account_id,
    provider_payable_id,
    row_counts,
    seed_world,
    transfers,
)
from tests.support.money import charged, exactly, refund


async def _closed_charge(
    db: Database, cents: int = 7000, year: int = 2031
) -> tuple[World, uuid.UUID]:
    """A January charge of ``cents``, then February funded: January has closed."""
    w = await seed_world(db, fund=False, period=f"{year}-01", monthly_cents=30_000)
    await fund_period(db, f"{year}-01")
    cid = await charged(db, w, exactly(cents), now=at(f"{year}-01"))
    await fund_period(db, f"{year}-02")
    return w, cid


async def _second_cm(db: Database, w: World, name: str = "Pekka Toinen") -> uuid.UUID:
    return await catalogue.create_principal(
        db, organizer_id=w.organizer_id, role="case_manager", display_name=name
    )


async def _correct(
    db: Database, w: World, cid: uuid.UUID, amount: Any, *, by: uuid.UUID | None = None, **kw: Any
) -> Any:
    return await corrections.correct_charge(
        db,
        case_manager_id=by or w.case_manager,
        organizer_id=kw.pop("organizer_id", w.organizer_id),
        charge_id=cid,
        amount_cents=amount,
        reason=kw.pop("reason", "Kaksi kertaa laskutettu"),
        idempotency_key=kw.pop("key", uuid.uuid4().hex),
        request_hash=kw.pop("request_hash", f"{cid}:{amount}"),
        **kw,
    )


async def test_a_small_correction_moves_at_once_to_the_organizers_budget(db: Database) -> None:
    w, cid = await _closed_charge(db)
    budget = await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET)
    payable = await provider_payable_id(db, w.provider_id)
    budget_before, payable_before = (
        await account_balance(db, budget),
        await account_balance(db, payable),
    )
    env_before = (await envelope(db, w.wallet_id)).balance_cents

    out = await _correct(db, w, cid, 2500, now=at("2031-02", 3))

    assert out.what is Happened.CREATED
    assert out.body["status"] == "approved"
    assert out.body["decided_by"] == str(w.case_manager)
    (t,) = await transfers(db, kind="correction")
    assert (t.debit_account_id, t.credit_account_id, t.amount_cents, t.period) == (
        payable,
        budget,
        2500,
        "2031-01",
    )
    assert await account_balance(db, budget) == budget_before + 2500
    assert await account_balance(db, payable) == payable_before - 2500
    assert (await envelope(db, w.wallet_id)).balance_cents == env_before  # never refilled
    assert await charge_row(db, cid) == ("partially_refunded", 7000, 2500)
    assert await count(db, AuditEvent, AuditEvent.action == "charge.corrected") == 1
    assert await count(db, OutboxEvent, OutboxEvent.type == "charge.corrected") == 1
    await assert_books_ok(db)


async def test_above_the_limit_a_second_case_manager_approves(db: Database) -> None:
    w, cid = await _closed_charge(db, 20_000)
    other = await _second_cm(db, w)
    before = await row_counts(db)

    out = await _correct(db, w, cid, 15_000, now=at("2031-02", 3))

    assert out.what is Happened.PENDING_APPROVAL and out.body["status"] == "pending"
    assert out.body["decided_by"] is None
    after = await row_counts(db)
    assert after["transfers"] == before["transfers"]  # nothing moved yet
    assert await charge_row(db, cid) == ("captured", 20_000, 0)
    correction_id = uuid.UUID(out.body["id"])
    # Not by the one who asked, and nothing is written by the refusal.
    await assert_refused(
        db,
        SecondApproverRequired,
        corrections.approve_correction(
            db,
            case_manager_id=w.case_manager,
            organizer_id=w.organizer_id,
            correction_id=correction_id,
        ),
    )
    done = await corrections.approve_correction(
        db, case_manager_id=other, organizer_id=w.organizer_id, correction_id=correction_id
    )
    assert done.body["status"] == "approved" and done.body["decided_by"] == str(other)
    assert done.body["decided_by_name"] == "Pekka Toinen"
    assert [t.amount_cents for t in await transfers(db, kind="correction")] == [15_000]
    assert await charge_row(db, cid) == ("partially_refunded", 20_000, 15_000)
    # Decided: neither approved again nor rejected.
    for again in (
        corrections.approve_correction(
            db, case_manager_id=other, organizer_id=w.organizer_id, correction_id=correction_id
        ),
        corrections.reject_correction(
            db, case_manager_id=other, organizer_id=w.organizer_id, correction_id=correction_id
        ),
    ):
        await assert_refused(db, CorrectionNotPending, again)
    await assert_books_ok(db)


async def test_the_limit_is_the_organizers_own(db: Database) -> None:
    w, cid = await _closed_charge(db, 7000)
    assert await corrections.approval_limit(db, w.organizer_id) == 10_000
    await corrections.set_approval_limit(db, w.organizer_id, 0)
    out = await _correct(db, w, cid, 1)
    assert out.body["status"] == "pending"  # every correction waits at a limit of 0
    await corrections.set_approval_limit(db, w.organizer_id, 7000)
    out = await _correct(db, w, cid, 6999)  # 1 cent already waits: 6,999 is all that is left
    assert out.body["status"] == "approved"
    for bad in (-1, 100_000_001, True, 1.5, "100"):
        with pytest.raises(InvalidInput):
            await corrections.set_approval_limit(db, w.organizer_id, bad)  # type: ignore[arg-type]
    assert await corrections.approval_limit(db, w.organizer_id) == 7000


async def test_a_rejected_correction_moves_nothing(db: Database) -> None:
    w, cid = await _closed_charge(db, 20_000)
    other = await _second_cm(db, w)
    out = await _correct(db, w, cid, 15_000)
    before = await row_counts(db)
    done = await corrections.reject_correction(
        db,
        case_manager_id=other,
        organizer_id=w.organizer_id,
        correction_id=uuid.UUID(out.body["id"]),
        note="Palvelu annettiin",
    )
    assert done.body["status"] == "rejected" and done.body["decision_note"] == "Palvelu annettiin"
    after = await row_counts(db)
    assert after["transfers"] == before["transfers"]
    assert await charge_row(db, cid) == ("captured", 20_000, 0)
    assert await count(db, AuditEvent, AuditEvent.action == "charge.correction_rejected") == 1
    await assert_books_ok(db)


async def test_while_the_month_is_open_the_provider_refunds_instead(db: Database) -> None:
    w = await seed_world(db, fund=False, period="2031-01")
    await fund_period(db, "2031-01")
    cid = await charged(db, w, exactly(7000), now=at("2031-01"))
    before = await row_counts(db)
    await assert_refused(db, MonthStillOpen, _correct(db, w, cid, 1000, now=at("2031-01", 20)))
    assert await row_counts(db) == before


async def test_never_more_than_is_left_after_refunds_and_waiting_corrections(
    db: Database,
) -> None:
    w, cid = await _closed_charge(db, 20_000)
    await refund(db, w, cid, 4000, now=at("2031-02", 2))  # refund_closed, by the provider
    await _correct(db, w, cid, 12_000)  # waits (above 100 euros)
    # 20,000 - 4,000 refunded - 12,000 waiting = 4,000 left.
    err = await assert_refused(db, CorrectionTooLarge, _correct(db, w, cid, 4001))
    assert "4000" in err.detail
    out = await _correct(db, w, cid, 4000)
    assert out.body["status"] == "approved"
    assert await charge_row(db, cid) == ("partially_refunded", 20_000, 8000)
    await assert_books_ok(db)


async def test_a_refund_after_the_request_leaves_the_approval_refused(db: Database) -> None:
    """The hard bound is where the money moves: the provider refunded meanwhile, so approving
    the waiting correction would take back more than the wallet paid."""
    w, cid = await _closed_charge(db, 20_000)
    other = await _second_cm(db, w)
    out = await _correct(db, w, cid, 15_000)
    await refund(db, w, cid, 10_000, now=at("2031-02", 2))
    before = await row_counts(db)
    await assert_refused(
        db,
        CorrectionTooLarge,
        corrections.approve_correction(
            db,
            case_manager_id=other,
            organizer_id=w.organizer_id,
            correction_id=uuid.UUID(out.body["id"]),
        ),
    )
    assert await row_counts(db) == before
    (row,) = await corrections.list_corrections(db, w.organizer_id)
    assert row.status == "pending" and row.decided_by is None  # still open, to be rejected
    await assert_books_ok(db)


async def test_bad_input_is_refused_with_nothing_written(db: Database) -> None:
    w, cid = await _closed_charge(db)
    before = await row_counts(db)
    for amount in (0, -5, 1.5, "100", True, None, 10**12):
        with pytest.raises(InvalidInput):
            await _correct(db, w, cid, amount)
    for reason in ("", "   ", None, "x" * 501, "bad\x00reason"):
        with pytest.raises(InvalidInput):
            await _correct(db, w, cid, 100, reason=reason)
    await assert_refused(db, NotFound, _correct(db, w, uuid.uuid4(), 100))
    assert await row_counts(db) == before


async def test_another_organizers_case_manager_cannot_see_or_correct(db: Database) -> None:
    w, cid = await _closed_charge(db, 20_000)
    out = await _correct(db, w, cid, 15_000)
    other_world = await seed_world(db, phone="040 765 4321")
    stranger = other_world.case_manager
    await assert_refused(
        db, NotFound, _correct(db, w, cid, 100, by=stranger, organizer_id=other_world.organizer_id)
    )
    for call in (
        corrections.approve_correction(
            db,
            case_manager_id=stranger,
            organizer_id=other_world.organizer_id,
            correction_id=uuid.UUID(out.body["id"]),
        ),
        corrections.reject_correction(
            db,
            case_manager_id=stranger,
            organizer_id=other_world.organizer_id,
            correction_id=uuid.UUID(out.body["id"]),
        ),
    ):
        await assert_refused(db, NotFound, call)
    assert await corrections.list_corrections(db, other_world.organizer_id) == []


async def test_a_retry_with_the_same_key_corrects_once(db: Database) -> None:
    w, cid = await _closed_charge(db)
    first = await _correct(db, w, cid, 2000, key="k1")
    again = await _correct(db, w, cid, 2000, key="k1")
    assert again.replayed and again.body == first.body
    assert [t.amount_cents for t in await transfers(db, kind="correction")] == [2000]
    assert await count(db, Correction) == 1


async def test_two_approvers_at_once_move_the_money_once(db: Database) -> None:
    """Two case managers press approve at the same moment: one moves the money, the other is
    told it was decided; never two transfers."""
    w, cid = await _closed_charge(db, 20_000)
    a, b = await _second_cm(db, w, "A"), await _second_cm(db, w, "B")
    await corrections.set_approval_limit(db, w.organizer_id, 0)  # every correction waits
    for _ in range(5):
        out = await _correct(db, w, cid, 2000)
        results = await asyncio.gather(
            *(
                corrections.approve_correction(
                    db,
                    case_manager_id=who,
                    organizer_id=w.organizer_id,
                    correction_id=uuid.UUID(out.body["id"]),
                )
                for who in (a, b)
            ),
            return_exceptions=True,
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1, results
        assert all(isinstance(e, CorrectionNotPending) for e in lost), lost
    assert [t.amount_cents for t in await transfers(db, kind="correction")] == [2000] * 5
    assert await charge_row(db, cid) == ("partially_refunded", 20_000, 10_000)
    await assert_books_ok(db)


async def test_a_correction_racing_a_refund_never_takes_back_more_than_was_paid(
    db: Database,
) -> None:
    w, cid = await _closed_charge(db, 7000)
    results = await asyncio.gather(
        _correct(db, w, cid, 5000),
        refund(db, w, cid, 5000, now=at("2031-02", 3)),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    assert len(won) == 1, results
    _status, total, refunded = await charge_row(db, cid)
    assert (total, refunded) == (7000, 5000)
    await assert_books_ok(db)


async def test_the_statement_shows_the_correction(db: Database) -> None:
    w, cid = await _closed_charge(db, year=2025)  # statements are of months begun
    await _correct(db, w, cid, 2500, reason="Käynti peruttiin", now=at("2025-02", 3))
    january = await statement(db, w.wallet_id, "2025-01", language="en")
    (item,) = january.corrections
    assert (item.charge_id, item.amount_cents, item.reason) == (str(cid), 2500, "Käynti peruttiin")
    assert item.provider == "Siivouspalvelu Kuura Oy"
    # The envelope's own figures are the ledger's: the money went to the county, not back in.
    assert january.refunded_cents == 0
    february = await statement(db, w.wallet_id, "2025-02", language="en")
    assert february.corrections == []


async def test_wallet_check_finds_a_correction_without_its_transfer(db: Database) -> None:
    w, cid = await _closed_charge(db)
    await _correct(db, w, cid, 2500)
    async with UnitOfWork(db) as uow:
        (tid,) = (
            await uow.session.execute(select(Transfer.id).where(Transfer.kind == "correction"))
        ).one()
        # The transfer says a different amount than the correction.
        await uow.session.execute(
            update(Transfer).where(Transfer.id == tid).values(amount_cents=2400)
        )
        await uow.commit()
    report = await check_books(db)
    assert not report.ok
    assert any("correction" in p and "its transfer is not" in p for p in report.violations), (
        report.violations
    )


async def test_wallet_check_finds_a_correction_transfer_without_its_correction(
    db: Database,
) -> None:
    w, cid = await _closed_charge(db)
    await _correct(db, w, cid, 2500)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(Correction).values(status="rejected", transfer_id=None))
        await uow.commit()
    report = await check_books(db)
    assert any("belongs to no approved correction" in p for p in report.violations), (
        report.violations
    )
