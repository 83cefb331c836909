"""The provider's screens as a provider uses them (issue 17, the provider's part): a refund
takes an amount and asks first (its confirm button is really hidden until then), today's
refunded total follows; "Veloita" starts a new charge from a result or waiting screen; lists
name services in the UI language and page past 30 charges; open visits are not "on this
device"; a decline for want of money says what is left when the client showed their code."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect

from tests.e2e.helpers import add_style, assert_accessible, call_api, screenshot, sign_in_with_key
from tests.e2e.server import Seeded
from tests.e2e.test_journeys import balance_cents, euros
from tests.e2e.test_layout_and_size import no_horizontal_scroll

RAW_CODE = re.compile(r"\b(siivous|kotiapu|kuljetus)\b")  # codes are lower case, names are not


def charge_by_code(server: Seeded, quantity: str = "0.1", cents: int = 3500) -> dict[str, Any]:
    """A charge captured with a fresh payment code of the seeded client (consent)."""
    token = call_api(
        server.url, server.client_key, "POST", f"/api/wallets/{server.wallet_id}/payment-tokens", {}
    )
    return dict(
        call_api(
            server.url,
            server.provider_key,
            "POST",
            "/api/checkout/token",
            {
                "code": token["code"],
                "lines": [{"category": "siivous", "quantity": quantity, "unit_price_cents": cents}],
            },
            {"Idempotency-Key": f"e2e-{uuid.uuid4()}"},
        )
    )


def is_hidden(locator: Locator) -> bool:
    """Hidden for real: laid out as nothing (not only an attribute a CSS rule may defeat)."""
    return bool(
        locator.evaluate(
            "el => getComputedStyle(el).display === 'none' || el.getClientRects().length === 0"
        )
    )


def test_a_refund_takes_an_amount_and_asks_first(page: Page, server: Seeded) -> None:
    charge = charge_by_code(server)  # 3,50 EUR
    sign_in_with_key(page, server.provider_key)
    page.get_by_role("link", name="Veloitukset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Omat veloitukset")
    row = page.locator(f"li[data-charge='{charge['id']}']")
    # Services by name, never by code.
    expect(row).to_contain_text("Siivous 0,1 × 35,00")
    expect(page.locator("#charges-list")).not_to_contain_text(RAW_CODE)
    # One tap never refunds: the confirm button is not shown until "Palauta rahat" is pressed.
    confirm = row.locator("form.refund button[type=submit]")
    expect(confirm).to_be_hidden()
    assert is_hidden(confirm)
    refunded_before = page.locator("#refunded-today").inner_text()
    ask = row.locator("button", has_text="Palauta rahat")
    ask.click()
    expect(confirm).to_be_visible()
    expect(confirm).to_be_enabled()
    # A .button (display: inline-flex) with the hidden attribute is hidden: the app-wide rule.
    expect(ask).to_have_attribute("hidden", "")
    assert is_hidden(ask)
    amount = row.get_by_label("Palautettava summa")
    expect(amount).to_be_focused()
    expect(amount).to_have_value("3,50")
    expect(confirm).to_have_text("Vahvista palautus 3,50\u00a0€")
    amount.fill("1,25")
    expect(confirm).to_have_text("Vahvista palautus 1,25\u00a0€")
    assert_accessible(page, "refund amount")
    screenshot(page, "26b-provider-refund")
    # More than is left is refused beside the field, before any request.
    amount.fill("4")
    confirm.click()
    expect(page.locator(".error-summary")).to_contain_text("Voit palauttaa enintään 3,50")
    assert (
        call_api(server.url, server.provider_key, "GET", f"/api/charges/{charge['id']}")[
            "refunded_cents"
        ]
        == 0
    )
    assert_accessible(page, "refund too large")
    amount.fill("1,25")
    confirm.click()
    expect(page.get_by_role("status").filter(has_text="1,25\u00a0€ palautettiin")).to_be_visible()
    row = page.locator(f"li[data-charge='{charge['id']}']")
    expect(row).to_contain_text("Palautettu 1,25\u00a0€")
    fresh = call_api(server.url, server.provider_key, "GET", f"/api/charges/{charge['id']}")
    assert fresh["refunded_cents"] == 125
    # "Palautettu tänään" follows at once, without a reload.
    before_cents = int(re.sub(r"\D", "", refunded_before))
    expect(page.locator("#refunded-today")).to_have_text(f"{euros(before_cents + 125)}\u00a0€")
    # The rest can still be refunded, and the form opens closed again.
    expect(row.get_by_role("button", name="Palauta rahat")).to_be_visible()
    assert is_hidden(row.locator("form.refund button[type=submit]"))
    # Cancel closes the amount without refunding.
    row.get_by_role("button", name="Palauta rahat").click()
    row.get_by_role("button", name="Peruuta").click()
    expect(row.get_by_role("button", name="Palauta rahat")).to_be_focused()
    expect(row.get_by_label("Palautettava summa")).to_be_hidden()


def test_the_charges_list_pages_past_thirty_and_speaks_english(page: Page, server: Seeded) -> None:
    have = len(call_api(server.url, server.provider_key, "GET", "/api/charges?limit=100")["items"])
    for _ in range(max(0, 32 - have)):
        charge_by_code(server, quantity="0.01")  # 0,35 EUR each
    total = len(call_api(server.url, server.provider_key, "GET", "/api/charges?limit=100")["items"])
    assert total >= 32
    sign_in_with_key(page, server.provider_key)
    page.get_by_role("link", name="Veloitukset").click()
    rows = page.locator("#charges-list > li")
    expect(rows).to_have_count(30)
    more = page.get_by_role("button", name="Näytä lisää")
    expect(more).to_be_visible()
    more.click()
    expect(rows).to_have_count(min(total, 60))
    expect(page.get_by_role("status").filter(has_text="Näytetään")).to_be_visible()
    if total <= 60:
        expect(more).to_be_hidden()
    ids = rows.evaluate_all("els => els.map(e => e.dataset.charge)")
    assert len(ids) == len(set(ids))  # no charge twice across pages
    assert_accessible(page, "charges, second page")
    # In English: the page's words and still no raw codes.
    page.get_by_role("link", name="Asetukset").click()
    page.get_by_label("English").check()
    page.get_by_role("link", name="Charges").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your charges")
    expect(rows.first).to_be_visible()
    expect(page.locator("#charges-list")).not_to_contain_text(RAW_CODE)
    expect(page.get_by_role("button", name="Show more")).to_be_visible()
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Suomi").check()


def test_veloita_starts_a_new_charge_from_a_result_or_waiting_screen(
    page: Page, server: Seeded
) -> None:
    sign_in_with_key(page, server.provider_key)
    nav_charge = page.locator("#nav").get_by_role("link", name="Veloita")
    form_heading = page.get_by_role("heading", level=1, name="Veloita asiakasta")
    expect(form_heading).to_be_visible()
    # A result screen (still #/charge): "Veloita" opens an empty form.
    token = call_api(
        server.url, server.client_key, "POST", f"/api/wallets/{server.wallet_id}/payment-tokens", {}
    )
    page.get_by_label("Maksukoodi", exact=True).check()
    page.get_by_label("Asiakkaan maksukoodi").fill(token["code"])
    page.get_by_label("Siivous").check()
    page.get_by_label("Määrä").fill("0,1")
    page.get_by_role("button", name="Veloita 3,50").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maksu onnistui")
    assert page.evaluate("location.hash") == "#/charge"
    nav_charge.click()
    expect(form_heading).to_be_visible()
    expect(page.get_by_label("Asiakkaan puhelinnumero")).to_be_visible()
    expect(page.get_by_label("Asiakkaan puhelinnumero")).to_have_value("")
    # A waiting screen (a payment request by phone): the same, and the request is then
    # cancelled so the client's money is not held for the others' tests.
    page.get_by_label("Asiakkaan puhelinnumero").fill(server.client_phone)
    page.get_by_label("Siivous").check()
    page.get_by_label("Määrä").fill("0,1")
    with page.expect_response(re.compile(r"/api/checkout/phone$")) as sent:
        page.get_by_role("button", name="Veloita 3,50").click()
    request = sent.value.json()["request"]
    try:
        expect(page.get_by_role("heading", level=1)).to_have_text("Odottaa hyväksyntää")
        nav_charge.click()
        expect(form_heading).to_be_visible()
        expect(page.get_by_role("button", name="Peru pyyntö")).to_have_count(0)
        assert_accessible(page, "a new charge after waiting")
    finally:
        call_api(
            server.url,
            server.provider_key,
            "POST",
            f"/api/payment-requests/{request['id']}/cancel",
            {},
        )


def test_open_visits_are_the_providers_not_this_devices(page: Page, server: Seeded) -> None:
    for hold in call_api(server.url, server.provider_key, "GET", "/api/holds"):
        call_api(server.url, server.provider_key, "POST", f"/api/holds/{hold['hold_id']}/void", {})
    sign_in_with_key(page, server.provider_key)
    page.get_by_role("link", name="Käynnit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Avoimet käynnit")
    expect(page.get_by_text("Ei avoimia käyntejä.", exact=True)).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("laitteella")


def test_a_decline_for_want_of_money_says_what_is_left(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.provider_key)
    left = balance_cents(server)
    token = call_api(
        server.url, server.client_key, "POST", f"/api/wallets/{server.wallet_id}/payment-tokens", {}
    )
    page.get_by_label("Maksukoodi", exact=True).check()
    page.get_by_label("Asiakkaan maksukoodi").fill(token["code"])
    page.get_by_label("Siivous").check()
    page.get_by_label("Määrä").fill("20")
    page.get_by_role("button", name="Veloita 700,00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maksu ei onnistunut")
    expect(page.locator("#decline-left")).to_have_text(
        f"Tähän palveluun on käytettävissä {euros(left)}\u00a0€."
    )
    assert_accessible(page, "decline with what is left")
    screenshot(page, "06b-provider-decline-left")
    assert balance_cents(server) == left
    # By phone number (no code, no card): no figure, only where the client can see it.
    page.get_by_role("button", name="Takaisin veloitukseen").click()
    page.get_by_label("Puhelinnumero", exact=True).check()
    page.get_by_label("Asiakkaan puhelinnumero").fill(server.client_phone)
    page.get_by_role("button", name="Veloita 700,00").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Maksu ei onnistunut")
    expect(page.locator("#decline-left")).to_contain_text("näkee saldonsa")
    expect(page.locator("main")).not_to_contain_text(euros(left))
    assert balance_cents(server) == left


def test_the_audit_logs_show_more_is_shown_only_when_there_is_more(
    page: Page, server: Seeded
) -> None:
    """The audit log's "Näytä lisää" was shown (and did nothing) even when everything was
    on the page; it is in the page only after a full page of 50. Both cases, whatever the
    earlier tests left in this server's log (under pytest -n each worker has a server of its
    own, with fewer of them): the whole log topped up to 50 or more, then a filter with less."""
    cm = server.case_manager_key
    rows = call_api(server.url, cm, "GET", "/api/audit?limit=50")
    for _ in range(50 - len(rows)):  # each view of a client's wallet is one audit entry
        call_api(server.url, cm, "GET", f"/api/wallets/{server.wallet_id}")
    sign_in_with_key(page, cm)
    page.goto("/#/audit")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    entries = page.locator("main ul.audit > li")
    more = page.locator("main button", has_text="Näytä lisää")
    expect(entries).to_have_count(50)
    expect(more).to_have_count(1)
    expect(more).to_be_visible()
    few = call_api(server.url, cm, "GET", "/api/audit?limit=50&action=passkey.")
    assert len(few) < 50
    page.locator("#audit-action").select_option("passkey.")
    page.locator("main form.filters button[type=submit]").click()
    expect(more).to_have_count(0)
    expect(entries).to_have_count(len(few))


def test_the_refund_and_the_county_choice_fit_320px_at_200_percent_text(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    charge = charge_by_code(server)
    context = browser.new_context(
        **{**browser_context_args, "viewport": {"width": 320, "height": 640}}
    )
    page = context.new_page()
    try:
        sign_in_with_key(page, server.provider_key)
        add_style(page, "html { font-size: 225% !important; }")
        page.locator("#nav").get_by_role("link", name="Veloitukset").click()
        row = page.locator(f"li[data-charge='{charge['id']}']")
        row.get_by_role("button", name="Palauta rahat").click()
        expect(row.get_by_label("Palautettava summa")).to_be_visible()
        no_horizontal_scroll(page)
        page.goto("/#/apply")
        expect(page.get_by_role("heading", level=1)).to_have_text("Hae palveluntuottajaksi")
        expect(page.get_by_label("Kainuu", exact=True)).to_be_visible()
        no_horizontal_scroll(page)
    finally:
        context.close()
