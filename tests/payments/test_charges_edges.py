"""Charges and refunds at their edges (the survivors of `make mutation` on
payments/checkout/charges.py): the refund amount's bounds to the cent, the refusals' own
words, a refund's last cent, two lines of one envelope refunded together, and a refund of a
closed month's charge when the same envelope has been charged again since. Both engines.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.charges import (
    MAX_LINES,
    MAX_QUANTITY,
    MAX_UNIT_PRICE_CENTS,
    QUANTITY_RULE,
    Customer,
    parse_quantity,
    validate_lines,
)
from payments.checkout.phone import phone_checkout
from payments.checkout.tokens import issue_token
from payments.checkout.trust import list_trusted
from payments.checkout.visits import capture_hold, create_visit_hold
from payments.errors import (
    ConsentRequired,
    InvalidInput,
    NotFound,
    NotInBudget,
    PriceAboveList,
    ProviderNotApproved,
    RefundTooLarge,
    UnknownCategory,
)
from payments.models import Charge, OutboxEvent, Refund
from payments.outbox import CHARGE_CAPTURED
from payments.results import Happened
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import (
    account_balance,
    assert_books_ok,
    assert_refused,
    at,
    charge_row,
    envelope,
    envelopes,
    organizer_account_id,
    seed_world,
    set_provider_status,
    transfers,
)
from tests.support.money import PHONE, charge, line, refund

TWO_LINES = [
    DecisionLineInput("Kotiapu", 20_000, ("kotiapu",)),
    DecisionLineInput("Siivous", 10_000, ("siivous",)),
]


async def test_a_refund_amount_is_bounded_at_the_largest_possible_charge(db):
    """Up to MAX_LINES x MAX_UNIT_PRICE_CENTS is a refund amount (then too large for this
    charge); one cent more is not a number of cents a charge can have."""
    w = await seed_world(db)
    cid = (await charge(db, w, [line("siivous", "2", 3500)])).body["id"]
    largest = MAX_UNIT_PRICE_CENTS * MAX_LINES
    err = await assert_refused(db, RefundTooLarge, refund(db, w, cid, largest))
    assert err.slug == "refund-exceeds-charge"
    assert err.detail == "At most 7000 cents can be refunded"
    err = await assert_refused(db, InvalidInput, refund(db, w, cid, largest + 1))
    assert err.detail == "amount_cents must be a positive whole number of cents"


async def test_refusals_say_what_is_left_and_what_is_not_found(db):
    w = await seed_world(db)
    cid = (await charge(db, w, [line("siivous", "2", 3500)])).body["id"]
    await refund(db, w, cid, 5000)
    err = await assert_refused(db, RefundTooLarge, refund(db, w, cid, 2001))
    assert err.detail == "At most 2000 cents can be refunded"
    err = await assert_refused(db, NotFound, refund(db, w, uuid.uuid4(), 1000))
    assert err.detail == "No such charge"
    await refund(db, w, cid, None)
    err = await assert_refused(db, RefundTooLarge, refund(db, w, cid, None))
    assert err.detail == "This charge has been refunded in full"


async def test_the_last_cent_of_a_line_is_refunded(db):
    """A refund of one cent, and a refund that leaves one cent and then takes it."""
    w = await seed_world(db)
    cid = (await charge(db, w, [line("siivous", "2", 3500)])).body["id"]
    r = await refund(db, w, cid, 1)
    assert (r.body["amount_cents"], r.body["charge_refunded_cents"]) == (1, 1)
    await refund(db, w, cid, 6998)
    last = await refund(db, w, cid, None)
    assert (last.body["amount_cents"], last.body["charge_refunded_cents"]) == (1, 7000)
    assert await charge_row(db, uuid.UUID(cid)) == ("refunded", 7000, 7000)
    assert [t.amount_cents for t in await transfers(db, kind="refund")] == [1, 6998, 1]
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000
    await assert_books_ok(db)


async def test_a_refund_one_cent_past_the_last_line_takes_that_cent_from_the_line_before(db):
    w = await seed_world(db, lines=TWO_LINES)
    home, cleaning = await envelopes(db, w.wallet_id)
    cid = (await charge(db, w, [line("kotiapu", "1", 3800), line("siivous", "1", 3500)])).body["id"]
    await refund(db, w, cid, 3501)  # all of the cleaning line, then one cent of home help
    credits = {t.credit_account_id: t.amount_cents for t in await transfers(db, kind="refund")}
    assert credits == {cleaning.id: 3500, home.id: 1}
    # The cleaning line has nothing left; home help has all but one cent: 2 more cents come
    # from home help alone.
    await refund(db, w, cid, 2)
    assert [(t.credit_account_id, t.amount_cents) for t in await transfers(db, kind="refund")][
        -1
    ] == (home.id, 2)
    home2, cleaning2 = await envelopes(db, w.wallet_id)
    assert (home2.balance_cents, cleaning2.balance_cents) == (20_000 - 3800 + 3, 10_000)
    await assert_books_ok(db)


async def test_two_lines_of_one_envelope_are_refunded_in_one_transfer_of_both(db):
    w = await seed_world(db)  # one envelope for cleaning and home help
    cid = (await charge(db, w, [line("siivous", "1", 3500), line("kotiapu", "1", 3800)])).body["id"]
    r = await refund(db, w, cid, 5000)  # 3800 of home help, then 1200 of cleaning
    assert r.body["returned_to"] == "envelope"
    assert [t.amount_cents for t in await transfers(db, kind="refund")] == [5000]
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 7300 + 5000
    await refund(db, w, cid, None)
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000
    await assert_books_ok(db)


async def test_a_closed_months_charge_goes_back_to_the_organizer_after_a_new_charge(db):
    """The month a refund belongs to is its own charge's, not that of the envelope's latest
    charge: a January charge refunded in February, after a February charge from the same
    envelope, goes to the organizer (January is closed) and leaves February's envelope alone.
    """
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=30_000)
    await fund_period(db, "2031-01")
    jan = (await charge(db, w, [line("siivous", "2", 3500)], now=at("2031-01"))).body["id"]
    await fund_period(db, "2031-02")
    await charge(db, w, [line("siivous", "1", 3500)], now=at("2031-02", 2))
    budget = await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET)
    budget_before = await account_balance(db, budget)

    r = await refund(db, w, jan, 2500, now=at("2031-02", 3))
    assert r.body["returned_to"] == "organizer"
    assert await transfers(db, kind="refund") == []
    (t,) = await transfers(db, kind="refund_closed")
    assert (t.credit_account_id, t.amount_cents, t.period) == (budget, 2500, "2031-01")
    assert await account_balance(db, budget) == budget_before + 2500
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 3500
    await assert_books_ok(db)


async def test_a_refund_answers_in_full_and_keeps_its_reason(db):
    w = await seed_world(db, fund=False, period="2031-01")
    await fund_period(db, "2031-01")
    cid = (await charge(db, w, [line("siivous", "2", 3500)], now=at("2031-01"))).body["id"]
    when = at("2031-01", 16)
    r = await refund(db, w, cid, 1000, reason="Käynti jäi lyhyeksi", now=when)
    assert r.body == {
        "id": r.body["id"],
        "charge_id": cid,
        "amount_cents": 1000,
        "charge_refunded_cents": 1000,
        "returned_to": "envelope",
        "created_at": when.isoformat(),
    }
    async with UnitOfWork(db, readonly=True) as uow:
        stored = await uow.session.get(Refund, uuid.UUID(r.body["id"]))
    assert stored is not None
    assert (stored.reason, stored.amount_cents, stored.to_envelope) == (
        "Käynti jäi lyhyeksi",
        1000,
        True,
    )


async def test_a_captured_visit_holds_charge_is_refunded_to_its_envelope(db):
    """A hold's charge moved its money out of the hold account, not out of an envelope: the
    refund finds the envelope's month from the charge itself."""
    w = await seed_world(db)
    held = await create_visit_hold(
        db,
        provider_id=w.provider_id,
        customer=Customer(phone_e164=PHONE),
        lines=[line("kotiapu", "2", 3800)],
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
        trusted_only=True,
    )
    captured = await capture_hold(
        db,
        provider_id=w.provider_id,
        hold_id=uuid.UUID(held.body["id"]),
        lines=[line("kotiapu", "1.5", 3800)],
        idempotency_key=uuid.uuid4().hex,
        request_hash=uuid.uuid4().hex,
    )
    cid = captured.body["charge_id"]
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 5700
    r = await refund(db, w, cid, None)
    assert (r.body["amount_cents"], r.body["returned_to"]) == (5700, "envelope")
    (t,) = await transfers(db, kind="refund")
    assert (t.amount_cents, t.period) == (5700, w.period)
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000
    await assert_books_ok(db)


