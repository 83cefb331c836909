"""Payment requests on the use cases themselves (both engines): what a request shows, the
answers in every order (approve, decline, cancel, expiry; replays and refusals), who may see
or decide it, and the events each writes."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from payments.checkout import requests as rq
from payments.checkout.phone import create_qr_request, phone_checkout
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    NotFound,
    ProviderNotApproved,
    RequestDeclined,
    RequestExpired,
    RequestNotPending,
)
from payments.ledger.periods import period_of
from payments.models import Charge, Hold, OutboxEvent, PaymentRequest
from payments.results import Happened
from payments.uow import UnitOfWork
from tests.factories import (
    World,
    add_funded_client,
    assert_books_ok,
    envelope,
    seed_world,
    set_provider_status,
)
from tests.support.money import PHONE, cleaning

MONTHLY = 30_000


async def _ask(db: Database, w: World, now=None, key: str | None = None) -> dict:
    out = await phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=PHONE,
        lines=cleaning(),
        idempotency_key=key or uuid.uuid4().hex,
        request_hash="h",
        now=now,
    )
    assert out.what is Happened.PENDING_APPROVAL, out.body
    return out.body["request"]


async def _events(db: Database, type_: str) -> list[OutboxEvent]:
    async with UnitOfWork(db, readonly=True) as uow:
        return list(
            (
                await uow.session.execute(
                    select(OutboxEvent).where(OutboxEvent.type == type_).order_by(OutboxEvent.id)
                )
            ).scalars()
        )


async def _row(db: Database, request_id: str) -> PaymentRequest:
    async with UnitOfWork(db, readonly=True) as uow:
        req = await uow.session.get(PaymentRequest, uuid.UUID(request_id))
        assert req is not None
        return req


async def _hold_status(db: Database, req: PaymentRequest) -> str:
    async with UnitOfWork(db, readonly=True) as uow:
        hold = await uow.session.get(Hold, req.hold_id)
        assert hold is not None
        return hold.status


async def test_what_a_request_shows(db: Database):
    w = await seed_world(db, trusted=False)
    now = utcnow()
    view = await _ask(db, w, now=now)
    assert view["status"] == "pending" and view["wallet_id"] == str(w.wallet_id)
    assert view["provider_id"] == str(w.provider_id)
    assert view["provider_name"] == "Siivouspalvelu Kuura Oy"
    assert (view["total_cents"], view["client_share_cents"], view["charge_id"]) == (7000, 0, None)
    assert view["lines"] == [
        {
            "category": "siivous",
            "quantity": "2",
            "unit_price_cents": 3500,
            "amount_cents": 7000,
            "client_share_cents": 0,
        }
    ]
    assert view["expires_at"] == (now + timedelta(minutes=10)).isoformat()
    assert view["created_at"] == now.isoformat() and view["decided_at"] is None
    assert await rq.get_request(db, uuid.UUID(view["id"])) == view
    assert await rq.request_parties(db, uuid.UUID(view["id"])) == (
        w.organizer_id,
        w.provider_id,
        w.wallet_id,
    )
    assert await rq.request_parties(db, uuid.uuid4()) is None
    with pytest.raises(NotFound, match=r"^No such payment request$"):
        await rq.get_request(db, uuid.uuid4())
    assert await rq.wallet_of_client(db, w.client_id) == w.wallet_id
    with pytest.raises(NotFound, match=r"^No such wallet$"):
        await rq.wallet_of_client(db, uuid.uuid4())
    (created,) = await _events(db, "payment.requested")
    assert created.payload == view and created.wallet_id == w.wallet_id
    assert created.provider_id == w.provider_id and created.organizer_id == w.organizer_id


async def test_pending_for_a_wallet_oldest_first_and_only_live_ones(db: Database):
    w = await seed_world(db, trusted=False)
    now = utcnow()
    older = await _ask(db, w, now=now - timedelta(minutes=5))
    newer = await _ask(db, w, now=now - timedelta(minutes=1))
    lapsed = await _ask(db, w, now=now - timedelta(minutes=10))  # expires exactly now
    decided = await _ask(db, w, now=now - timedelta(minutes=2))
    await rq.decline_request(
        db, request_id=uuid.UUID(decided["id"]), wallet_id=w.wallet_id, actor_id=w.client_principal
    )
    from payments import clock

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clock, "source", lambda: now)
        pending = await rq.pending_for_wallet(db, w.wallet_id)
    assert [p["id"] for p in pending] == [older["id"], newer["id"]]
    assert lapsed["id"] not in {p["id"] for p in pending}
    assert await rq.pending_for_wallet(db, uuid.uuid4()) == []


async def test_approve_captures_once_and_answers_a_retry(db: Database):
    w = await seed_world(db, trusted=False)
    view = await _ask(db, w)
    rid = uuid.UUID(view["id"])
    with pytest.raises(NotFound, match=r"^No such payment request$"):
        await rq.approve_request(
            db, request_id=rid, wallet_id=uuid.uuid4(), actor_id=w.client_principal
        )
    with pytest.raises(NotFound):
        await rq.approve_request(
            db, request_id=uuid.uuid4(), wallet_id=w.wallet_id, actor_id=w.client_principal
        )
    now = utcnow()
    out = await rq.approve_request(
        db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal, now=now
    )
    assert out.what is Happened.DONE and not out.replayed
    assert out.body["status"] == "approved" and out.body["charge_id"]
    assert out.body["decided_at"] == now.isoformat()
    row = await _row(db, view["id"])
    assert (row.status, row.decided_by, str(row.charge_id)) == (
        "approved",
        w.client_principal,
        out.body["charge_id"],
    )
    assert await _hold_status(db, row) == "captured"
    again = await rq.approve_request(
        db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
    )
    assert again.replayed and again.what is Happened.ALREADY_DONE and again.body == out.body
    with pytest.raises(RequestNotPending, match=r"^The payment request is approved$"):
        await rq.decline_request(
            db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
        )
    with pytest.raises(RequestNotPending):
        await rq.cancel_request(db, request_id=rid, provider_id=w.provider_id)
    (approved,) = await _events(db, "payment.approved")
    assert approved.payload == out.body and approved.wallet_id == w.wallet_id
    assert approved.provider_id == w.provider_id and approved.organizer_id == w.organizer_id
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY - 7000
    await assert_books_ok(db)


async def test_decline_gives_the_money_back_once(db: Database):
    w = await seed_world(db, trusted=False)
    view = await _ask(db, w)
    rid = uuid.UUID(view["id"])
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY - 7000
    with pytest.raises(NotFound, match=r"^No such payment request$"):
        await rq.decline_request(
            db, request_id=rid, wallet_id=uuid.uuid4(), actor_id=w.client_principal
        )
    out = await rq.decline_request(
        db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
    )
    assert out.what is Happened.DONE and not out.replayed and out.body["status"] == "declined"
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    row = await _row(db, view["id"])
    assert row.decided_by == w.client_principal and await _hold_status(db, row) == "voided"
    again = await rq.decline_request(
        db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
    )
    assert again.replayed and again.what is Happened.ALREADY_DONE and again.body == out.body
    with pytest.raises(RequestDeclined):
        await rq.approve_request(
            db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
        )
    (declined,) = await _events(db, "payment.declined")
    assert declined.payload == out.body and declined.wallet_id == w.wallet_id
    assert declined.provider_id == w.provider_id
    await assert_books_ok(db)


async def test_cancel_by_its_provider_only(db: Database):
    w = await seed_world(db, trusted=False)
    view = await _ask(db, w)
    rid = uuid.UUID(view["id"])
    with pytest.raises(NotFound, match=r"^No such payment request$"):
        await rq.cancel_request(db, request_id=rid, provider_id=w.other_provider_id)
    out = await rq.cancel_request(db, request_id=rid, provider_id=w.provider_id)
    assert out.what is Happened.DONE and out.body["status"] == "cancelled" and not out.replayed
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    row = await _row(db, view["id"])
    assert row.decided_by is None and await _hold_status(db, row) == "voided"
    again = await rq.cancel_request(db, request_id=rid, provider_id=w.provider_id)
    assert again.replayed and again.what is Happened.ALREADY_DONE and again.body == out.body
    with pytest.raises(RequestNotPending, match=r"^The payment request is cancelled$"):
        await rq.approve_request(
            db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
        )
    (cancelled,) = await _events(db, "payment.cancelled")
    assert cancelled.payload == out.body and cancelled.wallet_id == w.wallet_id
    assert cancelled.provider_id == w.provider_id and cancelled.organizer_id == w.organizer_id
    await assert_books_ok(db)


async def test_a_request_expires_at_its_instant(db: Database):
    w = await seed_world(db, trusted=False)
    now = utcnow()
    view = await _ask(db, w, now=now)
    rid = uuid.UUID(view["id"])
    deadline = now + timedelta(minutes=10)
    # Before the expiry job has run, the deadline already refuses an answer.
    for answer in (rq.approve_request, rq.decline_request):
        with pytest.raises(RequestExpired):
            await answer(
                db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal, now=deadline
            )
    with pytest.raises(RequestExpired):
        await rq.cancel_request(db, request_id=rid, provider_id=w.provider_id, now=deadline)
    # A moment before the deadline the job leaves it alone; at the deadline it expires it.
    assert await rq.expire_requests(db, now=deadline - timedelta(milliseconds=1)) == 0
    assert (await _row(db, view["id"])).status == "pending"
    assert await rq.expire_requests(db, now=deadline) == 1
    row = await _row(db, view["id"])
    assert row.status == "expired" and await _hold_status(db, row) == "expired"
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    assert await rq.expire_requests(db, now=deadline) == 0
    with pytest.raises(RequestExpired):
        await rq.approve_request(
            db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
        )
    (expired,) = await _events(db, "payment.expired")
    assert expired.payload["status"] == "expired" and expired.payload["id"] == view["id"]
    assert expired.wallet_id == w.wallet_id and expired.provider_id == w.provider_id
    await assert_books_ok(db)


async def test_expiry_takes_at_most_its_limit_oldest_first(db: Database):
    w = await seed_world(db, trusted=False)
    now = utcnow()
    first = await _ask(db, w, now=now - timedelta(minutes=30))
    second = await _ask(db, w, now=now - timedelta(minutes=20))
    third = await _ask(db, w, now=now - timedelta(minutes=15))
    assert await rq.expire_requests(db, now=now, limit=2) == 2
    statuses = [(await _row(db, r["id"])).status for r in (first, second, third)]
    assert statuses == ["expired", "expired", "pending"]
    assert await rq.expire_requests(db, now=now) == 1
    await assert_books_ok(db)


async def test_a_qr_request_is_paid_by_whoever_approves_it(db: Database):
    w = await seed_world(db, trusted=False)
    other = await add_funded_client(db, w)
    out = await create_qr_request(
        db, provider_id=w.provider_id, lines=cleaning(), idempotency_key="qr1", request_hash="h"
    )
    assert out.what is Happened.CREATED
    view = out.body
    assert view["wallet_id"] is None and view["total_cents"] == 7000
    rid = uuid.UUID(view["id"])
    assert await rq.request_parties(db, rid) == (w.organizer_id, w.provider_id, None)
    # Declining needs a wallet the request is bound to: nobody's yet.
    with pytest.raises(NotFound):
        await rq.decline_request(
            db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
        )
    approved = await rq.approve_request(
        db, request_id=rid, wallet_id=other, actor_id=w.case_manager
    )
    assert approved.body["wallet_id"] == str(other) and approved.body["status"] == "approved"
    assert (await envelope(db, other)).balance_cents == MONTHLY - 7000
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    # Bound now: another wallet cannot answer it, the same one gets the answer again.
    with pytest.raises(NotFound):
        await rq.approve_request(
            db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal
        )
    again = await rq.approve_request(db, request_id=rid, wallet_id=other, actor_id=w.case_manager)
    assert again.replayed and again.what is Happened.ALREADY_DONE and again.body == approved.body
    await assert_books_ok(db)


async def test_a_qr_request_of_a_provider_suspended_since_is_refused(db: Database):
    w = await seed_world(db, trusted=False)
    out = await create_qr_request(
        db, provider_id=w.provider_id, lines=cleaning(), idempotency_key="qr2", request_hash="h"
    )
    await set_provider_status(db, w.provider_id, "suspended")
    with pytest.raises(ProviderNotApproved):
        await rq.approve_request(
            db,
            request_id=uuid.UUID(out.body["id"]),
            wallet_id=w.wallet_id,
            actor_id=w.client_principal,
        )
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY
    assert (await _row(db, out.body["id"])).status == "pending"


# Written for the mutants that survived a whole mutation run on a quiet machine (issue 23;
# tests/mutation/survivors.toml).


async def test_a_suspended_providers_qr_request_is_refused_with_its_reason(db: Database):
    w = await seed_world(db, trusted=False)
    out = await create_qr_request(
        db, provider_id=w.provider_id, lines=cleaning(), idempotency_key="qr", request_hash="h"
    )
    await set_provider_status(db, w.provider_id, "suspended")
    with pytest.raises(ProviderNotApproved, match=r"^The provider is not approved to charge$"):
        await rq.approve_request(
            db,
            request_id=uuid.UUID(out.body["id"]),
            wallet_id=w.wallet_id,
            actor_id=w.client_principal,
        )


async def test_pending_requests_are_listed_by_creation_with_their_provider(db: Database):
    w = await seed_world(db, trusted=False)
    now = utcnow()
    # Made in the other order than they were created: the listing sorts, not the table.
    newer = await _ask(db, w, now=now - timedelta(minutes=1))
    older = await _ask(db, w, now=now - timedelta(minutes=5))
    pending = await rq.pending_for_wallet(db, w.wallet_id)
    assert pending == [older, newer]
    assert {p["provider_name"] for p in pending} == {"Siivouspalvelu Kuura Oy"}


async def test_answering_an_approved_request_after_its_deadline_says_it_is_not_pending(
    db: Database,
):
    w = await seed_world(db, trusted=False)
    now = utcnow()
    view = await _ask(db, w, now=now)
    rid = uuid.UUID(view["id"])
    await rq.approve_request(
        db, request_id=rid, wallet_id=w.wallet_id, actor_id=w.client_principal, now=now
    )
    # Approved before its deadline: past it, it is still approved, not expired.
    with pytest.raises(RequestNotPending, match=r"^The payment request is approved$"):
        await rq.decline_request(
            db,
            request_id=rid,
            wallet_id=w.wallet_id,
            actor_id=w.client_principal,
            now=now + timedelta(minutes=30),
        )


async def test_expiry_takes_the_earliest_deadline_and_only_pending_requests(db: Database):
    w = await seed_world(db, trusted=False)
    now = utcnow()
    declined = await _ask(db, w, now=now - timedelta(minutes=40))
    await rq.decline_request(
        db,
        request_id=uuid.UUID(declined["id"]),
        wallet_id=w.wallet_id,
        actor_id=w.client_principal,
        now=now - timedelta(minutes=39),
    )
    # The later deadline is made first.
    later = await _ask(db, w, now=now - timedelta(minutes=15))
    earlier = await _ask(db, w, now=now - timedelta(minutes=30))
    assert await rq.expire_requests(db, now=now, limit=1) == 1
    assert [(await _row(db, r["id"])).status for r in (declined, earlier, later)] == [
        "declined",
        "expired",
        "pending",
    ]
    await assert_books_ok(db)


async def test_approving_a_qr_request_touches_no_other_request(db: Database):
    w = await seed_world(db, trusted=False)
    one = await create_qr_request(
        db, provider_id=w.provider_id, lines=cleaning(1), idempotency_key="q1", request_hash="h"
    )
    two = await create_qr_request(
        db, provider_id=w.provider_id, lines=cleaning(3), idempotency_key="q2", request_hash="h"
    )
    await rq.approve_request(
        db,
        request_id=uuid.UUID(one.body["id"]),
        wallet_id=w.wallet_id,
        actor_id=w.client_principal,
    )
    assert await rq.get_request(db, uuid.UUID(two.body["id"])) == two.body
    await assert_books_ok(db)


async def test_an_approved_qr_request_of_a_trusted_provider_counts_in_its_month(db: Database):
    w = await seed_world(db, trusted=True)
    now = utcnow()
    out = await create_qr_request(
        db, provider_id=w.provider_id, lines=cleaning(), idempotency_key="qt", request_hash="h"
    )
    approved = await rq.approve_request(
        db,
        request_id=uuid.UUID(out.body["id"]),
        wallet_id=w.wallet_id,
        actor_id=w.client_principal,
        now=now,
    )
    env = await envelope(db, w.wallet_id)
    async with UnitOfWork(db, readonly=True) as uow:
        charge = await uow.session.get(Charge, uuid.UUID(approved.body["charge_id"]))
        assert charge is not None
        assert charge.trust_period == period_of(now)
        (captured,) = (
            await uow.session.execute(
                select(OutboxEvent).where(OutboxEvent.type == "charge.captured")
            )
        ).scalars()
    # The event says the envelope's balance after the charge.
    assert captured.payload["balances"] == {str(env.id): env.balance_cents}
    await assert_books_ok(db)
