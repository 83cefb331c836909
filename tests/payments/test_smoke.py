from decimal import Decimal

from payments.books import check_books
from payments.checkout.charges import ChargeLineInput, Customer, capture_charge, refund_charge
from payments.reporting.wallet_views import wallet_view
from payments.results import Happened
from tests.factories import seed_world


async def test_charge_and_refund_balance(db):
    w = await seed_world(db)
    out = await capture_charge(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164="+358401234567"),
        lines=[ChargeLineInput("siivous", Decimal("2"), 3500)],
        idempotency_key="k1",
        request_hash="h1",
    )
    assert out.what is Happened.CREATED and out.body["total_cents"] == 7000
    view = await wallet_view(db, w.wallet_id)
    assert view["envelopes"][0]["balance_cents"] == 30_000 - 7000
    r = await refund_charge(
        db,
        provider_id=w.provider_id,
        charge_id=__import__("uuid").UUID(out.body["id"]),
        amount_cents=1000,
        reason=None,
        idempotency_key="r1",
        request_hash="rh",
    )
    assert r.body["returned_to"] == "envelope"
    view = await wallet_view(db, w.wallet_id)
    assert view["envelopes"][0]["balance_cents"] == 30_000 - 6000
    report = await check_books(db)
    assert report.ok, report.violations
