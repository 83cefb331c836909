"""Charges and refunds through the use cases, on SQLite and PostgreSQL.

Every refusal is checked for its stable slug *and* for having written nothing: no row in the
money tables (transfers, charges, charge lines, refunds, outbox, idempotency keys) and every
envelope exactly as before.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout import trust
from payments.checkout.charges import (
    MAX_LINES,
    ChargeLineInput,
    Customer,
)
from payments.errors import (
    ConsentRequired,
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    NotInBudget,
    PriceAboveList,
    ProviderNotApproved,
    RefundTooLarge,
    Refusal,
    UnknownCategory,
)
from payments.marketplace import providers
from payments.reporting.wallet_views import wallet_view
from payments.results import Happened
from payments.vocabulary import AccountKind
from tests.factories import (
    account_balance,
    add_client_with_decision,
    assert_books_ok,
    assert_refused,
    at,
    charge_row,
    envelope,
    envelopes,
    give_price,
    organizer_account_id,
    provider_payable_id,
    row_counts,
    seed_world,
    set_price_approved,
    set_provider_status,
    transfers,
    trust_provider,
)
from tests.support.money import PHONE, charge, line, refund

UNKNOWN_PHONE = "+358409999999"


# --- captured charges -------------------------------------------------------------------------


async def test_capture_moves_the_money_once(db):
    w = await seed_world(db)
    env = await envelope(db, w.wallet_id)
    before = await row_counts(db)

    out = await charge(db, w, [line("siivous", "2", 3500)])

    assert out.what is Happened.CREATED and not out.replayed
    body = out.body
    assert body["total_cents"] == 7000 and body["refunded_cents"] == 0
    assert body["status"] == "captured" and body["period"] == w.period
    assert body["wallet_id"] == str(w.wallet_id) and body["provider_id"] == str(w.provider_id)
    assert body["lines"] == [
        {
            "category": "siivous",
            "quantity": "2",
            "unit_price_cents": 3500,
            "amount_cents": 7000,
            "client_share_cents": 0,
        }
    ]
    assert body["client_share_cents"] == 0
    after = await row_counts(db)
    assert {k: after[k] - before[k] for k in after} == {
        "transfers": 1,
        "charges": 1,
        "charge_lines": 1,
        "refunds": 0,
        "outbox": 1,
        "idempotency_keys": 1,
    }
    (t,) = await transfers(db, kind="charge")
    payable = await provider_payable_id(db, w.provider_id)
    assert (t.debit_account_id, t.credit_account_id, t.amount_cents) == (env.id, payable, 7000)
    assert t.period == w.period and str(t.charge_id) == body["id"]
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 7000
    assert await account_balance(db, payable) == 7000
    view = await wallet_view(db, w.wallet_id)
    assert view["envelopes"][0]["balance_cents"] == 23_000
    assert view["envelopes"][0]["spent_cents"] == 7000
    await assert_books_ok(db)


async def test_lines_in_two_categories_of_one_envelope(db):
    w = await seed_world(db)
    env = await envelope(db, w.wallet_id)
    out = await charge(
        db,
        w,
        [
            line("siivous", "1.5", 3500),  # 5250
            line("kotiapu", "1.25", 3800),  # 4750
            line("siivous", "0.333", 3500),  # 1165.5 -> 1166 (half up)
        ],
    )
    assert out.body["total_cents"] == 5250 + 4750 + 1166
    assert [ln["amount_cents"] for ln in out.body["lines"]] == [5250, 4750, 1166]
    # One envelope: one debit of the whole total.
    (t,) = await transfers(db, kind="charge")
    assert t.debit_account_id == env.id and t.amount_cents == 11_166
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 11_166
    await assert_books_ok(db)


TWO_LINES = [
    DecisionLineInput("Kotiapu", 20_000, ("kotiapu",)),
    DecisionLineInput("Siivous", 10_000, ("siivous",)),
]


async def test_lines_in_two_envelopes_debit_each(db):
    w = await seed_world(db, lines=TWO_LINES)
    home, cleaning = await envelopes(db, w.wallet_id)
    out = await charge(db, w, [line("kotiapu", "2", 3800), line("siivous", "1", 3500)])
    assert out.body["total_cents"] == 7600 + 3500
    debits = {t.debit_account_id: t.amount_cents for t in await transfers(db, kind="charge")}
    assert debits == {home.id: 7600, cleaning.id: 3500}
    home2, cleaning2 = await envelopes(db, w.wallet_id)
    assert (home2.balance_cents, cleaning2.balance_cents) == (20_000 - 7600, 10_000 - 3500)
    await assert_books_ok(db)


async def test_second_envelope_short_rolls_back_the_first(db):
    """The first envelope is debited in the transaction before the second one refuses: the
    refusal must undo that debit too."""
    w = await seed_world(db, lines=TWO_LINES)
    await assert_refused(
        db,
        InsufficientFunds,
        charge(db, w, [line("kotiapu", "1", 3800), line("siivous", "3", 3500)]),
    )
    await assert_books_ok(db)


async def test_charge_by_wallet_id(db):
    w = await seed_world(db)
    out = await charge(
        db, w, [line("kotiapu", "1", 3800)], customer=Customer(wallet_id=w.wallet_id)
    )
    assert out.what is Happened.CREATED and out.body["wallet_id"] == str(w.wallet_id)
    await assert_books_ok(db)


async def test_exact_balance_can_be_spent_and_not_a_cent_more(db):
    w = await seed_world(db, monthly_cents=7000)
    await assert_refused(db, InsufficientFunds, charge(db, w, [line("siivous", "2.001", 3500)]))
    await charge(db, w, [line("siivous", "2", 3500)])
    assert (await envelope(db, w.wallet_id)).balance_cents == 0
    err = await assert_refused(
        db, InsufficientFunds, charge(db, w, [line("siivous", "0.001", 1000)])
    )
    assert err.slug == "insufficient-funds" and err.kind is Refusal.REFUSED
    await assert_books_ok(db)


# --- declines: each with its slug, and nothing written ----------------------------------------


async def test_provider_without_a_price_for_the_category_is_not_approved(db):
    w = await seed_world(db)
    # The cleaning company has no price for transport, which the organizer does offer.
    err = await assert_refused(
        db, ProviderNotApproved, charge(db, w, [line("kuljetus", "1", 2000)])
    )
    assert err.slug == "provider-not-approved" and err.kind is Refusal.FORBIDDEN
    assert err.extra == {"category": "kuljetus"}
    await assert_books_ok(db)


async def test_suspended_provider_is_not_approved(db):
    w = await seed_world(db)
    await set_provider_status(db, w.provider_id, "suspended")
    err = await assert_refused(db, ProviderNotApproved, charge(db, w, [line("siivous", "1", 3500)]))
    assert err.slug == "provider-not-approved"
    await assert_books_ok(db)


async def test_price_not_approved_and_unknown_provider_are_not_approved(db):
    w = await seed_world(db)
    await set_price_approved(db, w.provider_id, "siivous", False)
    err = await assert_refused(db, ProviderNotApproved, charge(db, w, [line("siivous", "1", 3500)]))
    assert err.slug == "provider-not-approved"
    # kotiapu is still approved
    await charge(db, w, [line("kotiapu", "1", 3800)])
    err = await assert_refused(
        db,
        ProviderNotApproved,
        charge(db, w, [line("kotiapu", "1", 3800)], provider_id=uuid.uuid4()),
    )
    assert err.slug == "provider-not-approved"
    await assert_books_ok(db)


async def test_unknown_category(db):
    w = await seed_world(db)
    err = await assert_refused(db, UnknownCategory, charge(db, w, [line("tanssi", "1", 1000)]))
    assert err.slug == "unknown-category"
    # A valid line before it does not make it through either.
    await assert_refused(
        db,
        UnknownCategory,
        charge(db, w, [line("siivous", "1", 3500), line("tanssi", "1", 1000)]),
    )
    # Another organizer's category is unknown here.
    other = await catalogue.create_organizer(db, slug="eksote-x", name="Eksote")
    await catalogue.add_category(
        db, organizer_id=other, code="hieronta", names={"fi": "Hieronta"}, unit="hour"
    )
    await assert_refused(db, UnknownCategory, charge(db, w, [line("hieronta", "1", 1000)]))
    await assert_books_ok(db)


async def test_price_above_the_list_price(db):
    w = await seed_world(db)  # siivous list price 3500, cap 4000
    err = await assert_refused(db, PriceAboveList, charge(db, w, [line("siivous", "1", 3501)]))
    assert err.slug == "price-above-list" and err.extra == {"list_price_cents": 3500}
    # At the list price, and below it, is fine.
    await charge(db, w, [line("siivous", "1", 3500)])
    await charge(db, w, [line("siivous", "1", 2000)])
    await assert_books_ok(db)


async def test_price_above_the_organizers_cap(db):
    w = await seed_world(db)  # kotiapu cap 4500
    pricey, _ = await providers.create_provider(
        db,
        organizer_id=w.organizer_id,
        name="Kallis Kotiapu Oy",
        business_id="1111111-1",
        prices={"kotiapu": 5000},  # a list price above the county's cap
    )
    await trust_provider(db, w.wallet_id, pricey)
    err = await assert_refused(
        db, PriceAboveList, charge(db, w, [line("kotiapu", "1", 4501)], provider_id=pricey)
    )
    assert err.slug == "price-above-list" and err.extra == {"list_price_cents": 4500}
    assert "cap" in err.detail
    out = await charge(db, w, [line("kotiapu", "1", 4500)], provider_id=pricey)
    assert out.body["total_cents"] == 4500
    await assert_books_ok(db)


async def test_an_untrusted_provider_learns_nothing_from_a_number_or_wallet_id(db):
    """Without consent a phone number or wallet id finds only a client who trusts the
    provider: a client's number (with or without budget for the service), an unknown number
    and an unknown wallet all get one ``consent-required``, word for word (issue 13)."""
    w = await seed_world(db)
    await trust.remove_trusted(
        db, actor_id=w.client_principal, wallet_id=w.wallet_id, provider_id=w.other_provider_id
    )
    taxi = [line("kuljetus", "1", 2500)]  # approved for transport; no transport budget
    cleaning = [line("siivous", "1", 3500)]
    await give_price(db, w.other_provider_id, "siivous", 3500)
    errors = [
        await assert_refused(
            db, ConsentRequired, charge(db, w, lines, provider_id=w.other_provider_id, customer=c)
        )
        for lines in (taxi, cleaning)
        for c in (
            Customer(phone_e164=PHONE),
            Customer(phone_e164=UNKNOWN_PHONE),
            Customer(wallet_id=w.wallet_id),
            Customer(wallet_id=uuid.uuid4()),
        )
    ]
    answers = {(e.slug, e.kind, e.detail, str(e.extra)) for e in errors}
    assert len(answers) == 1 and errors[0].kind is Refusal.FORBIDDEN
    await assert_books_ok(db)


async def test_not_in_budget_outside_the_decision_or_before_funding(db):
    w = await seed_world(db, fund=False, period="2031-03", valid_to=date(2031, 3, 31))
    # Not funded yet: nothing to spend from.
    await assert_refused(
        db, NotInBudget, charge(db, w, [line("siivous", "1", 3500)], now=at("2031-03"))
    )
    await fund_period(db, "2031-03")
    # Before the decision starts and after it ends.
    await assert_refused(
        db, NotInBudget, charge(db, w, [line("siivous", "1", 3500)], now=at("2031-02"))
    )
    await assert_refused(
        db, NotInBudget, charge(db, w, [line("siivous", "1", 3500)], now=at("2031-04", 1))
    )
    out = await charge(db, w, [line("siivous", "1", 3500)], now=at("2031-03", 31, 23))
    assert out.body["period"] == "2031-03"
    await assert_books_ok(db)


async def test_another_organizers_wallet_is_not_found(db):
    w = await seed_world(db)
    w2 = await seed_world(db, phone="040 765 4321")
    err = await assert_refused(
        db,
        ConsentRequired,
        charge(db, w, [line("siivous", "1", 3500)], customer=Customer(wallet_id=w2.wallet_id)),
    )
    assert err.slug == "consent-required"
    # Nor by the other client's phone number through this organizer's provider.
    await assert_refused(
        db,
        ConsentRequired,
        charge(db, w, [line("siivous", "1", 3500)], customer=Customer(phone_e164="+358407654321")),
    )
    await assert_books_ok(db)


async def test_insufficient_funds(db):
    w = await seed_world(db, monthly_cents=10_000)
    err = await assert_refused(db, InsufficientFunds, charge(db, w, [line("siivous", "3", 3500)]))
    assert err.slug == "insufficient-funds"
    await charge(db, w, [line("siivous", "2", 3500)])
    await assert_refused(db, InsufficientFunds, charge(db, w, [line("kotiapu", "1", 3001)]))
    assert (await envelope(db, w.wallet_id)).balance_cents == 3000
    await assert_books_ok(db)


async def test_decline_order_client_checks_never_run_for_a_bad_provider_request(db):
    """A provider learns nothing about a customer from a request that fails on its own terms:
    an unapproved or overpriced line is refused the same way for a known and unknown phone."""
    w = await seed_world(db)
    for phone in (PHONE, UNKNOWN_PHONE):
        cust = Customer(phone_e164=phone)
        await assert_refused(
            db, PriceAboveList, charge(db, w, [line("siivous", "1", 3501)], customer=cust)
        )
        await assert_refused(
            db, ProviderNotApproved, charge(db, w, [line("kuljetus", "1", 100)], customer=cust)
        )
    await assert_books_ok(db)


BAD_LINES: dict[str, list[ChargeLineInput]] = {
    "no lines": [],
    "too many lines": [line("siivous", "0.1", 100)] * (MAX_LINES + 1),
    "zero quantity": [line("siivous", "0", 3500)],
    "negative quantity": [line("siivous", "-1", 3500)],
    "huge quantity": [line("siivous", "1000.001", 1)],
    "astronomic quantity": [line("siivous", "1E+30", 1)],
    "four decimals": [line("siivous", "1.0001", 3500)],
    "NaN quantity": [line("siivous", "NaN", 3500)],
    "infinite quantity": [line("siivous", "Infinity", 3500)],
    "zero unit price": [line("siivous", "1", 0)],
    "negative unit price": [line("siivous", "1", -3500)],
    "huge unit price": [line("siivous", "1", 10_000_001)],
    "astronomic unit price": [line("siivous", "1", 10**30)],
    "rounds to zero cents": [line("siivous", "0.001", 1)],
    "bad line after a good one": [line("siivous", "1", 3500), line("kotiapu", "-1", 3800)],
    # Cents are whole numbers: a float or a bool is refused, never rounded or crashed on.
    "float unit price": [ChargeLineInput("siivous", Decimal(1), 3500.5)],  # type: ignore[arg-type]
    "bool unit price": [ChargeLineInput("siivous", Decimal(1), True)],
}


async def test_bad_input_is_refused_and_writes_nothing(db):
    """Every case in one database (one setup per engine, not one per case): each refusal is
    checked against the state the previous ones left, which must be unchanged throughout."""
    w = await seed_world(db)
    for case, lines in BAD_LINES.items():
        try:
            err = await assert_refused(db, InvalidInput, charge(db, w, lines))
            assert err.slug == "invalid-input" and err.kind is Refusal.INVALID
        except BaseException as exc:
            exc.add_note(f"bad input case: {case}")
            raise
    await assert_refused(
        db, InvalidInput, charge(db, w, [line("siivous", "1", 3500)], customer=Customer())
    )
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000
    await assert_books_ok(db)


async def test_bad_refund_amounts_are_refused_and_write_nothing(db):
    w = await seed_world(db)
    cid = (await charge(db, w, [line("siivous", "2", 3500)])).body["id"]
    for amount in (0, -1, -7000, 100.5, True, 10**30):
        try:
            err = await assert_refused(db, InvalidInput, refund(db, w, cid, amount))  # type: ignore[arg-type]
            assert err.slug == "invalid-input"
        except BaseException as exc:
            exc.add_note(f"refund amount: {amount!r}")
            raise
    assert await charge_row(db, uuid.UUID(cid)) == ("captured", 7000, 0)
    await assert_books_ok(db)


# --- idempotency ------------------------------------------------------------------------------


async def test_replay_returns_the_first_result_and_moves_nothing(db):
    w = await seed_world(db)
    lines = [line("siivous", "2", 3500)]
    first = await charge(db, w, lines, key="door-1")
    counts = await row_counts(db)
    for _ in range(3):
        again = await charge(db, w, lines, key="door-1")
        assert again.replayed and again.what is Happened.CREATED
        assert again.body == first.body
    assert await row_counts(db) == counts
    assert len(await transfers(db, kind="charge")) == 1
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 7000
    await assert_books_ok(db)


async def test_same_key_with_another_body_is_refused(db):
    w = await seed_world(db)
    first = await charge(db, w, [line("siivous", "2", 3500)], key="door-1")
    err = await assert_refused(
        db, IdempotencyKeyReused, charge(db, w, [line("siivous", "3", 3500)], key="door-1")
    )
    assert err.slug == "idempotency-key-reused" and err.kind is Refusal.CONFLICT
    again = await charge(db, w, [line("siivous", "2", 3500)], key="door-1")
    assert again.body == first.body
    await assert_books_ok(db)


async def test_keys_are_per_provider(db):
    """Provider B's key never replays provider A's charge (that would show B A's customer)."""
    w = await seed_world(db)
    b, _ = await providers.create_provider(
        db,
        organizer_id=w.organizer_id,
        name="Toinen Siivous Oy",
        business_id="2222222-2",
        prices={"siivous": 3500},
    )
    await trust_provider(db, w.wallet_id, b)
    lines = [line("siivous", "1", 3500)]
    a_out = await charge(db, w, lines, key="same", request_hash="h")
    b_out = await charge(db, w, lines, key="same", request_hash="h", provider_id=b)
    assert not b_out.replayed and b_out.body["id"] != a_out.body["id"]
    assert b_out.body["provider_id"] == str(b)
    assert len(await transfers(db, kind="charge")) == 2
    await assert_books_ok(db)


async def test_a_refused_request_does_not_burn_its_key(db):
    w = await seed_world(db, monthly_cents=5000)
    await assert_refused(
        db,
        InsufficientFunds,
        charge(db, w, [line("siivous", "2", 3500)], key="k", request_hash="h"),
    )
    # The same request again is evaluated again (and refused again), not replayed.
    await assert_refused(
        db,
        InsufficientFunds,
        charge(db, w, [line("siivous", "2", 3500)], key="k", request_hash="h"),
    )
    out = await charge(db, w, [line("siivous", "1", 3500)], key="k", request_hash="h2")
    assert out.what is Happened.CREATED and not out.replayed
    await assert_books_ok(db)


# --- refunds ----------------------------------------------------------------------------------


async def test_partial_then_whole_refund(db):
    w = await seed_world(db)
    env = await envelope(db, w.wallet_id)
    out = await charge(db, w, [line("siivous", "2", 3500)])
    cid = out.body["id"]

    r1 = await refund(db, w, cid, 1000)
    assert r1.what is Happened.CREATED
    assert r1.body["amount_cents"] == 1000 and r1.body["charge_refunded_cents"] == 1000
    assert r1.body["returned_to"] == "envelope" and r1.body["charge_id"] == cid
    assert await charge_row(db, uuid.UUID(cid)) == ("partially_refunded", 7000, 1000)
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 6000
    (t,) = await transfers(db, kind="refund")
    assert (t.credit_account_id, t.amount_cents, t.period) == (env.id, 1000, w.period)
    await assert_books_ok(db)

    r2 = await refund(db, w, cid, None)
    assert r2.body["amount_cents"] == 6000 and r2.body["charge_refunded_cents"] == 7000
    assert await charge_row(db, uuid.UUID(cid)) == ("refunded", 7000, 7000)
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000
    payable = await provider_payable_id(db, w.provider_id)
    assert await account_balance(db, payable) == 0
    view = await wallet_view(db, w.wallet_id)
    assert view["envelopes"][0]["spent_cents"] == 0
    await assert_books_ok(db)

    # Nothing is left: another whole refund, or one cent, is too large.
    err = await assert_refused(db, RefundTooLarge, refund(db, w, cid, None))
    assert err.slug == "refund-exceeds-charge"
    await assert_refused(db, RefundTooLarge, refund(db, w, cid, 1))


async def test_refund_larger_than_what_is_left(db):
    w = await seed_world(db)
    cid = (await charge(db, w, [line("siivous", "2", 3500)])).body["id"]
    await assert_refused(db, RefundTooLarge, refund(db, w, cid, 7001))
    await refund(db, w, cid, 5000)
    err = await assert_refused(db, RefundTooLarge, refund(db, w, cid, 2001))
    assert err.slug == "refund-exceeds-charge" and err.kind is Refusal.REFUSED
    await refund(db, w, cid, 2000)
    assert await charge_row(db, uuid.UUID(cid)) == ("refunded", 7000, 7000)
    await assert_books_ok(db)


async def test_refund_of_another_providers_charge_is_not_found(db):
    w = await seed_world(db)
    cid = (await charge(db, w, [line("siivous", "2", 3500)])).body["id"]
    err = await assert_refused(
        db, NotFound, refund(db, w, cid, 1000, provider_id=w.other_provider_id)
    )
    assert err.slug == "not-found" and err.kind is Refusal.NOT_FOUND
    no_such = await assert_refused(db, NotFound, refund(db, w, uuid.uuid4(), 1000))
    # "Not yours" and "does not exist" look the same.
    assert (err.slug, err.detail) == (no_such.slug, no_such.detail)
    await assert_books_ok(db)


async def test_refund_replay_and_key_reuse(db):
    w = await seed_world(db)
    cid = (await charge(db, w, [line("siivous", "2", 3500)])).body["id"]
    first = await refund(db, w, cid, 1500, key="r-1")
    counts = await row_counts(db)
    again = await refund(db, w, cid, 1500, key="r-1")
    assert again.replayed and again.body == first.body
    assert await row_counts(db) == counts
    err = await assert_refused(db, IdempotencyKeyReused, refund(db, w, cid, 1000, key="r-1"))
    assert err.slug == "idempotency-key-reused"
    assert await charge_row(db, uuid.UUID(cid)) == ("partially_refunded", 7000, 1500)
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000 - 7000 + 1500
    await assert_books_ok(db)


async def test_refund_spreads_over_envelopes_last_line_first(db):
    w = await seed_world(db, lines=TWO_LINES)
    home, cleaning = await envelopes(db, w.wallet_id)
    cid = (await charge(db, w, [line("kotiapu", "2", 3800), line("siivous", "1", 3500)])).body["id"]
    await refund(db, w, cid, 4000)  # 3500 from the cleaning line, then 500 from home help
    credits = {t.credit_account_id: t.amount_cents for t in await transfers(db, kind="refund")}
    assert credits == {cleaning.id: 3500, home.id: 500}
    home2, cleaning2 = await envelopes(db, w.wallet_id)
    assert (home2.balance_cents, cleaning2.balance_cents) == (20_000 - 7600 + 500, 10_000)
    await assert_books_ok(db)
    await refund(db, w, cid, None)
    home3, cleaning3 = await envelopes(db, w.wallet_id)
    assert (home3.balance_cents, cleaning3.balance_cents) == (20_000, 10_000)
    await assert_books_ok(db)


async def test_refund_after_the_month_closed_goes_to_the_organizer(db):
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=30_000)
    await fund_period(db, "2031-01")
    cid = (await charge(db, w, [line("siivous", "2", 3500)], now=at("2031-01"))).body["id"]
    await fund_period(db, "2031-02")  # expires 23,000 of January, funds 30,000 for February
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period) == (30_000, "2031-02")
    budget = await organizer_account_id(db, w.organizer_id, AccountKind.ORGANIZER_BUDGET)
    budget_before = await account_balance(db, budget)
    counts = await row_counts(db)

    r = await refund(db, w, cid, 2500, now=at("2031-02", 3))
    assert r.body["returned_to"] == "organizer"
    (t,) = await transfers(db, kind="refund_closed")
    assert (t.credit_account_id, t.amount_cents, t.period) == (budget, 2500, "2031-01")
    assert await transfers(db, kind="refund") == []
    assert await account_balance(db, budget) == budget_before + 2500
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000  # untouched
    after = await row_counts(db)
    assert (
        after["transfers"] == counts["transfers"] + 1 and after["refunds"] == counts["refunds"] + 1
    )
    assert await charge_row(db, uuid.UUID(cid)) == ("partially_refunded", 7000, 2500)
    await assert_books_ok(db)

    await refund(db, w, cid, None, now=at("2031-02", 4))
    assert (await envelope(db, w.wallet_id)).balance_cents == 30_000
    assert await account_balance(db, budget) == budget_before + 7000
    await assert_books_ok(db)


