"""A provider applies in the app: from the sign-in screen to the county's form, mistakes shown
beside their fields, a passkey made through Chromium's virtual authenticator, and the
application waiting for the case manager, who approves it; the new provider can then sign in."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import assert_accessible, call_api, screenshot
from tests.e2e.server import Seeded
from tests.e2e.test_passkeys import virtual_authenticator


def test_provider_applies_with_a_passkey_and_is_approved(
    page: Page, server: Seeded, browser: Browser, browser_context_args: dict[str, Any]
) -> None:
    context = browser.new_context(**browser_context_args)
    applicant = context.new_page()
    virtual_authenticator(context, applicant)
    applicant.goto("/#/signin")
    applicant.get_by_role("link", name="Oletko palveluntuottaja? Hae mukaan").click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Hae palveluntuottajaksi")
    applicant.get_by_label("Hyvinvointialueen tunnus").fill(server.organizer_slug)
    applicant.get_by_role("button", name="Jatka").click()
    expect(applicant.get_by_text("Hakemus: Kainuu")).to_be_visible()
    assert_accessible(applicant, "application form")

    # Sent empty: an error summary that takes focus, each error beside its field.
    send = applicant.get_by_role("button", name="Lähetä hakemus ja luo pääsyavain")
    send.click()
    summary = applicant.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Kirjoita yrityksen nimi")
    expect(summary).to_contain_text("Anna hinta vähintään yhdelle palvelulle")
    assert_accessible(applicant, "application errors")

    applicant.get_by_label("Yrityksen nimi").fill("Kotiapu Kaste Oy")
    applicant.get_by_label("Y-tunnus").fill("2617416-5")  # wrong check digit
    applicant.get_by_label("Tilinumero (IBAN)").fill("FI21 1234 5600 0007 85")
    applicant.get_by_label("Pankin BIC-tunnus").fill("NDEAFIHH")
    applicant.get_by_label("Nimi", exact=True).fill("Kaisa Kaste")
    applicant.get_by_label("Sähköposti").fill("kaisa@kaste.example.fi")
    applicant.get_by_label("Puhelinnumero").fill("040 765 4321")
    applicant.get_by_label("Kunnat, joissa palvelette").fill("Kajaani, Sotkamo")
    applicant.get_by_label("Siivous (tunti)").fill("45")  # above the county's 40 EUR cap
    send.click()
    expect(applicant.locator(".error-summary")).to_contain_text("Hinta voi olla enintään")
    applicant.get_by_label("Siivous (tunti)").fill("32,50")
    send.click()
    # The server's check: the business id's check digit is wrong; nothing was written.
    expect(applicant.locator(".error-summary")).to_contain_text("Y-tunnus")
    applicant.get_by_label("Y-tunnus").fill("2617416-4")
    screenshot(applicant, "30-provider-apply")
    send.click()
    expect(applicant.get_by_role("heading", name="Hakemus on lähetetty")).to_be_visible()
    assert_accessible(applicant, "application sent")

    # The case manager finds it and approves it for cleaning.
    apps = call_api(server.url, server.case_manager_key, "GET", "/api/providers/applications")
    (mine,) = [a for a in apps if a["name"] == "Kotiapu Kaste Oy"]
    assert mine["status"] == "applied" and mine["iban"] == "FI2112345600000785"
    assert [p["unit_price_cents"] for p in mine["prices"]] == [3250]
    call_api(
        server.url,
        server.case_manager_key,
        "POST",
        f"/api/providers/{mine['provider_id']}/approve",
        {"categories": ["siivous"]},
    )

    # The owner signs out and in again with the passkey: a provider of the county now.
    applicant.get_by_role("link", name="Jatka sovellukseen").click()
    applicant.get_by_role("link", name="Asetukset").click()
    applicant.get_by_role("button", name="Kirjaudu ulos").click()
    applicant.get_by_role("button", name="Kirjaudu pääsyavaimella").click()
    expect(applicant.locator("#nav")).to_contain_text("Veloita")
    context.close()