class _FirstBatchOnly(Exception):
    pass


def _stop_after_first_batch(done: int, total: int) -> None:
    raise _FirstBatchOnly


async def test_a_charge_during_the_funding_run_is_refunded_into_each_envelopes_own_month(db):
    """A funding run has funded February for the first envelope and not yet reached the second
    (a charge between its batches): one charge takes February money from the first and
    January money from the second. A refund of the first line goes back into February's
    envelope, not to the organizer as if it were January's."""
    w = await seed_world(db, fund=False, period="2031-01", lines=TWO_LINES)
    await fund_period(db, "2031-01")
    with pytest.raises(_FirstBatchOnly):
        await fund_period(db, "2031-02", batch_size=1, progress=_stop_after_first_batch)
    home, cleaning = await envelopes(db, w.wallet_id)
    assert (home.funded_period, cleaning.funded_period) == ("2031-02", "2031-01")
    out = await charge(
        db,
        w,
        [line("siivous", "1", 3500), line("kotiapu", "1", 3800)],
        now=at("2031-02", 1, 0),
    )
    assert out.body["period"] == "2031-01"
    by_account = {t.debit_account_id: t.period for t in await transfers(db, kind="charge")}
    assert by_account == {home.id: "2031-02", cleaning.id: "2031-01"}

    r = await refund(db, w, out.body["id"], 3800, now=at("2031-02", 1, 1))  # the home help line
    assert r.body["returned_to"] == "envelope"
    (t,) = await transfers(db, kind="refund")
    assert (t.credit_account_id, t.amount_cents, t.period) == (home.id, 3800, "2031-02")
    assert (await envelopes(db, w.wallet_id))[0].balance_cents == 20_000
    await assert_books_ok(db)


