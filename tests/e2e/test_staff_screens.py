"""Providers' and case managers' screens on a phone-sized screen, each scanned by axe-core:
camera scanning (explained first, the decoder fetched only then, manual entry always there),
a charge by QR card + PIN done with the keyboard alone, visit check-in and check-out, price
list and settlements; clients, a client's file and cards, approving a provider with the
keyboard alone, the catalogue, funding runs, reports and the audit log."""

from __future__ import annotations

import gzip
import json
import re
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, Route, expect

from payments.ledger.periods import current_period, first_day
from tests.e2e.helpers import add_style, assert_accessible, call_api, screenshot, sign_in_with_key
from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, Seeded
from tests.e2e.test_journeys import balance_cents
from wallet_api.qr import _qr


def post_json(
    server: Seeded, key: str, path: str, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(req) as res:
        return dict(json.load(res))


def tab_to(page: Page, target: Locator, *, limit: int = 80) -> None:
    """Press Tab until ``target`` has focus: it must be reachable in the tab order."""
    for _ in range(limit):
        if target.evaluate("el => el === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} was not reached with Tab")


def test_scanning_is_explained_and_the_decoder_loads_only_then(page: Page, server: Seeded) -> None:
    fetched: list[str] = []
    sizes: dict[str, int] = {}

    def record(response: Any) -> None:
        try:
            sizes[response.url] = len(gzip.compress(response.body(), 9))
        except Exception:  # the SSE stream never ends; not part of the load
            return

    page.on("request", lambda r: fetched.append(r.url))
    page.on("response", record)
    sign_in_with_key(page, server.provider_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Veloita asiakasta")
    expect(page.get_by_label("Siivous")).to_be_visible()
    assert not [u for u in fetched if "qr-scanner" in u or "provider-scan" in u]
    # The provider's first load, sign-in through the charge screen, compressed.
    print(f"\nprovider first load: {sum(sizes.values())} B gzip over {len(sizes)} responses")
    assert sum(sizes.values()) <= 150 * 1024

    page.get_by_label("Lue QR-koodi kameralla").check()
    explain = page.locator("#scan-explain")
    expect(explain).to_contain_text("Kameralla luetaan vain asiakkaan maksu-QR")
    expect(explain).to_contain_text("Voit aina kirjoittaa koodin käsin")
    # Explained, not yet asked: nothing of the decoder has been fetched.
    assert not [u for u in fetched if "qr-scanner" in u or "provider-scan" in u]
    assert_accessible(page, "camera explanation")
    screenshot(page, "20-provider-scan-explain")

    page.get_by_role("button", name="Avaa kamera").click()
    # No camera in the test browser: a plain message and the manual way.
    alert = page.locator("#scan-area [role=alert]")
    expect(alert).to_have_text(re.compile("Kirjoita asiakkaan maksukoodi käsin"))
    assert_accessible(page, "camera not available")
    page.get_by_role("button", name="Kirjoita koodi käsin").click()
    expect(page.get_by_label("Asiakkaan maksukoodi")).to_be_focused()
    # What a decoded QR means: the client's payment QR, a card, the 8-digit code, or nothing.
    read = page.evaluate(
        "import('/js/views/charge.js').then(m => ['hbp_abcdefghijkl', 'hbk-0a1b2c3d',"
        " '1234 5678', 'https://example.org', 'hbpay:request:x'].map(m.readScanned))"
    )
    assert read == [
        {"token": "hbp_abcdefghijkl"},
        {"card_number": "HBK-0A1B2C3D"},
        {"code": "12345678"},
        None,
        None,
    ]
    if not page.evaluate("'BarcodeDetector' in window"):
        # Without BarcodeDetector the vendored decoder was fetched, only after the tap.
        assert [u for u in fetched if u.endswith("/vendor/qr-scanner.min.js")]


def test_case_manager_issues_a_card_and_provider_charges_by_card_and_pin_with_keyboard(
    page: Page, server: Seeded, browser: Any, browser_context_args: dict[str, Any]
) -> None:
    # The case manager finds the client and issues a card with a PIN the client chose.
    cm_ctx = browser.new_context(**browser_context_args)
    cm = cm_ctx.new_page()
    sign_in_with_key(cm, server.case_manager_key)
    expect(cm.get_by_role("heading", level=1)).to_have_text("Asiakkaat")
    # The menu's link to the page already open opens it afresh (router.js): wait for the new
    # page, or the search would be typed into the old one and the new one list every client.
    cm.evaluate("document.querySelector('#main .page').dataset.old = 'yes'")
    cm.get_by_role("link", name="Asiakkaat").click()
    expect(cm.locator("#main .page[data-old]")).to_have_count(0)
    expect(cm.get_by_role("heading", level=1)).to_have_text("Asiakkaat")
    cm.get_by_label("Hae asiakasta").fill("virtanen")
    cm.get_by_role("button", name="Hae", exact=True).click()
    expect(cm.locator("#client-results li")).to_have_count(1)
    assert_accessible(cm, "client list")
    screenshot(cm, "40-case-manager-clients")
    cm.get_by_role("link", name="Virtanen Aino").click()
    expect(cm.get_by_role("heading", level=1)).to_have_text("Aino Virtanen")
    expect(cm.get_by_role("heading", name="Päätökset")).to_be_visible()
    expect(cm.locator("main")).to_contain_text("Kotiapu ja siivous")
    # The client's right of access, from the file: a download and a page to print (plain links
    # for a passkey session; this page signed in with a key, so the API is asked directly).
    export = cm.get_by_role("link", name="Lataa asiakkaan tiedot")
    expect(export).to_have_attribute("href", re.compile(r"^/api/clients/[0-9a-f-]{36}/export$"))
    expect(cm.get_by_role("link", name="Asiakkaan tiedot tulostettavina")).to_have_attribute(
        "href", re.compile(r"/export\?format=html&lang=fi$")
    )
    data = call_api(server.url, server.case_manager_key, "GET", export.get_attribute("href") or "")
    assert (data["person"]["first_name"], data["person"]["last_name"]) == ("Aino", "Virtanen")
    assert_accessible(cm, "client file")
    cm.get_by_label("PIN-koodi (asiakas näppäilee)").fill("4826")
    cm.get_by_role("button", name="Anna kortti").click()
    expect(cm.get_by_role("status").filter(has_text="annettu")).to_be_visible()
    number = cm.locator("#cards-title ~ ul .mono").first.inner_text()
    assert number.startswith("HBK-")
    assert_accessible(cm, "client file with a card")
    screenshot(cm, "41-case-manager-client-file")
    # The print page opens with the card's QR and number.
    with cm.expect_popup() as popup:
        cm.get_by_role("button", name=f"Tulosta {number}").click()
    expect(popup.value.locator("body")).to_contain_text(number)
    popup.value.close()

    before = balance_cents(server)
    sign_in_with_key(page, server.provider_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Veloita asiakasta")
    # Keyboard only from here: Tab to each control, arrows for radios, type, Enter.
    page.locator("main h1").focus()
    tab_to(page, page.locator("#how-phone"))
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    expect(page.locator("#how-card")).to_be_checked()
    tab_to(page, page.locator("#card"))
    page.keyboard.type(number)
    # The services on the provider's list: Kotiapu first, then Siivous.
    tab_to(page, page.locator("#service-0"))
    page.keyboard.press("Space")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Siivous")).to_be_checked()
    expect(page.locator("#price")).not_to_have_value("")
    expect(page.locator("#total")).to_have_text("Yhteensä 35,00\u00a0€")
    assert_accessible(page, "charge by card")
    screenshot(page, "21-provider-charge-card")
    tab_to(page, page.get_by_role("button", name="Veloita 35,00"))
    page.keyboard.press("Enter")

    # The handover: a clear step for the client, the amount, the PIN field focused next.
    expect(page.get_by_role("heading", level=1)).to_have_text("Näppäile PIN-koodisi")
    expect(page.locator("main")).to_contain_text("Sinä näppäilet PIN-koodin itse.")
    expect(page.locator("main")).to_contain_text("35,00")
    assert_accessible(page, "PIN handover")
    screenshot(page, "22-provider-pin-handover")
    tab_to(page, page.get_by_label("PIN-koodisi"))
    page.keyboard.type("1111")
    page.keyboard.press("Enter")
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(
        "Väärä PIN-koodi. Kirjoita se uudelleen. Yrityksiä jäljellä: 4."
    )
    assert_accessible(page, "wrong PIN")
    assert balance_cents(server) == before
    tab_to(page, page.get_by_label("PIN-koodisi"))
    page.keyboard.type("4826")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Maksu onnistui")
    expect(page.locator("main")).to_contain_text("Anna puhelin takaisin palveluyritykselle.")
    expect(page.locator(".outcome")).to_have_text("Veloitettu 35,00\u00a0€")
    assert balance_cents(server) == before - 3500
    assert_accessible(page, "card charge done")
    screenshot(page, "23-provider-card-done")

    # The case manager revokes the card: it no longer pays.
    cm.get_by_role("button", name=f"Poista käytöstä {number}").click()
    expect(cm.get_by_role("status").filter(has_text="poistettu käytöstä")).to_be_visible()
    expect(cm.locator("#cards-title ~ ul li").first).to_contain_text("Poistettu käytöstä")
    assert_accessible(cm, "card revoked")
    cm_ctx.close()
    page.get_by_role("button", name="Uusi veloitus").click()
    page.get_by_label("Maksukortti ja PIN").check()
    page.get_by_label("Maksukortin numero").fill(number)
    page.get_by_label("Siivous").check()
    page.get_by_role("button", name="Veloita 35,00").click()
    page.get_by_label("PIN-koodisi").fill("4826")
    page.get_by_role("button", name="Hyväksy ja maksa 35,00").click()
    # A revoked card is told apart from a wrong PIN by nobody: the card or PIN is not valid.
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.locator(".error-summary")).not_to_contain_text("Yrityksiä jäljellä")
    assert_accessible(page, "revoked card")
    assert balance_cents(server) == before - 3500


def test_visit_check_in_and_check_out(page: Page, server: Seeded) -> None:
    before = balance_cents(server)
    sign_in_with_key(page, server.provider_key)
    page.get_by_role("link", name="Käynnit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Avoimet käynnit")
    assert_accessible(page, "no visits")
    page.get_by_role("link", name="Aloita käynti").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Käynnin aloitus")
    assert_accessible(page, "check-in form")

    # The client shows their code; the visit holds 2 hours of cleaning.
    token = post_json(
        server, server.client_key, f"/api/wallets/{server.wallet_id}/payment-tokens", {}
    )
    page.get_by_label("Maksukoodi", exact=True).check()
    page.get_by_label("Asiakkaan maksukoodi").fill(token["code"])
    page.get_by_label("Siivous").check()
    page.get_by_label("Arvioitu määrä").fill("2")
    page.get_by_role("button", name="Aloita käynti, varaa 70,00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Käynti aloitettu")
    expect(page.locator(".outcome")).to_have_text("Varattu 70,00\u00a0€")
    assert balance_cents(server) == before - 7000
    assert_accessible(page, "visit checked in")

    # Check-out works from any device: the open visits come from the server.
    page.evaluate("localStorage.removeItem('wallet.visits')")
    page.get_by_role("link", name="Avoimet käynnit").first.click()
    expect(page.locator("li.visit")).to_have_count(1)
    expect(page.locator("li.visit")).to_contain_text("Siivous")
    assert_accessible(page, "open visits")
    screenshot(page, "24-provider-visits")
    # More than was held is refused here, before any request.
    page.get_by_label("Toteutunut määrä").fill("3")
    page.get_by_role("button", name="Päätä käynti ja veloita").click()
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page, "check-out error")
    page.get_by_label("Toteutunut määrä").fill("1,5")
    page.get_by_role("button", name="Päätä käynti ja veloita").click()
    expect(page.get_by_role("status").filter(has_text="veloitettu 52,50")).to_be_visible()
    assert balance_cents(server) == before - 5250
    page.reload()
    expect(page.get_by_text("Ei avoimia käyntejä.", exact=True)).to_be_visible()


def test_provider_price_list_settlements_and_todays_charges(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.provider_key)
    page.get_by_role("link", name="Hinnasto").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hinnasto")
    row = page.locator("tbody tr").filter(has_text="Siivous")
    expect(row).to_contain_text("35,00")
    expect(row).to_contain_text("40,00")  # the county's cap
    assert_accessible(page, "price list")
    screenshot(page, "25-provider-prices")
    # A new price from a later date: above the county's cap is refused, within it published.
    page.get_by_label("Palvelu", exact=True).select_option("siivous")
    page.get_by_label("Uusi yksikköhinta").fill("45,00")
    page.get_by_role("button", name="Julkaise hinta").click()
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page, "price above the cap")
    page.get_by_label("Uusi yksikköhinta").fill("36,50")
    page.get_by_label("Voimassa alkaen").fill("2099-01-01")  # too far ahead: the date is wrong
    page.get_by_role("button", name="Julkaise hinta").click()
    expect(page.locator(".error-summary a")).to_have_text(re.compile("Valitse päivä"))
    next_year = first_day(current_period()).year + 1
    page.get_by_label("Voimassa alkaen").fill(f"{next_year}-01-01")
    page.get_by_role("button", name="Julkaise hinta").click()
    expect(page.get_by_role("status").filter(has_text="Uusi hinta 36,50")).to_be_visible()
    row = page.locator("tbody tr").filter(has_text="Siivous")
    expect(row).to_contain_text(f"1.1.{next_year} alkaen 36,50")
    expect(row).to_contain_text("35,00")  # today's price does not change
    page.get_by_role("link", name="Tilitykset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tilitykset")
    assert_accessible(page, "settlements")
    # One more charge today (by the client's code), then today's list and totals.
    token = post_json(
        server, server.client_key, f"/api/wallets/{server.wallet_id}/payment-tokens", {}
    )
    post_json(
        server,
        server.provider_key,
        "/api/checkout/token",
        {
            "code": token["code"],
            "lines": [{"category": "siivous", "quantity": "0.1", "unit_price_cents": 3500}],
        },
        **{"Idempotency-Key": f"today-{token['code']}"},
    )
    page.get_by_role("link", name="Veloitukset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Omat veloitukset")
    expect(page.get_by_text("Veloitettu tänään")).to_be_visible()
    expect(page.locator("main dl.facts")).to_contain_text("€")
    assert_accessible(page, "today's charges")
    screenshot(page, "26-provider-charges-today")