async def test_refund_after_the_decision_ended_goes_to_the_organizer(db):
    """The decision ended with January: February's run expires January's remainder and funds
    nothing, so the envelope stays marked 'funded for January' but January is closed. A refund
    of a January charge must not reopen it."""
    w = await seed_world(db, fund=False, period="2031-01", valid_to=date(2031, 1, 31))
    await fund_period(db, "2031-01")
    cid = (await charge(db, w, [line("siivous", "2", 3500)], now=at("2031-01"))).body["id"]
    await fund_period(db, "2031-02")
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period, env.expired_period) == (0, "2031-01", "2031-01")

    r = await refund(db, w, cid, None, now=at("2031-02", 2))
    assert r.body["returned_to"] == "organizer"
    assert (await envelope(db, w.wallet_id)).balance_cents == 0
    assert [t.amount_cents for t in await transfers(db, kind="refund_closed")] == [7000]
    await assert_books_ok(db)


async def test_refund_between_expiry_and_funding_goes_to_the_organizer(db):
    """A funding run died after the expiry step: January is closed, February not yet funded.
    A refund then must not put January money back, or February would hold more than a month."""
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    await fund_period(db, "2031-01")
    cid = (await charge(db, w, [line("siivous", "2", 3500)], now=at("2031-01"))).body["id"]
    await fund_period(db, "2031-02", stop_after="expiry")
    r = await refund(db, w, cid, 3000, now=at("2031-02", 1))
    assert r.body["returned_to"] == "organizer"
    assert (await envelope(db, w.wallet_id)).balance_cents == 0
    await assert_books_ok(db)
    await fund_period(db, "2031-02")
    env = await envelope(db, w.wallet_id)
    assert (env.balance_cents, env.funded_period) == (10_000, "2031-02")
    await assert_books_ok(db)


