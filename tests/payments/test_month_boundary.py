"""Charges racing the funding job at midnight must book each euro to the month it belongs to."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from payments.books import check_books
from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.errors import InsufficientFunds
from payments.marketplace import providers
from payments.reporting.wallet_views import wallet_view
from tests.factories import trust_provider
from tests.support.money import by_wallet, charge, cleaning

JAN, FEB = "2031-01", "2031-02"
# 00:00:30 on 1 February in Helsinki (UTC+2)
JUST_AFTER_MIDNIGHT = datetime(2031, 1, 31, 22, 0, 30, tzinfo=UTC)


async def _county(db, clients: int):
    org = await catalogue.create_organizer(db, slug="boundary", name="Etelä-Savo")
    await catalogue.add_category(
        db, organizer_id=org, code="siivous", names={"fi": "Siivous"}, unit="hour"
    )
    provider, _ = await providers.create_provider(
        db, organizer_id=org, name="Kuura", business_id="2345678-1", prices={"siivous": 1000}
    )
    wallets = []
    for i in range(clients):
        new = await catalogue.create_client(
            db, organizer_id=org, first_name="A", last_name=str(i), phone=f"+35840{1000000 + i}"
        )
        await catalogue.create_decision(
            db,
            organizer_id=org,
            client_id=new.client_id,
            valid_from=date(2031, 1, 1),
            valid_to=None,
            lines=[DecisionLineInput("Siivous", 5000, ("siivous",))],
        )
        await trust_provider(db, new.wallet_id, provider)
        wallets.append(new.wallet_id)
    return provider, wallets


async def test_charges_racing_the_funding_run(db):
    provider, wallets = await _county(db, clients=12)
    await fund_period(db, JAN)

    async def pay(i: int, wallet):
        try:
            await charge(
                db,
                None,
                cleaning(1, 1000),
                provider_id=provider,
                customer=by_wallet(wallet),
                key=f"midnight-{i}",
                now=JUST_AFTER_MIDNIGHT,
            )
            return True
        except InsufficientFunds:
            return False

    # Small batches make the funding run take many row locks while charges arrive.
    tasks = [fund_period(db, FEB, batch_size=2)]
    tasks += [pay(i, wallets[i % len(wallets)]) for i in range(48)]
    results = await asyncio.gather(*tasks)
    captured = sum(1 for r in results[1:] if r is True)
    assert captured > 0

    report = await check_books(db)
    assert report.ok, report.violations
    # Every envelope is funded for February and never holds more than one month.
    total_left = 0
    for wallet in wallets:
        env = (await wallet_view(db, wallet))["envelopes"][0]
        assert env["period"] == FEB
        assert 0 <= env["balance_cents"] <= 5000
        total_left += env["balance_cents"]
    jan, feb = report.periods[JAN], report.periods[FEB]
    assert jan.closing == 0 and feb.funded == 5000 * len(wallets)
    assert jan.spent + feb.spent == captured * 1000
    assert feb.closing == total_left