async def _month_spent(db, w) -> int:
    (mine,) = [t for t in await list_trusted(db, w.wallet_id) if t.provider_id == w.provider_id]
    return mine.month_spent_cents


async def test_a_trusted_charge_remembers_its_month_and_a_refund_gives_back_to_it(db):
    """A charge by phone counts toward the trusted provider's month; the charge keeps that
    month, so its refund makes room in it again."""
    w = await seed_world(db)  # the client trusts the provider: a charge by phone is allowed
    cid = (await charge(db, w, [line("siivous", "2", 3500)])).body["id"]
    assert await _month_spent(db, w) == 7000
    async with UnitOfWork(db, readonly=True) as uow:
        stored = await uow.session.get(Charge, uuid.UUID(cid))
    assert stored is not None and stored.trust_period == w.period
    await refund(db, w, cid, 2000)
    assert await _month_spent(db, w) == 5000
    await refund(db, w, cid, None)
    assert await _month_spent(db, w) == 0
    await assert_books_ok(db)


async def test_a_charge_writes_its_captured_event_for_the_wallet_and_the_provider(db):
    """The outbox event is what the client's live balance and the provider's feed are sent
    from: it names the wallet, the provider and the county, and carries the new balances."""
    w = await seed_world(db)
    env = await envelope(db, w.wallet_id)
    out = await charge(db, w, [line("siivous", "2", 3500)])
    async with UnitOfWork(db, readonly=True) as uow:
        events = (
            (
                await uow.session.execute(
                    select(OutboxEvent).where(OutboxEvent.type == CHARGE_CAPTURED)
                )
            )
            .scalars()
            .all()
        )
    (event,) = events
    assert (event.organizer_id, event.wallet_id, event.provider_id) == (
        w.organizer_id,
        w.wallet_id,
        w.provider_id,
    )
    assert event.delivered_at is None
    assert event.payload == {
        "charge_id": out.body["id"],
        "provider_name": "Siivouspalvelu Kuura Oy",
        "total_cents": 7000,
        "client_share_cents": 0,
        "balances": {str(env.id): 23_000},
    }


