"""Corrections in the case manager's app (issue 18): a charge of last month, whose month has
closed, is corrected from the client's wallet; a small one moves at once, a large one waits for
a second case manager, who approves it on the Corrections screen. Its own server, so the suite's
shared one keeps its months as they are."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout.charges import Customer, capture_charge
from payments.db import create_database
from payments.ledger.periods import HELSINKI, current_period
from payments.models import Principal, Provider
from payments.uow import UnitOfWork
from tests.e2e.helpers import assert_accessible, call_api, sign_in_with_key
from tests.e2e.server import PHONE, serve, server_env
from tests.factories import trust_provider
from tests.support.money import exactly


def _last_month() -> str:
    first = date.fromisoformat(current_period() + "-01")
    return (first - timedelta(days=1)).strftime("%Y-%m")


async def _closed_charge(database_url: str) -> dict[str, str]:
    """A client whose decision began last month, charged 150.00 in the middle of last month;
    this month funded, so last month has closed."""
    db = create_database(database_url)
    try:
        async with UnitOfWork(db, readonly=True) as uow:
            organizer_id, cm_id = (
                await uow.session.execute(
                    select(Principal.organizer_id, Principal.id).where(
                        Principal.role == "case_manager", Principal.admin.is_(False)
                    )
                )
            ).one()
            provider_id = (
                await uow.session.execute(
                    select(Provider.id).where(
                        Provider.organizer_id == organizer_id,
                        Provider.name == "Siivouspalvelu Kuura Oy",
                    )
                )
            ).scalar_one()
        last = _last_month()
        client = await catalogue.create_client(
            db,
            organizer_id=organizer_id,
            first_name="Eero",
            last_name="Korjattava",
            phone="040 999 1234",
        )
        await catalogue.create_decision(
            db,
            organizer_id=organizer_id,
            client_id=client.client_id,
            valid_from=date.fromisoformat(last + "-01"),
            valid_to=None,
            lines=[DecisionLineInput("Siivous", 30_000, ("siivous",))],
        )
        await fund_period(db, last)
        await trust_provider(db, client.wallet_id, provider_id, actor_id=cm_id)
        done = await capture_charge(
            db,
            provider_id=provider_id,
            customer=Customer(wallet_id=client.wallet_id),
            lines=exactly(15_000),
            idempotency_key=uuid.uuid4().hex,
            request_hash=uuid.uuid4().hex,
            now=datetime.fromisoformat(last + "-15T12:00").replace(tzinfo=HELSINKI),
        )
        await fund_period(db, current_period())
        return {"wallet_id": str(client.wallet_id), "charge_id": str(done.body["id"])}
    finally:
        await db.dispose()


def _correct(page: Page, wallet_id: str, euros: str, reason: str) -> None:
    page.goto(f"/#/wallet/{wallet_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Eero Korjattava")
    link = page.get_by_role("link", name="Korjaa maksu")
    expect(link).to_have_count(1)
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Korjaa maksu")
    expect(page.locator("dl.facts")).to_contain_text("Siivouspalvelu Kuura Oy")
    page.get_by_label("Korjattava summa").fill(euros)
    page.get_by_label("Syy", exact=True).fill(reason)
    page.get_by_role("button", name="Korjaa", exact=True).click()


def test_a_case_manager_corrects_a_closed_months_charge_and_another_approves_a_large_one(
    browser: Browser, tmp_path: Path
) -> None:
    (tmp_path / "server").mkdir()
    with serve(tmp_path / "server", WALLET_DEV_API_KEY_FORM="1") as (url, seeded):
        env = server_env(tmp_path / "server", 0)
        with ThreadPoolExecutor(1) as pool:
            made = pool.submit(asyncio.run, _closed_charge(env["WALLET_DATABASE_URL"])).result()
        context = browser.new_context(
            base_url=url, viewport=PHONE, locale="fi-FI", timezone_id="Europe/Helsinki"
        )
        page = context.new_page()
        sign_in_with_key(page, seeded["case_manager_key"])
        expect(page.get_by_role("heading", level=1)).to_have_text("Asiakkaat")

        # Bad input is refused beside its field, and nothing is sent.
        _correct(page, made["wallet_id"], "200,00", "")
        expect(page.locator(".error-summary")).to_be_visible()
        expect(page.locator(".error-summary")).to_contain_text("Voit korjata enintään 150,00")
        expect(page.locator(".error-summary")).to_contain_text("Kerro korjauksen syy")
        assert_accessible(page, "the correction form with errors")

        # 20.00: below the county's limit (100.00), so it moves at once.
        page.get_by_label("Korjattava summa").fill("20,00")
        page.get_by_label("Syy", exact=True).fill("Käynti jäi väliin")
        page.get_by_role("button", name="Korjaa", exact=True).click()
        expect(page.locator(".notice .outcome")).to_have_text(
            "Korjattu: 20,00 € palautui hyvinvointialueelle."
        )

        # 120.00: above it, so it waits; its asker may withdraw it but not approve it.
        _correct(page, made["wallet_id"], "120,00", "Laskutettu kahdesti")
        expect(page.locator(".notice .outcome")).to_have_text(
            "Korjaus 120,00 € odottaa toisen asiakasohjaajan hyväksyntää."
        )
        page.get_by_role("link", name="Kaikki korjaukset").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Korjaukset")
        waiting = page.locator("#pending-corrections li")
        expect(waiting).to_have_count(1)
        expect(waiting).to_contain_text("Eero Korjattava")
        expect(waiting.get_by_role("button", name="Hyväksy")).to_have_count(0)
        expect(waiting.get_by_role("button", name="Peru")).to_be_visible()
        expect(page.locator("#correction-limit-form")).to_have_count(0)  # not an admin
        assert_accessible(page, "corrections, one waiting")
        context.close()

        # The second case manager (an admin) approves it.
        context = browser.new_context(
            base_url=url, viewport=PHONE, locale="fi-FI", timezone_id="Europe/Helsinki"
        )
        page = context.new_page()
        sign_in_with_key(page, seeded["admin_key"])
        page.get_by_role("link", name="Korjaukset").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Korjaukset")
        waiting = page.locator("#pending-corrections li")
        expect(waiting).to_contain_text("Laskutettu kahdesti")
        waiting.get_by_role("button", name="Hyväksy").click()
        expect(page.locator("#corrections-status")).to_have_text(
            "Korjaus hyväksytty: 120,00 € palautui hyvinvointialueelle."
        )
        expect(page.locator("#pending-corrections")).to_have_count(0)
        expect(page.locator("#decided-corrections li[data-status=approved]")).to_have_count(2)
        expect(page.locator("#correction-limit-form")).to_be_visible()
        page.get_by_label("Toinen asiakasohjaaja hyväksyy korjaukset, jotka ylittävät").fill("50")
        page.get_by_role("button", name="Tallenna raja").click()
        expect(page.locator("#correction-limit-form [role=status]")).to_have_text(
            "Tallennettu: yli 50,00 € korjaukset odottavat toista hyväksyjää."
        )
        assert_accessible(page, "corrections decided")
        # The audit log says it in words, and its filter finds the corrections.
        page.goto("/#/audit")
        page.locator("#audit-action").select_option("charge.")
        page.locator("main form.filters button[type=submit]").click()
        said = page.locator("main ul.audit > li")
        expect(said.filter(has_text="korjasi asiakkaan Eero Korjattava maksun")).to_have_count(2)
        expect(said.filter(has_text="pyysi korjausta asiakkaan Eero Korjattava")).to_have_count(1)
        context.close()

        # Last month's statement of the client names both, with their reasons.
        statement = call_api(
            url,
            seeded["case_manager_key"],
            "GET",
            f"/api/wallets/{made['wallet_id']}/statements/{_last_month()}",
        )
        assert sorted((c["amount_cents"], c["reason"]) for c in statement["corrections"]) == [
            (2000, "Käynti jäi väliin"),
            (12_000, "Laskutettu kahdesti"),
        ]
