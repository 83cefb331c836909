"""Payment requests at the edges the whole mutation run of 4 December 2026 found untested
(issue 23; tests/mutation/survivors.toml): a request of two lines in one envelope, a trusted
provider's request refunded, the order of the pending list when the deadlines differ, and
requests stored before the client's share existed (migration 0006, 23 November 2026)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from payments.checkout import requests as rq
from payments.checkout import trust
from payments.checkout.charges import ChargeLineInput
from payments.checkout.phone import phone_checkout
from payments.clock import utcnow
from payments.db import Database
from payments.models import Charge, ChargeLine, PaymentRequest
from payments.results import Happened
from payments.uow import UnitOfWork
from tests.factories import (
    World,
    account_balance,
    assert_books_ok,
    envelope,
    provider_payable_id,
    seed_world,
    trust_provider,
)
from tests.support.money import PHONE, cleaning, home_help, refund

MONTHLY = 30_000


async def _ask(
    db: Database,
    w: World,
    lines: list[ChargeLineInput] | None = None,
    *,
    now: Any = None,
    ttl: timedelta = rq.DEFAULT_REQUEST_TTL,
) -> dict[str, Any]:
    out = await phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=PHONE,
        lines=lines or cleaning(),
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
        request_ttl=ttl,
        now=now,
    )
    assert out.what is Happened.PENDING_APPROVAL, out.body
    request: dict[str, Any] = out.body["request"]
    return request


async def _approve(db: Database, w: World, view: dict[str, Any]) -> dict[str, Any]:
    out = await rq.approve_request(
        db, request_id=uuid.UUID(view["id"]), wallet_id=w.wallet_id, actor_id=w.client_principal
    )
    assert out.what is Happened.DONE, out.body
    body: dict[str, Any] = out.body
    return body


async def _stored_before_client_shares(db: Database, request_id: str) -> None:
    """Make the request's stored lines what the code wrote before migration 0006 (23 November
    2026): no ``client_share_cents``. The migration added the share to charges and charge
    lines, not to the JSON lines of the requests already stored."""
    async with UnitOfWork(db) as uow:
        req = await uow.session.get(PaymentRequest, uuid.UUID(request_id))
        assert req is not None
        old = [{k: v for k, v in line.items() if k != "client_share_cents"} for line in req.lines]
        await uow.session.execute(
            update(PaymentRequest).where(PaymentRequest.id == req.id).values(lines=old)
        )
        await uow.commit()


async def test_a_request_of_two_lines_in_one_envelope_is_paid_in_full(db: Database) -> None:
    """Cleaning and home help come from the same envelope: the approval takes both lines'
    money from the hold, not only the last line's (and gives nothing back to the envelope)."""
    w = await seed_world(db, trusted=False)
    view = await _ask(db, w, [*cleaning(1), *home_help(1)])
    assert view["total_cents"] == 3500 + 3800
    await _approve(db, w, view)
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY - 7300
    assert await account_balance(db, await provider_payable_id(db, w.provider_id)) == 7300
    await assert_books_ok(db)


async def test_a_refund_of_a_trusted_providers_approved_request_gives_back_to_its_month(
    db: Database,
) -> None:
    """Over its per-charge cap a trusted provider has to ask; the approval counts toward its
    month, and the charge remembers that month, so refunding it gives the amount back."""
    w = await seed_world(db, trusted=False)
    await trust_provider(db, w.wallet_id, w.provider_id, per_charge_cap_cents=5000)
    approved = await _approve(db, w, await _ask(db, w))  # 7,000 > 5,000: a request

    async def month_spent() -> int:
        (row,) = await trust.list_trusted(db, w.wallet_id)
        return row.month_spent_cents

    assert await month_spent() == 7000
    out = await refund(db, w, approved["charge_id"])
    assert out.what is Happened.CREATED, out.body
    assert await month_spent() == 0
    await assert_books_ok(db)


async def test_pending_requests_are_listed_by_creation_not_by_deadline(db: Database) -> None:
    """Oldest first even when the older request has the later deadline (a longer time to
    answer) and was stored after the newer one."""
    w = await seed_world(db, trusted=False)
    now = utcnow()
    newer = await _ask(db, w, now=now - timedelta(minutes=1), ttl=timedelta(minutes=10))
    older = await _ask(db, w, now=now - timedelta(minutes=5), ttl=timedelta(hours=1))
    pending = await rq.pending_for_wallet(db, w.wallet_id)
    assert [p["id"] for p in pending] == [older["id"], newer["id"]]


async def test_a_request_stored_before_client_shares_shows_no_share(db: Database) -> None:
    w = await seed_world(db, trusted=False)
    view = await _ask(db, w, [*cleaning(1), *home_help(1)])
    await _stored_before_client_shares(db, view["id"])
    shown = await rq.get_request(db, uuid.UUID(view["id"]))
    assert shown["client_share_cents"] == 0
    assert [line["client_share_cents"] for line in shown["lines"]] == [0, 0]
    assert shown["total_cents"] == 7300


async def test_a_request_stored_before_client_shares_is_charged_with_no_share(db: Database) -> None:
    """Pending across the upgrade and approved after it: the charge and its lines record no
    share for the client to pay the provider on the side."""
    w = await seed_world(db, trusted=False)
    view = await _ask(db, w)
    await _stored_before_client_shares(db, view["id"])
    approved = await _approve(db, w, view)
    charge_id = uuid.UUID(approved["charge_id"])
    async with UnitOfWork(db, readonly=True) as uow:
        charge = await uow.session.get(Charge, charge_id)
        assert charge is not None
        shares = (
            await uow.session.execute(
                select(ChargeLine.client_share_cents).where(ChargeLine.charge_id == charge_id)
            )
        ).scalars()
        assert (charge.total_cents, charge.client_share_cents) == (7000, 0)
        assert list(shares) == [0]
    assert (await envelope(db, w.wallet_id)).balance_cents == MONTHLY - 7000
    await assert_books_ok(db)