async def test_refunds_of_a_carried_over_month_stay_within_the_month(db):
    """Two clients, one charge each in January; one refund before and one after February's
    funding. The books agree per period throughout."""
    w = await seed_world(db, fund=False, period="2031-01", monthly_cents=10_000)
    other = await add_client_with_decision(
        db,
        w,
        phone="040 555 1234",
        lines=[DecisionLineInput("Siivous", 8000, ("siivous",))],
        valid_from=date(2031, 1, 1),
    )
    await fund_period(db, "2031-01")
    a = (await charge(db, w, [line("siivous", "1", 3500)], now=at("2031-01"))).body["id"]
    b = (
        await charge(
            db,
            w,
            [line("siivous", "1", 3000)],
            customer=Customer(wallet_id=other.wallet_id),
            now=at("2031-01"),
        )
    ).body["id"]
    assert (await refund(db, w, a, 500, now=at("2031-01", 20))).body["returned_to"] == "envelope"
    await fund_period(db, "2031-02")
    assert (await refund(db, w, b, 500, now=at("2031-02", 2))).body["returned_to"] == "organizer"
    assert (await envelope(db, w.wallet_id)).balance_cents == 10_000
    assert (await envelope(db, other.wallet_id)).balance_cents == 8000
    report = await assert_books_ok(db)
    jan = report.periods["2031-01"]
    assert (jan.funded, jan.spent, jan.refunded, jan.expired, jan.closing) == (
        18_000,
        6500,
        500,
        12_000,
        0,
    )
