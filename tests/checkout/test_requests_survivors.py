"""Payment requests: tests written for the mutants of ``payments/checkout/requests.py`` that
survived a whole mutation run on a quiet machine (issue 23; tests/mutation/survivors.toml)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from payments.checkout import requests as rq
from payments.checkout.phone import create_qr_request, phone_checkout
from payments.clock import utcnow
from payments.db import Database
from payments.errors import ProviderNotApproved, RequestNotPending
from payments.ledger.periods import period_of
from payments.models import Charge, OutboxEvent, PaymentRequest
from payments.results import Happened
from payments.uow import UnitOfWork
from tests.factories import assert_books_ok, envelope, seed_world, set_provider_status
from tests.support.money import PHONE, cleaning


async def _ask(db: Database, w, now=None, hours: int = 2) -> dict:
    out = await phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=PHONE,
        lines=cleaning(hours),
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
        now=now,
    )
    assert out.what is Happened.PENDING_APPROVAL, out.body
    return out.body["request"]


async def _status(db: Database, request_id: str) -> str:
    async with UnitOfWork(db, readonly=True) as uow:
        req = await uow.session.get(PaymentRequest, uuid.UUID(request_id))
        assert req is not None
        return req.status


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
    assert [await _status(db, r["id"]) for r in (declined, earlier, later)] == [
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