def test_case_manager_approves_a_provider_with_keyboard(page: Page, server: Seeded) -> None:
    applied = post_json(
        server,
        server.case_manager_key,
        "/api/providers/applications",
        {
            "company_name": "Kotiapu Lumo Oy",
            "business_id": "2345678-0",
            "iban": "FI2112345600000785",
            "bic": "NDEAFIHH",
            "contact_name": "Sari Lumo",
            "contact_email": "sari@example.fi",
            "contact_phone": "040 222 3333",
            "languages": ["fi", "sv"],
            "municipalities": ["Kajaani"],
            "prices": {"kotiapu": 4200},
        },
    )
    assert applied["status"] == "applied"
    sign_in_with_key(page, server.case_manager_key)
    page.locator("main h1").focus()
    tab_to(page, page.locator("#nav a", has_text="Palveluntuottajat"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Palveluntuottajat")
    card = page.locator("section.provider").filter(has_text="Kotiapu Lumo Oy")
    expect(card).to_contain_text("2345678-0")
    expect(card).to_contain_text("42,00")
    assert_accessible(page, "providers to approve")
    screenshot(page, "42-case-manager-providers")
    # Rejecting needs a reason: the error summary says so, nothing changes.
    tab_to(page, card.get_by_role("button", name="Hylkää"))
    page.keyboard.press("Enter")
    expect(card.get_by_label("Perustelu")).to_be_focused()
    tab_to(page, card.get_by_role("button", name="Hylkää hakemus"))
    page.keyboard.press("Enter")
    expect(card.locator(".error-summary")).to_be_focused()
    assert_accessible(page, "reject without a reason")
    tab_to(page, card.get_by_role("button", name="Hyväksy"))
    page.keyboard.press("Enter")
    done = page.locator("main .notice--ok")
    expect(done).to_have_text("Kotiapu Lumo Oy: Hyväksytyt")
    page.get_by_role("link", name="Hyväksytyt").click()
    lumo = page.locator("section.provider").filter(has_text="Kotiapu Lumo Oy")
    expect(lumo).to_be_visible()
    assert_accessible(page, "approved providers")
    # Suspend with a reason, then reinstate.
    lumo.get_by_role("button", name="Keskeytä").click()
    lumo.get_by_label("Perustelu").fill("Laskutus selvitettävänä")
    lumo.get_by_role("button", name="Keskeytä palveluntuottaja").click()
    expect(page.locator("main .notice--ok")).to_have_text("Kotiapu Lumo Oy: Keskeytetyt")
    page.get_by_role("link", name="Keskeytetyt").click()
    lumo = page.locator("section.provider").filter(has_text="Kotiapu Lumo Oy")
    expect(lumo).to_contain_text("Perustelu: Laskutus selvitettävänä")
    lumo.get_by_role("button", name="Palauta").click()
    lumo.get_by_role("button", name="Palauta palveluntuottaja").click()
    expect(page.locator("main .notice--ok")).to_have_text("Kotiapu Lumo Oy: Hyväksytyt")
    page.get_by_role("link", name="Palveluvalikoima").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Palveluvalikoima")
    expect(page.locator("tbody tr")).to_have_count(4)
    assert_accessible(page, "catalogue")


def test_case_manager_funding_reports_and_audit(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.case_manager_key)
    page.get_by_role("link", name="Rahoitusajot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rahoitusajot")
    # Other journeys add funded clients to the shared server: compare with what the API says.
    (latest, *_) = call_api(server.url, server.case_manager_key, "GET", "/api/funding-runs")
    euros = f"{latest['funded_cents'] // 100:,}".replace(",", "\u00a0")
    funded = f"{euros},{latest['funded_cents'] % 100:02d}"
    expect(page.locator("tbody tr").first).to_contain_text(funded)
    assert_accessible(page, "funding runs")
    screenshot(page, "43-case-manager-funding")
    page.get_by_role("link", name="Raportit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Raportit")
    expect(page.get_by_role("heading", name="Budjetit kuukausittain")).to_be_visible()
    # Services by name in the UI language, "spent" said to be net of refunds (the chart's
    # figure too), the use rate as Intl writes it in Finnish ("20,6 %").
    months = page.get_by_role("region", name="Taulukko: Budjetit kuukausittain")
    expect(months.locator("thead")).to_contain_text("Käytetty (palautukset vähennetty)")
    seeded = months.locator("tbody tr").filter(has_text="Kotiapu, Siivous").first
    expect(seeded.locator("td").first).to_have_text("Kotiapu, Siivous")
    expect(months.locator("tbody")).not_to_contain_text("kotiapu+siivous")
    rate = seeded.locator("td").last
    expect(rate).to_have_text(re.compile(r"^\d+,\d\u00a0%$"))
    expect(page.locator(".report-chart img")).to_have_attribute("alt", re.compile("taulukossa"))
    assert_accessible(page, "reports")
    assert axe_rule(page, "landmark-unique") == [], "two landmarks share a name"
    page.get_by_label("Alkaen kuukaudesta").fill("2026-13")
    page.get_by_role("button", name="Näytä").click()
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page, "reports with an error")
    screenshot(page, "44-case-manager-reports")
    with page.expect_download() as download:
        page.get_by_label("Alkaen kuukaudesta").fill("")
        page.get_by_role("button", name="Lataa budjetit CSV-tiedostona").click()
    assert download.value.suggested_filename == "report-months.csv"
    page.get_by_role("link", name="Lokitiedot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lokitiedot")
    expect(page.locator("ul.audit li").first).to_be_visible()
    assert_accessible(page, "audit")
    # Filtered by a kind of action, named in Finnish: only budget decisions (the seeded one at
    # least), each a sentence with the client's name; no codes, ids or "None".
    action = page.get_by_label("Tapahtuma")
    expect(action.locator("option")).to_contain_text(["Kaikki", "Budjettipäätökset"])
    expect(action).not_to_contain_text("decision")
    action.select_option(label="Budjettipäätökset")
    page.get_by_role("button", name="Näytä", exact=True).click()
    entries = page.locator("ul.audit li")
    expect(entries.filter(has_not_text="budjettipäätöksen")).to_have_count(0)
    # Other tests of this server make decisions too: Aino's seeded one is among them.
    expect(
        entries.filter(has_text="teki asiakkaalle Aino Virtanen budjettipäätöksen.").first
    ).to_be_visible()
    for text in entries.all_inner_texts():
        assert not re.search(r"decision\.|None|[0-9a-f]{8}-[0-9a-f]{4}-", text), text
    # Fewer than a page: no "Show more" anywhere.
    expect(page.get_by_role("button", name="Näytä lisää")).to_have_count(0)
    screenshot(page, "45-case-manager-audit")


def axe_rule(page: Page, rule: str) -> list[Any]:
    """One axe rule's violations (landmark-unique is a best practice, outside the WCAG tags
    that assert_accessible runs)."""
    assert_accessible(page, "the page")  # loads axe too
    return list(
        page.evaluate(
            "async (rule) => (await axe.run(document, {runOnly: {type: 'rule', values: [rule]}}))"
            ".violations.map(v => v.nodes.map(n => n.target.join(' ')))",
            rule,
        )
    )


def test_audit_log_pages_and_speaks_each_language(page: Page, server: Seeded) -> None:
    """More than a page of entries: "Show more" brings the older ones and leaves when there
    are no more; the sentences and the count are in the UI language, with plural forms."""
    (aino,) = call_api(
        server.url, server.case_manager_key, "GET", "/api/clients?q=Aino%20Virtanen"
    )["items"]
    for _ in range(51):  # 51 openings of Aino's file: more than one page (50) of her entries
        call_api(server.url, server.case_manager_key, "GET", f"/api/clients/{aino['client_id']}")
    sign_in_with_key(page, server.case_manager_key)
    page.goto(f"/#/audit/{aino['client_id']}")
    entries = page.locator("ul.audit li")
    expect(entries).to_have_count(50)
    expect(page.get_by_role("status").filter(has_text="näkyvissä")).to_have_text(
        "50 tapahtumaa näkyvissä"
    )
    expect(entries.first).to_contain_text("Liisa Ohjaaja avasi asiakkaan Aino Virtanen tiedot.")
    more = page.get_by_role("button", name="Näytä lisää")
    expect(more).to_be_visible()
    more.click()
    expect(entries).not_to_have_count(50)
    shown = entries.count()
    assert shown > 50
    expect(entries.nth(50)).to_be_focused()
    if shown < 100:  # the last page: the button is gone
        expect(more).to_have_count(0)
    # Only the client.viewed entries: exactly the newest 50, then one more page.
    page.get_by_label("Tapahtuma").select_option(label="Asiakkaat")
    page.get_by_role("button", name="Näytä", exact=True).click()
    expect(entries.first).to_contain_text("avasi asiakkaan Aino Virtanen tiedot")
    assert_accessible(page, "one client's audit log, paged")

    # English: sentences, names and a singular for one entry.
    page.goto("/#/settings")
    page.get_by_label("English").check()
    # The language is saved on the server first: wait for it before leaving the page.
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto(f"/#/audit/{aino['client_id']}")
    expect(entries.first).to_contain_text("Liisa Ohjaaja opened Aino Virtanen's file.")
    page.get_by_label("Action").select_option(label="Budget decisions")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="shown")).to_have_text(
        re.compile(r"^(1 entry|[2-9]\d* entries) shown$")
    )
    expect(entries.first).to_contain_text("made a budget decision for Aino Virtanen.")
    page.goto("/#/settings")
    page.get_by_label("Suomi").check()


