"""A provider applies in the app: from the sign-in screen to the county (chosen by name), the
form, mistakes shown beside their fields, a warning when the same bank account applied before,
a passkey made through Chromium's virtual authenticator, and the application waiting for the
case manager (the applicant is told so instead of the charge form), who approves it; the new
provider can then sign in and charge."""

from __future__ import annotations

import re
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
    # The counties are listed by name: nobody needs to know a code such as the demo's.
    counties = call_api(server.url, server.client_key, "GET", "/api/providers/apply/counties")
    assert {"organizer": server.organizer_slug, "name": "Kainuu"} in counties
    expect(applicant.get_by_role("group", name="Mille hyvinvointialueelle haet?")).to_be_visible()
    assert_accessible(applicant, "choose the county")
    if len(counties) > 1:  # a single county is chosen already
        applicant.get_by_role("button", name="Jatka").click()
        expect(applicant.locator(".error-summary")).to_contain_text("Valitse hyvinvointialue")
    applicant.get_by_label("Kainuu", exact=True).check()
    applicant.get_by_role("button", name="Jatka").click()
    expect(applicant.get_by_text("Hakemus: Kainuu")).to_be_visible()
    # The example business id is a valid one.
    expect(applicant.locator("#business_id-hint")).to_have_text("Esimerkiksi 1234567-1")
    assert_accessible(applicant, "application form")
    # Another company has applied with the same bank account already.
    call_api(
        server.url,
        server.client_key,
        "POST",
        "/api/providers/applications",
        {
            "organizer": server.organizer_slug,
            "company_name": "Tili Sama Oy",
            "business_id": "0112038-9",
            "iban": "FI21 1234 5600 0007 85",
            "bic": "NDEAFIHH",
            "contact_name": "Toinen Henkilö",
            "contact_email": "toinen@example.fi",
            "contact_phone": "040 555 0101",
            "languages": ["fi"],
            "municipalities": ["Kajaani"],
            "prices": {"siivous": 3000},
        },
    )

    # Sent empty: an error summary that takes focus, each error beside its field.
    send = applicant.get_by_role("button", name="Lähetä hakemus ja luo kirjautumisavain")
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
    # The same account: a warning that says so (the other company is not named), then
    # "send anyway".
    warning = applicant.locator("#duplicate-warning")
    expect(warning).to_be_focused()
    expect(warning).to_contain_text("Samalla tilinumerolla on jo hakemus.")
    expect(warning).not_to_contain_text("Tili Sama")
    expect(applicant.locator(".error-summary")).to_have_count(0)  # the form itself is right
    assert_accessible(applicant, "duplicate warning")
    screenshot(applicant, "31-provider-apply-duplicate")
    anyway = applicant.get_by_role("button", name="Lähetä silti ja luo kirjautumisavain")
    expect(anyway).to_be_enabled()
    anyway.click()
    expect(applicant.get_by_role("heading", name="Hakemus on lähetetty")).to_be_visible()
    assert_accessible(applicant, "application sent")

    # Waiting for the county: the charge screen says so, and shows no charge form.
    applicant.get_by_role("link", name="Jatka sovellukseen").click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Hakemus odottaa hyväksyntää")
    expect(applicant.locator("#standing")).to_contain_text("Kotiapu Kaste Oy")
    expect(applicant.get_by_label("Asiakkaan puhelinnumero")).to_have_count(0)
    expect(applicant.get_by_role("button", name=re.compile("^Veloita"))).to_have_count(0)
    assert_accessible(applicant, "applicant waiting for approval")
    screenshot(applicant, "32-provider-waiting-for-approval")

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
    applicant.get_by_role("link", name="Asetukset").click()
    applicant.get_by_role("button", name="Kirjaudu ulos").click()
    applicant.get_by_role("button", name="Kirjaudu sisään", exact=True).click()
    expect(applicant.locator("#nav")).to_contain_text("Veloita")
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Veloita asiakasta")
    expect(applicant.get_by_label("Asiakkaan puhelinnumero")).to_be_visible()
    context.close()
