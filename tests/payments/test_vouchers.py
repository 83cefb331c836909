"""Service vouchers: the wallet pays at most the voucher's value per unit; the rest of the
provider's price is the client's own share, shown on every receipt and never in the ledger.

The voucher client has a 'kotiapu' voucher of 32 EUR an hour for 10 h a week; the provider's
list price for kotiapu is 38 EUR, so two hours cost 76 EUR: 64 EUR from the wallet, 12 EUR own
share. Every capture path goes through payments.charges.Pricing; each is tested here.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from payments.budgets.catalogue import DecisionLineInput, create_decision
from payments.budgets.funding import fund_period
from payments.checkout import phone, requests, tokens, visits
from payments.checkout.charges import (
    ChargeLineInput,
    Customer,
    capture_charge,
    refund_charge,
)
from payments.db import Database
from payments.errors import InvalidInput, RefundTooLarge
from payments.ledger.periods import current_period, first_day
from payments.models import Charge, ChargeLine, Decision, DecisionLine, Transfer
from payments.people.phones import to_e164
from payments.reporting.wallet_views import get_charge, wallet_history, wallet_view
from payments.results import Happened
from payments.uow import UnitOfWork
from tests.factories import (
    World,
    add_client_with_decision,
    assert_books_ok,
    assert_refused,
    envelope,
    row_counts,
    seed_world,
)
from tests.support.api import Keys, auth
from tests.wallet_api.conftest import client, keys, world  # noqa: F401

VOUCHER = 3200
LIST_PRICE = 3800  # seed_world's kotiapu price for w.provider_id
# 10 h/week x 32 EUR x 52 / 12 = 1386.67 EUR a month
MONTHLY = 138_667


def voucher_lines() -> list[DecisionLineInput]:
    return [
        DecisionLineInput(
            "Kotiapu (palveluseteli)",
            None,
            ("kotiapu",),
            voucher_value_cents=VOUCHER,
            hours_per_week="10",
        )
    ]


async def voucher_world(db: Database, *, trusted: bool = True) -> World:
    return await seed_world(db, lines=voucher_lines(), trusted=trusted)


def two_hours(price: int = LIST_PRICE) -> list[ChargeLineInput]:
    return [ChargeLineInput("kotiapu", Decimal("2"), price)]


def key() -> str:
    return uuid.uuid4().hex


async def charge_rows(db: Database, charge_id: str) -> tuple[Charge, list[ChargeLine]]:
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        charge = (
            await s.execute(select(Charge).where(Charge.id == uuid.UUID(charge_id)))
        ).scalar_one()
        lines = list(
            (
                await s.execute(
                    select(ChargeLine)
                    .where(ChargeLine.charge_id == charge.id)
                    .order_by(ChargeLine.position)
                )
            ).scalars()
        )
    return charge, lines


async def charge_transfers(db: Database, charge_id: str) -> int:
    """What moved in the ledger for a charge (charge transfers only)."""
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(
                    select(func.coalesce(func.sum(Transfer.amount_cents), 0)).where(
                        Transfer.charge_id == uuid.UUID(charge_id), Transfer.kind == "charge"
                    )
                )
            ).scalar_one()
        )


async def assert_split(db: Database, body: dict[str, Any], wallet: int, share: int) -> None:
    """The receipt, the stored charge and the ledger all agree on the split."""
    assert body["total_cents"] == wallet and body["client_share_cents"] == share
    assert [x["client_share_cents"] for x in body["lines"]] == [share]
    assert [x["amount_cents"] for x in body["lines"]] == [wallet]
    charge, lines = await charge_rows(db, body["id"])
    assert (charge.total_cents, charge.client_share_cents) == (wallet, share)
    assert [(x.amount_cents, x.client_share_cents) for x in lines] == [(wallet, share)]
    # Only the wallet's part moves in the ledger; the own share is information only.
    assert await charge_transfers(db, body["id"]) == wallet
    assert (await get_charge(db, uuid.UUID(body["id"])))["client_share_cents"] == share


async def test_voucher_decision_amount_comes_from_weekly_hours(db: Database) -> None:
    w = await voucher_world(db)
    view = await wallet_view(db, w.wallet_id)
    (env,) = view["envelopes"]
    assert env["monthly_amount_cents"] == MONTHLY and env["voucher_value_cents"] == VOUCHER
    async with UnitOfWork(db, readonly=True) as uow:
        line = (await uow.session.execute(select(DecisionLine))).scalar_one()
    assert line.hours_per_week == "10" and line.voucher_value_cents == VOUCHER


async def test_direct_charge_splits_at_the_voucher(db: Database) -> None:
    w = await voucher_world(db)
    before = (await envelope(db, w.wallet_id)).balance_cents
    out = await capture_charge(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=to_e164(w.phone)),
        lines=two_hours(),
        idempotency_key=key(),
        request_hash=key(),
    )
    assert out.what is Happened.CREATED
    await assert_split(db, out.body, 6400, 1200)
    assert (await envelope(db, w.wallet_id)).balance_cents == before - 6400
    # A price within the voucher: no own share.
    out = await capture_charge(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=to_e164(w.phone)),
        lines=two_hours(3000),
        idempotency_key=key(),
        request_hash=key(),
    )
    await assert_split(db, out.body, 6000, 0)
    # The wallet's history shows the own share beside the charge.
    items = (await wallet_history(db, w.wallet_id, kind="charge"))["items"]
    assert sorted(x["client_share_cents"] for x in items) == [0, 1200]
    assert sorted(-x["amount_cents"] for x in items) == [6000, 6400]
    await assert_books_ok(db)


async def test_token_checkout_splits_at_the_voucher(db: Database) -> None:
    w = await voucher_world(db, trusted=False)
    issued = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    out = await capture_charge(
        db,
        provider_id=w.provider_id,
        customer=Customer(token=issued.token),
        lines=two_hours(),
        idempotency_key=key(),
        request_hash=key(),
    )
    await assert_split(db, out.body, 6400, 1200)
    await assert_books_ok(db)


async def test_trusted_phone_checkout_captures_the_wallet_part(db: Database) -> None:
    w = await voucher_world(db)
    out = await phone.phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=to_e164(w.phone),
        lines=two_hours(),
        idempotency_key=key(),
        request_hash=key(),
    )
    assert out.what is Happened.CREATED and out.body["outcome"] == "captured"
    await assert_split(db, out.body["charge"], 6400, 1200)
    await assert_books_ok(db)


async def test_payment_request_shows_the_share_before_approval(db: Database) -> None:
    w = await voucher_world(db, trusted=False)
    before = (await envelope(db, w.wallet_id)).balance_cents
    out = await phone.phone_checkout(
        db,
        provider_id=w.provider_id,
        phone_e164=to_e164(w.phone),
        lines=two_hours(),
        idempotency_key=key(),
        request_hash=key(),
    )
    assert out.what is Happened.PENDING_APPROVAL
    req = out.body["request"]
    # What the client sees before approving: 64 EUR from the wallet, 12 EUR to pay themselves.
    assert req["total_cents"] == 6400 and req["client_share_cents"] == 1200
    assert req["lines"][0]["client_share_cents"] == 1200
    # Only the wallet's part is held.
    assert (await envelope(db, w.wallet_id)).balance_cents == before - 6400
    pending = await requests.pending_for_wallet(db, w.wallet_id)
    assert pending[0]["client_share_cents"] == 1200
    approved = await requests.approve_request(
        db,
        request_id=uuid.UUID(req["id"]),
        wallet_id=w.wallet_id,
        actor_id=w.client_principal,
    )
    body = await get_charge(db, uuid.UUID(approved.body["charge_id"]))
    await assert_split(db, body, 6400, 1200)
    assert (await envelope(db, w.wallet_id)).balance_cents == before - 6400
    await assert_books_ok(db)


async def test_qr_request_is_split_against_the_approvers_voucher(db: Database) -> None:
    w = await voucher_world(db, trusted=False)
    created = await phone.create_qr_request(
        db,
        provider_id=w.provider_id,
        lines=two_hours(),
        idempotency_key=key(),
        request_hash=key(),
    )
    # Nobody is known yet: the full price, no share.
    assert created.body["total_cents"] == 7600 and created.body["client_share_cents"] == 0
    approved = await requests.approve_request(
        db,
        request_id=uuid.UUID(created.body["id"]),
        wallet_id=w.wallet_id,
        actor_id=w.client_principal,
    )
    assert approved.body["total_cents"] == 6400 and approved.body["client_share_cents"] == 1200
    body = await get_charge(db, uuid.UUID(approved.body["charge_id"]))
    await assert_split(db, body, 6400, 1200)
    # Approving again answers the same, nothing moves twice.
    again = await requests.approve_request(
        db,
        request_id=uuid.UUID(created.body["id"]),
        wallet_id=w.wallet_id,
        actor_id=w.client_principal,
    )
    assert again.replayed and again.body["charge_id"] == approved.body["charge_id"]
    await assert_books_ok(db)


async def test_visit_hold_holds_and_captures_the_wallet_part(db: Database) -> None:
    w = await voucher_world(db)
    before = (await envelope(db, w.wallet_id)).balance_cents
    held = await visits.create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(wallet_id=w.wallet_id),
        lines=[ChargeLineInput("kotiapu", Decimal("3"), LIST_PRICE)],
        idempotency_key=key(),
        request_hash=key(),
    )
    assert held.body["amount_cents"] == 9600  # 3 h x 32 EUR: the own share is never held
    assert (await envelope(db, w.wallet_id)).balance_cents == before - 9600
    captured = await visits.capture_hold(
        db,
        provider_id=w.provider_id,
        hold_id=uuid.UUID(held.body["id"]),
        lines=two_hours(),
        idempotency_key=key(),
        request_hash=key(),
    )
    assert captured.body["captured_cents"] == 6400
    await assert_split(db, captured.body["charge"], 6400, 1200)
    # The rest of the hold went back.
    assert (await envelope(db, w.wallet_id)).balance_cents == before - 6400
    await assert_books_ok(db)


async def test_refund_returns_the_wallet_part_only(db: Database) -> None:
    w = await voucher_world(db)
    before = (await envelope(db, w.wallet_id)).balance_cents
    out = await capture_charge(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=to_e164(w.phone)),
        lines=two_hours(),
        idempotency_key=key(),
        request_hash=key(),
    )
    charge_id = uuid.UUID(out.body["id"])
    part = await refund_charge(
        db,
        provider_id=w.provider_id,
        charge_id=charge_id,
        amount_cents=1000,
        reason=None,
        idempotency_key=key(),
        request_hash=key(),
    )
    assert part.body["amount_cents"] == 1000
    rest = await refund_charge(
        db,
        provider_id=w.provider_id,
        charge_id=charge_id,
        amount_cents=None,
        reason=None,
        idempotency_key=key(),
        request_hash=key(),
    )
    # The wallet paid 64 EUR, so 64 EUR is all that comes back; the 12 EUR own share is the
    # provider's to return outside the wallet.
    assert rest.body["amount_cents"] == 5400 and rest.body["charge_refunded_cents"] == 6400
    assert (await envelope(db, w.wallet_id)).balance_cents == before
    counts = await row_counts(db)
    await assert_refused(
        db,
        RefundTooLarge,
        refund_charge(
            db,
            provider_id=w.provider_id,
            charge_id=charge_id,
            amount_cents=1,
            reason=None,
            idempotency_key=key(),
            request_hash=key(),
        ),
    )
    assert await row_counts(db) == counts
    charge, lines = await charge_rows(db, str(charge_id))
    assert charge.status == "refunded" and charge.client_share_cents == 1200
    assert [(x.refunded_cents, x.amount_cents) for x in lines] == [(6400, 6400)]
    await assert_books_ok(db)


async def test_a_line_below_one_cent_of_voucher_is_refused_with_nothing_written(
    db: Database,
) -> None:
    w = await seed_world(
        db,
        lines=[
            DecisionLineInput("Seteli", 10_000, ("kotiapu",), voucher_value_cents=1),
        ],
    )
    counts = await row_counts(db)
    await assert_refused(
        db,
        InvalidInput,
        capture_charge(
            db,
            provider_id=w.provider_id,
            customer=Customer(phone_e164=to_e164(w.phone)),
            lines=[ChargeLineInput("kotiapu", Decimal("0.1"), LIST_PRICE)],
            idempotency_key=key(),
            request_hash=key(),
        ),
    )
    assert await row_counts(db) == counts


async def test_voucher_decision_refusals_write_nothing(db: Database) -> None:
    w = await voucher_world(db)

    async def decisions() -> int:
        async with UnitOfWork(db, readonly=True) as uow:
            return int((await uow.session.execute(select(func.count(Decision.id)))).scalar_one())

    n = await decisions()
    bad = [
        # hours without a voucher value
        DecisionLineInput("x", None, ("kotiapu",), hours_per_week="5"),
        # an amount that does not match hours x voucher x 52 / 12
        DecisionLineInput("x", 100, ("kotiapu",), voucher_value_cents=VOUCHER, hours_per_week="5"),
        # neither an amount nor hours
        DecisionLineInput("x", None, ("kotiapu",), voucher_value_cents=VOUCHER),
        # four decimals
        DecisionLineInput(
            "x", None, ("kotiapu",), voucher_value_cents=VOUCHER, hours_per_week="1.2345"
        ),
        DecisionLineInput("x", 100, ("kotiapu",), voucher_value_cents=0),
    ]
    for line in bad:
        await assert_refused(
            db,
            InvalidInput,
            create_decision(
                db,
                organizer_id=w.organizer_id,
                client_id=w.client_id,
                valid_from=first_day(current_period()),
                valid_to=None,
                lines=[line],
            ),
        )
    assert await decisions() == n


# --- HTTP: the receipt and the request show the own share -------------------------------------


async def test_http_checkout_shows_the_own_share(
    client: Any,  # noqa: F811 (the fixtures of tests/wallet_api)
    keys: Keys,  # noqa: F811
    world: World,  # noqa: F811
    db: Database,
) -> None:
    new = await add_client_with_decision(
        db,
        world,
        phone="040 765 0000",
        lines=voucher_lines(),
        valid_from=first_day(world.period),
    )
    await fund_period(db, world.period)
    r = await client.post(
        "/api/checkout/phone",
        json={
            "phone": "040 765 0000",
            "lines": [{"category": "kotiapu", "quantity": "2", "unit_price_cents": LIST_PRICE}],
        },
        headers=auth(keys.provider, **{"Idempotency-Key": key()}),
    )
    assert r.status_code == 201, r.text
    charge = r.json()["charge"]
    assert charge["total_cents"] == 6400 and charge["client_share_cents"] == 1200
    assert charge["lines"][0]["client_share_cents"] == 1200
    r = await client.get(f"/api/charges/{charge['id']}", headers=auth(keys.provider))
    assert r.json()["client_share_cents"] == 1200
    items = (await wallet_history(db, new.wallet_id, kind="charge"))["items"]
    assert [x["client_share_cents"] for x in items] == [1200]
    await assert_books_ok(db)