def test_a_search_is_not_overwritten_by_the_slower_first_page(page: Page, server: Seeded) -> None:
    """The list of all clients is still on its way when the case manager searches: when it
    arrives after the search's answer, it is dropped, and the search's result stays."""
    held: list[Route] = []

    def hold_the_first_page(route: Route) -> None:
        if "q=" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r"/api/clients\?"), hold_the_first_page)
    sign_in_with_key(page, server.case_manager_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Asiakkaat")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the first page of clients was never requested"
    page.get_by_label("Hae asiakasta").fill("ketään ei ole tämän nimistä")
    page.get_by_role("button", name="Hae", exact=True).click()
    status = page.get_by_role("status").filter(has_text="asiakkaita")
    expect(status).to_have_text("Ei asiakkaita.")
    with page.expect_response(lambda r: "/api/clients?" in r.url and "q=" not in r.url) as late:
        held[0].continue_()
    late.value.finished()
    # The page has its body now; a few event-loop turns later it would have drawn it (the app's
    # live stream keeps the network busy, so "network idle" never comes).
    page.wait_for_timeout(300)
    # Aino Virtanen is always on the first page: had it been drawn, she would be listed.
    expect(page.locator("#client-results li")).to_have_count(0)
    expect(status).to_have_text("Ei asiakkaita.")
    expect(page.locator("#client-results")).to_have_text("Ei asiakkaita.")


def test_case_manager_home_is_the_client_list_with_search(page: Page, server: Seeded) -> None:
    """Signing in lands on the clients, searchable by name or phone, numbers written as
    people read them; one result is "1 asiakas" (Intl.PluralRules), not "1 asiakasta"."""
    sign_in_with_key(page, server.case_manager_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Asiakkaat")
    expect(page.locator("#nav").get_by_role("link", name="Asiakkaat")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_role("link", name="Uusi asiakas")).to_be_visible()
    page.get_by_label("Hae asiakasta").fill("040 123 4567")
    page.get_by_role("button", name="Hae").click()
    results = page.locator("#client-results li")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Virtanen Aino")
    expect(results.first.locator(".phone")).to_have_text("+358 40 123 4567")
    expect(page.get_by_role("status").filter(has_text="näkyvissä")).to_have_text(
        "1 asiakas näkyvissä"
    )
    page.get_by_label("Hae asiakasta").fill("virtanen")
    page.get_by_role("button", name="Hae").click()
    expect(results.filter(has_text="Virtanen Aino")).to_have_count(1)
    assert_accessible(page, "client list, searched")
    results.first.get_by_role("link").click()
    expect(page.locator("dl.facts")).to_contain_text("+358 40 123 4567")


def test_staff_screens_fit_a_narrow_phone(page: Page, server: Seeded) -> None:
    """320 px wide: no screen scrolls sideways (tables scroll inside their own region)."""
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in_with_key(page, server.case_manager_key)
    for link, heading in (
        ("Asiakkaat", "Asiakkaat"),
        ("Palveluntuottajat", "Palveluntuottajat"),
        ("Rahoitusajot", "Rahoitusajot"),
        ("Raportit", "Raportit"),
        ("Lokitiedot", "Lokitiedot"),
    ):
        page.locator("#nav").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 320, f"{heading} is {wide}px wide"
    # Approved providers (long contact lines) and a client's file.
    page.goto("/#/approvals/approved")
    expect(page.locator("section.provider").first).to_be_visible()
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 320, f"approved providers are {wide}px wide"
    page.goto("/#/clients")
    page.get_by_role("link", name="Virtanen Aino").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aino Virtanen")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 320, f"a client's file is {wide}px wide"
    assert_accessible(page, "client file at 320 px")
    # The client's own audit entries, from their file: opening the file was one of them (and
    # reading its carers, for the recovery invites, another).
    page.locator("main").get_by_role("link", name="Lokitiedot").click()
    expect(page.get_by_text("Yhden asiakkaan tapahtumat.")).to_be_visible()
    latest = page.locator("ul.audit li").filter(has_text="klo")
    expect(latest.filter(has_text="avasi asiakkaan Aino Virtanen tiedot.").first).to_be_visible()
    expect(latest.first).to_contain_text("asiakkaan Aino Virtanen")
    assert_accessible(page, "one client's audit log")


def test_case_manager_screens_on_a_desktop(page: Page, server: Seeded) -> None:
    """Case managers work at a desk too: wide pages, the same accessibility."""
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_with_key(page, server.case_manager_key)
    page.locator("#nav").get_by_role("link", name="Raportit").click()
    expect(page.get_by_role("heading", name="Palveluntuottajat kuukausittain")).to_be_visible()
    width = page.evaluate("document.querySelector('main').getBoundingClientRect().width")
    assert width > 1000, f"the reports page is {width}px wide on a desktop"
    assert_accessible(page, "reports on a desktop")
    screenshot(page, "46-case-manager-reports-desktop")
    page.locator("#nav").get_by_role("link", name="Asiakkaat").click()
    expect(page.locator("#client-results li").first).to_be_visible()
    assert_accessible(page, "clients on a desktop")


RAW_KEY = re.compile(r"\b(cm|visits?|pin|scan|prices|settlements|charges?|nav|unit)\.[a-zA-Z]")


def test_staff_screens_in_swedish_and_english(
    server: Seeded, browser: Any, browser_context_args: dict[str, Any]
) -> None:
    """Every staff screen in sv and en: <html lang> follows, no untranslated key shows."""
    screens = {
        server.provider_key: [
            "#/charge",
            "#/charge/visit",
            "#/visits",
            "#/charges",
            "#/prices",
            "#/settlements",
        ],
        server.case_manager_key: [
            "#/clients",
            "#/approvals",
            "#/approvals/approved",
            "#/catalogue",
            "#/funding",
            "#/reports",
            "#/audit",
        ],
    }
    for key, hashes in screens.items():
        ctx = browser.new_context(**browser_context_args)
        page = ctx.new_page()
        sign_in_with_key(page, key)
        for lang, heading in (("sv", "Inställningar"), ("en", "Settings")):
            page.goto("/#/settings")
            page.get_by_label({"sv": "Svenska", "en": "English"}[lang]).check()
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
            for target in hashes:
                page.goto(f"/{target}")
                expect(page.locator("html")).to_have_attribute("lang", lang)
                expect(page.locator("main h1")).to_be_visible()
                text = page.locator("body").inner_text()
                assert not RAW_KEY.search(text), f"{lang} {target}: {RAW_KEY.search(text)}"
            assert_accessible(page, f"{hashes[-1]} in {lang}")
        ctx.close()


def qr_video(payload: str, path: Path, *, scale: int = 6, frames: int = 10) -> None:
    """A 640 x 480 Y4M video of a QR code in the middle of white paper, for Chromium's fake
    camera (``--use-file-for-fake-video-capture``); the matrix has its 4-module quiet zone."""
    matrix = _qr(payload).get_matrix()
    width, height = 640, 480
    left = (width - len(matrix) * scale) // 2
    top = (height - len(matrix) * scale) // 2
    luma = bytearray(b"\xeb" * width * height)  # video white
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = (top + y * scale + dy) * width + left + x * scale
                    luma[start : start + scale] = b"\x10" * scale  # video black
    chroma = b"\x80" * ((width // 2) * (height // 2) * 2)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + bytes(luma) + chroma)


def test_camera_reads_the_clients_qr_and_charges(
    playwright: Any,
    server: Seeded,
    browser_context_args: dict[str, Any],
    tmp_path: Path,
) -> None:
    """The whole camera path with Chromium's fake camera showing the client's payment QR: the
    explanation, the tap, the decoder (BarcodeDetector or the vendored qr-scanner), the
    charge."""
    before = balance_cents(server)
    token = post_json(
        server, server.client_key, f"/api/wallets/{server.wallet_id}/payment-tokens", {}
    )
    video = tmp_path / "qr.y4m"
    qr_video(token["token"], video)
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        ctx = browser.new_context(**browser_context_args, permissions=["camera"])
        page = ctx.new_page()
        fetched: list[str] = []
        page.on("request", lambda r: fetched.append(r.url))
        sign_in_with_key(page, server.provider_key)
        page.get_by_label("Lue QR-koodi kameralla").check()
        page.get_by_role("button", name="Avaa kamera").click()
        expect(page.locator("#scan-area")).to_contain_text(
            "Asiakkaan QR-koodi luettu.", timeout=15000
        )
        expect(page.get_by_label("Kotiapu")).to_be_focused()
        assert_accessible(page, "QR read")
        page.get_by_label("Siivous").check()
        page.get_by_label("Määrä").fill("0,1")  # the session's budget is shared: spend little
        page.get_by_role("button", name="Veloita 3,50").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Maksu onnistui")
        assert balance_cents(server) == before - 350
        if not page.evaluate("'BarcodeDetector' in window"):
            # This browser has no BarcodeDetector: the vendored decoder and its worker read it.
            assert [u for u in fetched if u.endswith("/vendor/qr-scanner-worker.min.js")]
        # The camera is off once the code is read.
        assert page.evaluate("document.querySelector('video') === null")
        ctx.close()
    finally:
        browser.close()


def test_provider_screens_at_320px_and_200_percent_text(page: Page, server: Seeded) -> None:
    """A provider's phone with large text: nothing scrolls sideways, axe stays clean."""
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in_with_key(page, server.provider_key)
    for target, heading in (
        ("#/charge", "Veloita asiakasta"),
        ("#/charge/visit", "Käynnin aloitus"),
        ("#/visits", "Avoimet käynnit"),
        ("#/charges", "Omat veloitukset"),
        ("#/prices", "Hinnasto"),
        ("#/settlements", "Tilitykset"),
    ):
        page.goto(f"/{target}")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        # 200% of the user's text size (the root size is a percentage; everything in rem grows).
        add_style(page, "html { font-size: 225% !important; }")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 320, f"{target} is {wide}px wide at 200% text"
        assert_accessible(page, f"{target} at 320 px and 200% text")
    page.goto("/#/charge")
    add_style(page, "html { font-size: 225% !important; }")
    page.get_by_label("Maksukortti ja PIN").check()
    screenshot(page, "27-provider-charge-320px-200-percent")


IMPORT_HEADER = (
    "client_ref;first_name;last_name;phone;decision_ref;valid_from;label;categories;"
    "monthly_amount\n"
)


def test_case_manager_imports_clients_from_a_file_after_checking_it(
    page: Page, server: Seeded
) -> None:
    """Asiakkaat -> Tuo asiakkaita: the check writes nothing and shows each row; Import writes
    it; a file with a refused row lists the row and writes nothing."""
    first = first_day(current_period()).strftime("%-d.%-m.%Y")
    good = (
        IMPORT_HEADER
        + f"E2E-1;Tuomas;Tuonti;045 700 1001;E2E-P1;{first};Siivous;siivous;120,00\n"
        + "E2E-2;Tiina;Tuonti;045 700 1002;;;;;\n"
    ).encode()
    sign_in_with_key(page, server.case_manager_key)
    page.get_by_role("link", name="Tuo asiakkaita").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tuo asiakkaita")
    apply = page.get_by_role("button", name="Tuo", exact=True)
    expect(apply).to_be_hidden()
    # Check without a file: the field says what is missing.
    page.get_by_role("button", name="Tarkista").click()
    expect(page.locator(".error-summary")).to_contain_text("Valitse CSV-tiedosto.")
    page.get_by_label("CSV-tiedosto").set_input_files(
        files=[{"name": "asiakkaat.csv", "mimeType": "text/csv", "buffer": good}]
    )
    page.get_by_role("button", name="Tarkista").click()
    status = page.locator("#import-status")
    expect(status).to_contain_text("mitään ei ole vielä tallennettu")
    expect(status).to_contain_text("Uusia asiakkaita 2")
    expect(status).to_contain_text("uusia päätöksiä 1")
    rows = page.locator("#import-result tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("E2E-1: uusi")
    expect(rows.first).to_contain_text("E2E-P1: uusi")
    expect(page.locator(".error-summary")).to_have_count(0)
    assert_accessible(page, "client import, checked")
    found = call_api(server.url, server.case_manager_key, "GET", "/api/clients?q=Tuonti")
    assert found["items"] == []  # the check wrote nothing
    expect(apply).to_be_visible()
    apply.click()
    expect(status).to_contain_text("Tuotu.")
    expect(apply).to_be_hidden()
    found = call_api(server.url, server.case_manager_key, "GET", "/api/clients?q=Tuonti")
    assert sorted(c["first_name"] for c in found["items"]) == ["Tiina", "Tuomas"]

    # The same file again: nothing new, nothing to import.
    page.get_by_role("button", name="Tarkista").click()
    expect(status).to_contain_text("Tiedostossa ei ole mitään uutta.")
    expect(rows.first).to_contain_text("E2E-1: ennallaan")
    expect(apply).to_be_hidden()

    # A refused row: listed with its line and reason, in Finnish, nothing written.
    bad = (IMPORT_HEADER + "E2E-3;Toivo;Tuonti;12;;;;;\n").encode()
    page.get_by_label("CSV-tiedosto").set_input_files(
        files=[{"name": "virhe.csv", "mimeType": "text/csv", "buffer": bad}]
    )
    page.get_by_role("button", name="Tarkista").click()
    expect(page.locator(".error-summary")).to_contain_text("Tiedostossa on 1 hylätty rivi.")
    expect(page.locator("#refused-rows li")).to_have_text(
        ["Rivi 2: puhelinnumero 12 ei ole kelvollinen puhelinnumero. Korjaa numero."]
    )
    expect(apply).to_be_hidden()
    assert_accessible(page, "client import, refused")
    found = call_api(server.url, server.case_manager_key, "GET", "/api/clients?q=Toivo")
    assert found["items"] == []

    # Every reason in the case manager's words: amounts in euros, the header's problems named.
    mismatch = (
        IMPORT_HEADER.replace("monthly_amount", "monthly_amount;voucher_value;hours_per_week")
        + f"E2E-4;Toivo;Tuonti;045 700 1004;E2E-P4;{first};Seteli;siivous;100;32,00;7,5\n"
    ).encode()
    page.get_by_label("CSV-tiedosto").set_input_files(
        files=[{"name": "summa.csv", "mimeType": "text/csv", "buffer": mismatch}]
    )
    page.get_by_role("button", name="Tarkista").click()
    expect(page.locator("#refused-rows li")).to_have_text(
        [
            re.compile(
                r"^Rivi 2: kuukausisumma 100,00\s€ ei vastaa tunteja ja setelin arvoa "
                r"\(1\s040,00\s€\)\. Korjaa summa tai jätä se tyhjäksi\.$"
            )
        ]
    )
    header = b"client_ref;nimi;last_name;phone\nE2E-5;Toivo;Tuonti;045 700 1005\n"
    page.get_by_label("CSV-tiedosto").set_input_files(
        files=[{"name": "otsikko.csv", "mimeType": "text/csv", "buffer": header}]
    )
    page.get_by_role("button", name="Tarkista").click()
    refused = page.locator("#refused-rows li")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text(
        "Rivi 1: korjaa otsikkorivi. Tuntemattomat sarakkeet: nimi. "
        "Puuttuvat sarakkeet: first_name. Sarakkeet voivat olla: client_ref, first_name"
    )
    expect(refused).not_to_contain_text("Kahdesti")
    found = call_api(server.url, server.case_manager_key, "GET", "/api/clients?q=Toivo")
    assert found["items"] == []


def test_case_manager_closes_an_account_whose_decisions_have_ended(
    page: Page, server: Seeded
) -> None:
    """Issue 19: the client file's "Close the account" asks first; an account with a decision
    in force is refused with the server's Finnish reason and nothing changes; one whose
    decision ended is closed, says what went back to the county, and is marked closed in the
    file and the list."""
    cm = server.case_manager_key
    wallet = call_api(server.url, cm, "GET", f"/api/wallets/{server.wallet_id}")
    open_file = f"#/clients/{wallet['client']['id']}"
    sign_in_with_key(page, cm)
    page.goto(f"/{open_file}")
    section = page.locator("section.close-account")
    expect(section.get_by_role("heading", level=2)).to_have_text("Tilin sulkeminen")
    section.get_by_role("button", name="Sulje tili…").click()
    confirm = section.get_by_role("button", name="Sulje tili pysyvästi")
    expect(confirm).to_be_focused()
    expect(section.locator("#close-warning")).to_contain_text("Tiliä ei voi avata uudelleen.")
    assert_accessible(page, "closing an account, the confirm step")
    # Cancel puts the first button back; nothing was sent.
    section.get_by_role("button", name="Peruuta").click()
    expect(section.get_by_role("button", name="Sulje tili…")).to_be_focused()
    section.get_by_role("button", name="Sulje tili…").click()
    section.get_by_role("button", name="Sulje tili pysyvästi").click()
    expect(section.get_by_role("alert")).to_have_text(
        "Asiakkaalla on voimassa oleva budjettipäätös: päätä se ennen tilin sulkemista"
    )
    assert call_api(server.url, cm, "GET", f"/api/wallets/{server.wallet_id}")["envelopes"]

    # A client whose only decision ended last month.
    this_month = first_day(current_period())
    last_month_end = date.fromordinal(this_month.toordinal() - 1)
    made = call_api(
        server.url,
        cm,
        "POST",
        "/api/clients",
        {"first_name": "Sulevi", "last_name": "Suljettava", "phone": "045 700 1900"},
    )
    call_api(
        server.url,
        cm,
        "POST",
        f"/api/clients/{made['client_id']}/decisions",
        {
            "valid_from": last_month_end.replace(day=1).isoformat(),
            "valid_to": last_month_end.isoformat(),
            "lines": [
                {"label": "Siivous", "monthly_amount_cents": 10_000, "categories": ["siivous"]}
            ],
        },
    )
    page.goto(f"/#/clients/{made['client_id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sulevi Suljettava")
    section.get_by_role("button", name="Sulje tili…").click()
    section.get_by_role("button", name="Sulje tili pysyvästi").click()
    done = section.locator(".notice--ok")
    expect(done).to_have_text(re.compile(r"^Tili on suljettu\. Alueelle palasi 0,00\s€\.$"))
    expect(done).to_be_focused()
    expect(section.get_by_role("button")).to_have_count(0)
    assert_accessible(page, "an account just closed")

    page.reload()
    expect(page.locator(".client-closed")).to_contain_text("Tili suljettiin")
    expect(page.locator("section.close-account")).to_have_count(0)
    expect(page.get_by_role("heading", name="Kadonnut puhelin")).to_have_count(0)
    page.goto(f"/#/audit/{made['client_id']}")
    expect(page.locator("main")).to_contain_text(
        "Liisa Ohjaaja sulki asiakkaan Sulevi Suljettava tilin."
    )
    page.goto("/#/clients")
    page.get_by_label("Hae asiakasta").fill("Suljettava")
    page.get_by_role("button", name="Hae").click()
    expect(
        page.locator("main li").filter(has_text="Suljettava").locator(".tag.closed")
    ).to_have_text("Tili suljettu")