async def test_a_line_that_comes_to_nothing_within_the_voucher_is_refused(db):
    """A voucher of one cent an hour: 0.4 hours is 1,520 cents at the list price, of which the
    wallet's part rounds to 0. Refused, with what is wrong, and nothing is written."""
    w = await seed_world(
        db,
        lines=[
            DecisionLineInput(
                "Kotiapu (palveluseteli)",
                None,
                ("kotiapu",),
                voucher_value_cents=1,
                hours_per_week="10",
            )
        ],
    )
    err = await assert_refused(db, InvalidInput, charge(db, w, [line("kotiapu", "0.4", 3800)]))
    assert err.detail == "a line must come to at least one cent within the voucher"
    out = await charge(db, w, [line("kotiapu", "0.5", 3800)])  # 0.5 cents rounds half up to 1
    assert out.body["lines"][0]["amount_cents"] == 1
    assert out.body["lines"][0]["client_share_cents"] == 1900 - 1


async def test_a_decision_starts_at_midnight_helsinki_time_not_utc(db):
    """00:30 on 1 March in Helsinki is still 28 February in UTC: a decision that starts on
    1 March covers the charge (and one that ended on 28 February would not)."""
    w = await seed_world(db, fund=False, period="2031-03")
    await fund_period(db, "2031-03")
    just_after_midnight = datetime(2031, 2, 28, 22, 30, tzinfo=UTC)  # 00:30 EET, 1 March
    err = await assert_refused(
        db,
        NotInBudget,
        charge(db, w, [line("siivous", "1", 3500)], now=just_after_midnight - timedelta(hours=1)),
    )
    assert err.detail == "This service is not in the customer's budget"
    out = await charge(db, w, [line("siivous", "1", 3500)], now=just_after_midnight)
    assert out.body["period"] == "2031-03"
    await assert_books_ok(db)


async def test_a_provider_not_approved_to_charge_is_told_so(db):
    w = await seed_world(db)
    await set_provider_status(db, w.provider_id, "suspended")
    err = await assert_refused(db, ProviderNotApproved, charge(db, w, [line("siivous", "1", 3500)]))
    assert err.detail == "The provider is not approved to charge"


async def test_a_card_and_pin_charge_needs_no_trust(db):
    """A card with its PIN is the client's consent: a provider the client has not trusted may
    charge it (by phone number or wallet id alone it may not)."""
    w = await seed_world(db, trusted=False)
    card = Customer(wallet_id=w.wallet_id, card_verified=True)
    out = await charge(db, w, [line("siivous", "2", 3500)], customer=card)
    assert out.body["total_cents"] == 7000
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 7000


async def test_a_card_charge_by_a_trusted_provider_counts_toward_its_month(db):
    w = await seed_world(db)
    card = Customer(wallet_id=w.wallet_id, card_verified=True)
    cid = (await charge(db, w, [line("siivous", "2", 3500)], customer=card)).body["id"]
    assert await _month_spent(db, w) == 7000
    async with UnitOfWork(db, readonly=True) as uow:
        stored = await uow.session.get(Charge, uuid.UUID(cid))
    assert stored is not None and stored.trust_period == w.period


async def test_a_charge_by_the_payment_codes_digits_alone(db):
    """The client reads out the short code instead of showing the QR: the code alone finds the
    wallet (no trust needed: the code is consent); no customer at all is refused."""
    w = await seed_world(db, trusted=False)
    token = await issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    out = await charge(
        db, w, [line("siivous", "1", 3500)], customer=Customer(token_code=token.code)
    )
    assert out.body["wallet_id"] == str(w.wallet_id) and out.body["total_cents"] == 3500
    err = await assert_refused(db, InvalidInput, charge(db, w, customer=Customer()))
    assert err.detail == "Identify the customer by phone number or wallet"


