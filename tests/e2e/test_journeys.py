"""Browser journeys on a phone-sized screen, each page and state scanned by axe-core."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import assert_accessible, screenshot, sign_in_with_key
from tests.e2e.server import Seeded


def balance_cents(server: Seeded) -> int:
    req = urllib.request.Request(
        f"{server.url}/api/wallets/{server.wallet_id}",
        headers={"Authorization": f"Bearer {server.client_key}"},
    )
    with urllib.request.urlopen(req) as res:
        wallet = json.load(res)
    return sum(e["balance_cents"] for e in wallet["envelopes"])


def euros(cents: int) -> str:
    """12345 -> '123,45' as Intl fi-FI shows it (with a no-break space before €)."""
    whole, part = divmod(cents, 100)
    return f"{whole:,}".replace(",", "\u00a0") + f",{part:02d}"


def test_sign_in_page_is_accessible(page: Page, server: Seeded) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kirjaudu sisään")
    expect(page.locator("html")).to_have_attribute("lang", "fi")
    assert_accessible(page, "sign-in")
    screenshot(page, "01-sign-in")
    page.locator("details summary").click()
    page.get_by_role("button", name="Käytä avainta").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text("Avaimen pitää alkaa wk_")
    assert_accessible(page, "sign-in with an error")
    summary.get_by_role("link").click()
    expect(page.get_by_label("API-avain")).to_be_focused()


def test_client_sees_balances(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.client_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
    card = page.locator("[data-envelope]").first
    expect(card.get_by_role("heading")).to_have_text("Kotiapu ja siivous")
    expect(card.locator(".envelope__balance")).to_contain_text(euros(balance_cents(server)))
    expect(card.locator(".updated")).to_have_text(re.compile(r"Päivitetty klo \d\d\.\d\d"))
    expect(card).to_contain_text("Kuukauden raha")
    assert_accessible(page, "client wallet")
    screenshot(page, "02-client-balances")


def test_provider_charges_by_phone_and_client_sees_it(
    page: Page, server: Seeded, browser: Browser, browser_context_args: dict[str, Any]
) -> None:
    before = balance_cents(server)
    client_ctx = browser.new_context(**browser_context_args)
    client = client_ctx.new_page()
    sign_in_with_key(client, server.client_key)
    expect(client.locator(".envelope__balance").first).to_contain_text(euros(before))

    sign_in_with_key(page, server.provider_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Veloita asiakasta")
    assert_accessible(page, "charge form")
    # Validation: nothing filled in -> error summary with links to each field.
    page.get_by_role("button", name="Veloita").click()
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page, "charge form with errors")
    screenshot(page, "04-provider-charge-errors")

    page.get_by_label("Asiakkaan puhelinnumero").fill(server.client_phone)
    page.get_by_label("Siivous").check()
    page.get_by_label("Yksikköhinta").fill("35,00")
    expect(page.locator("#total")).to_have_text("Yhteensä 35,00\u00a0€")
    screenshot(page, "03-provider-charge")
    page.get_by_role("button", name="Veloita 35,00").click()
    # Not a trusted provider: a payment request holds the money until the client answers.
    expect(page.get_by_role("heading", level=1)).to_have_text("Odottaa hyväksyntää")
    assert_accessible(page, "charge waiting for approval")
    screenshot(page, "05-provider-waiting")

    # The client's open page shows the request live; the money it holds is reserved, not
    # spent; one tap approves it.
    expect(client.get_by_role("button", name="Hyväksy")).to_be_visible(timeout=10000)
    held = client.locator("[data-envelope] [data-held]").first
    expect(held).to_be_visible()
    expect(held).to_contain_text("Varattu, ei vielä käytetty35,00\u00a0€")
    client.get_by_role("button", name="Hyväksy").click(timeout=10000)
    expect(client.locator("main").get_by_text("Maksu hyväksytty.")).to_be_visible()
    expect(client.locator("[data-envelope] [data-held]")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("Maksu onnistui", timeout=10000)
    expect(page.locator(".outcome")).to_have_text("Veloitettu 35,00\u00a0€")
    assert_accessible(page, "charge done")
    screenshot(page, "05-provider-charge-done")
    assert balance_cents(server) == before - 3500

    # The client's open page shows the new balance without a reload (SSE), and says so.
    expect(client.locator(".envelope__balance").first).to_contain_text(
        euros(before - 3500), timeout=10000
    )
    expect(client.locator("#recent-title + ul li").first).to_contain_text("35,00")
    assert_accessible(client, "client wallet after a live update")

    # Paying with a code: the client shows it, the provider types it, captured at once.
    client.get_by_role("button", name="Näytä maksukoodi").click()
    code = client.locator("#pay-code").inner_text().replace(" ", "")
    assert len(code) == 8
    assert_accessible(client, "client payment code")
    screenshot(client, "14-client-pay-code")
    page.get_by_role("button", name="Uusi veloitus").click()
    page.get_by_label("Maksukoodi", exact=True).check()
    page.get_by_label("Asiakkaan maksukoodi").fill(code)
    page.get_by_label("Siivous").check()
    page.get_by_role("button", name="Veloita 35,00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maksu onnistui")
    assert balance_cents(server) == before - 7000
    expect(client.locator(".envelope__balance").first).to_contain_text(
        euros(before - 7000), timeout=10000
    )
    before -= 3500
    client_ctx.close()

    # The price is remembered: once identified, service + charge (two taps).
    page.get_by_role("button", name="Uusi veloitus").click()
    page.get_by_label("Asiakkaan puhelinnumero").fill(server.client_phone)
    page.get_by_label("Siivous").check()
    expect(page.get_by_label("Yksikköhinta")).to_have_value("35,00")
    page.get_by_label("Yksikköhinta").fill("99,00")
    page.get_by_role("button", name="Veloita 99,00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maksu ei onnistunut")
    expect(page.locator(".outcome")).not_to_be_empty()
    assert_accessible(page, "charge declined")
    screenshot(page, "06-provider-charge-declined")
    assert balance_cents(server) == before - 3500


def test_offline_shows_last_known_balances(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.client_key)
    balance = page.locator(".envelope__balance").first
    expect(balance).to_contain_text("€")
    shown = balance.inner_text()
    page.evaluate("navigator.serviceWorker.ready")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10000)
    page.context.set_offline(True)
    page.reload()
    expect(page.get_by_text("Ei verkkoyhteyttä", exact=True)).to_be_visible()
    expect(page.locator(".envelope__balance").first).to_have_text(shown)
    needs_connection = "Maksukoodi toimii vain, kun verkkoyhteys toimii."
    expect(page.get_by_text(needs_connection, exact=False)).to_be_visible()
    expect(page.get_by_text(re.compile(r"Saldot on haettu viimeksi"))).to_be_visible()
    assert_accessible(page, "offline wallet")
    screenshot(page, "07-client-offline")
    page.context.set_offline(False)


def test_language_switch(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.client_key)
    page.get_by_role("link", name="Asetukset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Asetukset")
    assert_accessible(page, "settings fi")
    page.get_by_label("Svenska").check()
    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("heading", level=1)).to_have_text("Inställningar")
    assert_accessible(page, "settings sv")
    page.get_by_role("link", name="Saldo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Min budget")
    expect(page.locator(".updated").first).to_have_text(re.compile(r"Uppdaterad kl\. \d\d[.:]\d\d"))
    assert_accessible(page, "wallet sv")
    screenshot(page, "08-client-balances-sv")
    page.get_by_role("link", name="Inställningar").click()
    page.get_by_label("English").check()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="Balance").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My budget")
    assert_accessible(page, "wallet en")
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def test_case_manager_creates_client_and_decision(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.case_manager_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Asiakkaat")  # home: the list
    page.get_by_role("link", name="Uusi asiakas").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Uusi asiakas")
    assert_accessible(page, "new client")
    page.get_by_role("button", name="Luo asiakas").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_count(3)
    assert_accessible(page, "new client with errors")
    screenshot(page, "09-case-manager-errors")
    page.get_by_label("Etunimi").fill("Eino")
    page.get_by_label("Sukunimi").fill("Korhonen")
    page.get_by_label("Puhelinnumero").fill("040 765 4321")
    page.get_by_role("button", name="Luo asiakas").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Budjettipäätös")
    assert_accessible(page, "decision form")
    page.get_by_label("Budjetin nimi").fill("Kuljetus")
    page.get_by_label("Summa kuukaudessa").fill("150")
    page.get_by_label("Kuljetus").check()
    screenshot(page, "10-case-manager-decision")
    page.get_by_role("button", name="Tee päätös").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Päätös tehty")
    assert_accessible(page, "decision made")
    page.get_by_role("button", name="Luo kutsu asiakkaalle").click()
    expect(page.locator(".invite img")).to_be_visible()
    assert_accessible(page, "invite")
    screenshot(page, "11-case-manager-invite")
    page.get_by_role("link", name="Näytä asiakkaan saldo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Budjetti: Eino Korhonen")
    expect(page.locator(".envelope__label")).to_have_text("Kuljetus")
    assert_accessible(page, "case manager wallet view")
