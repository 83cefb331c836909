"""A service voucher end to end: the case manager works out the monthly amount from hours a
week with the decision helper, the provider charges above the voucher's value, and the wallet
shows what the client paid themselves."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

from tests.e2e.helpers import assert_accessible, call_api, screenshot, sign_in_with_key
from tests.e2e.server import Seeded


def test_voucher_decision_and_own_share(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.case_manager_key)
    page.goto("/#/clients/new")
    page.get_by_label("Etunimi").fill("Saimi")
    page.get_by_label("Sukunimi").fill("Seteli")
    page.get_by_label("Puhelinnumero").fill("050 444 3210")
    page.get_by_role("button", name="Luo asiakas").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Budjettipäätös")

    page.get_by_label("Budjetin nimi").fill("Kotiapu, palveluseteli")
    page.get_by_text("Palveluseteli (valinnainen)").click()
    # The helper refuses what it cannot read, beside the field.
    page.get_by_label("Tunteja viikossa").fill("kaksi")
    page.get_by_role("button", name="Laske kuukausisumma").click()
    expect(page.locator(".error-summary")).to_contain_text("Kirjoita setelin arvo euroina")
    expect(page.locator(".error-summary")).to_contain_text("Kirjoita tunnit viikossa")
    page.get_by_label("Setelin arvo yksikköä kohden").fill("32")
    page.get_by_label("Tunteja viikossa").fill("2")
    page.get_by_role("button", name="Laske kuukausisumma").click()
    # 2 h x 32 EUR x 52 / 12 = 277.33 EUR, filled in for the case manager to check.
    expect(page.get_by_label("Summa kuukaudessa")).to_have_value("277,33")
    expect(page.get_by_role("status").filter(has_text="52 / 12")).to_contain_text("277,33")
    page.locator("fieldset").get_by_label("Kotiapu").check()
    assert_accessible(page, "voucher decision")
    screenshot(page, "47-case-manager-voucher")
    page.get_by_role("button", name="Tee päätös").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Päätös tehty")

    # The provider charges an hour at its list price, 38 EUR, by phone: Saimi trusts it.
    wallet_url = page.get_by_role("link", name="Näytä asiakkaan saldo").get_attribute("href")
    wallet_id = re.search(r"[0-9a-f-]{36}", wallet_url or "").group(0)  # type: ignore[union-attr]
    provider = call_api(server.url, server.provider_key, "GET", "/api/me")["provider_id"]
    call_api(
        server.url,
        server.case_manager_key,
        "PUT",
        f"/api/wallets/{wallet_id}/trusted-providers/{provider}",
        {"per_charge_cap_cents": 10_000},
    )
    receipt = call_api(
        server.url,
        server.provider_key,
        "POST",
        "/api/charges",
        {"phone": "050 444 3210", "lines": [{"category": "kotiapu", "quantity": "1",
                                              "unit_price_cents": 3800}]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip
    assert (receipt["total_cents"], receipt["client_share_cents"]) == (3200, 600)

    page.get_by_role("link", name="Näytä asiakkaan saldo").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Budjetti: Saimi Seteli")
    # Funded pro rata from today; the wallet paid 32 EUR of the 38.
    (env,) = call_api(server.url, server.case_manager_key, "GET", f"/api/wallets/{wallet_id}")[
        "envelopes"
    ]
    assert env["voucher_value_cents"] == 3200 and env["monthly_amount_cents"] == 27_733
    assert env["balance_cents"] == env["funded_cents"] - 3200
    left = env["balance_cents"]
    expect(page.locator(".envelope__balance").first).to_contain_text(
        f"{left // 100},{left % 100:02d}"
    )
    expect(page.locator("main")).to_contain_text(
        "Omavastuu 6,00\u00a0€ maksettu palveluyritykselle"
    )
    assert_accessible(page, "wallet with an own share")