async def test_checkout_by_an_unknown_phone_number_is_not_in_budget(db):
    """Checkout by phone (a payment request for an untrusted provider) finds the client by
    number without asking for trust; an unknown number gets the same `not-in-budget` as a
    client without budget, not the trusted charge's `consent-required`."""
    w = await seed_world(db, trusted=False)

    async def checkout(phone: str):
        return await phone_checkout(
            db,
            provider_id=w.provider_id,
            phone_e164=phone,
            lines=[line("siivous", "1", 3500)],
            idempotency_key=uuid.uuid4().hex,
            request_hash=uuid.uuid4().hex,
        )

    out = await checkout(PHONE)
    assert out.what is Happened.PENDING_APPROVAL
    err = await assert_refused(db, NotInBudget, checkout("+358409999999"))
    assert err.detail == "This service is not in the customer's budget"


async def test_the_price_and_consent_refusals_say_what_is_wrong(db):
    """Each refusal names what the provider can fix: the unknown code, the service it is not
    approved for, the list price it asked more than, and what to do instead of a charge
    without consent."""
    w = await seed_world(db, trusted=False)
    err = await assert_refused(db, UnknownCategory, charge(db, w, [line("hieronta", "1", 3500)]))
    assert err.detail == "Unknown service: hieronta"
    err = await assert_refused(
        db, ProviderNotApproved, charge(db, w, [line("kuljetus", "1", 2500)])
    )
    assert err.detail == "The provider is not approved for this service: kuljetus"
    err = await assert_refused(db, PriceAboveList, charge(db, w, [line("siivous", "1", 3501)]))
    assert err.detail == "The price is above the list price (3500 cents)"
    err = await assert_refused(db, ConsentRequired, charge(db, w, [line("siivous", "1", 3500)]))
    assert err.detail == (
        "The client has not let this provider charge without asking: send a payment request "
        "(POST /api/checkout/phone) or charge the client's payment code"
    )


def test_a_quantity_is_read_in_plain_notation_and_never_from_a_float():
    """A Decimal in exponent notation is read as the number it is (no exponent is stored);
    a float is refused even when its text would pass (1.5, 2.0)."""
    assert parse_quantity(Decimal("1E+3")) == Decimal(1000)
    assert str(parse_quantity(Decimal("1E+3"))) == "1000"
    assert parse_quantity(Decimal("2.50")) == Decimal("2.5")
    assert parse_quantity("1000") == MAX_QUANTITY == Decimal(1000)
    assert parse_quantity("0.001") == Decimal("0.001")
    # A float, text that is not plain digits, and text out of (0, 1000]: the same rule.
    for bad in (1.5, 2.0, True, "1e3", " 1", "0", "0.000", "1000.001"):
        with pytest.raises(InvalidInput) as refused:
            parse_quantity(bad)
        assert refused.value.detail == f"quantity: {QUANTITY_RULE}", bad


def test_the_lines_refusals_say_what_is_wrong():
    def refused(lines: list) -> str:
        with pytest.raises(InvalidInput) as info:
            validate_lines(lines)
        return info.value.detail

    ok = line("siivous", "1", 3500)
    assert refused([]) == "A charge needs at least one line"
    assert refused([ok] * (MAX_LINES + 1)) == f"A charge has at most {MAX_LINES} lines"
    validate_lines([ok] * MAX_LINES)
    validate_lines([line("siivous", "1", MAX_UNIT_PRICE_CENTS)])
    for price in (0, MAX_UNIT_PRICE_CENTS + 1):
        bad = line("siivous", "1", price)
        assert refused([bad]) == "unit_price_cents must be a positive whole number of cents"
    assert refused([line("siivous", "0.001", 100)]) == "a line must come to at least one cent"
