"""The client's home says what happened (issue 17): the pay code first and the chart folded
away; a payment request names its services and units; a live charge or refund shows at the top
until it is closed (and is still read out); every history row says what happened, who, which
service and how much; a carer's look at the wallet is in "who looked at my data"; and each
role's header and texts are addressed to that role.

Hilkka is made through the API with her own invite and signs in with a passkey (Chromium's
virtual authenticator), so the shared seeded people stay as other tests expect them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import assert_accessible, call_api, screenshot, sign_in_with_key
from tests.e2e.server import Seeded
from tests.e2e.test_client_screens import _client, check_screen
from tests.e2e.test_passkeys import virtual_authenticator

PHONE = "050 555 6644"
KUURA = "Siivouspalvelu Kuura Oy"
EUR = "\u00a0€"


@pytest.fixture(scope="module")
def hilkka(server: Seeded) -> tuple[str, str, str]:
    """(client id, wallet id, invite code): 300 EUR a month for home help and cleaning."""
    client_id, wallet_id = _client(server, "Hilkka", "Hakala", PHONE, 30_000)
    issued = call_api(
        server.url, server.case_manager_key, "POST", "/api/invites", {"client_id": client_id}
    )
    return client_id, wallet_id, issued["code"]


@pytest.fixture(scope="module")
def home(
    browser: Browser, browser_context_args: dict[str, Any], hilkka: tuple[str, str, str]
) -> Iterator[Page]:
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    virtual_authenticator(context, page)
    page.goto(f"/join#{hilkka[2]}")
    page.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
    yield page
    context.close()


def ask(server: Seeded, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The seeded provider (not trusted by Hilkka) charges by her phone number: a request."""
    answer = call_api(
        server.url,
        server.provider_key,
        "POST",
        "/api/checkout/phone",
        {"phone": PHONE, "lines": lines},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert answer["outcome"] == "pending", answer
    return dict(answer["request"])


def rows(page: Page) -> Any:
    return page.locator("#recent-title + ul > li")


def test_the_pay_code_comes_first_and_the_chart_is_folded(home: Page) -> None:
    page = home
    page.goto("/#/wallet")
    expect(page.locator(".brand")).to_have_text("Oma budjetti")
    pay = page.get_by_role("button", name="Näytä maksukoodi")
    expect(pay).to_be_visible()
    # In reading order the pay button is the page's first control, before any balance.
    first = page.evaluate(
        "() => document.querySelector('main').querySelector('button, a[href], summary').textContent"
    )
    assert first == "Näytä maksukoodi"
    order = page.evaluate(
        "() => { const pay = document.getElementById('pay-title');"
        " const env = document.querySelector('[data-envelope]');"
        " return Boolean(pay.compareDocumentPosition(env) & Node.DOCUMENT_POSITION_FOLLOWING); }"
    )
    assert order, "the pay section comes before the balances"
    # The chart is there, folded: its summary shows, the picture does not until opened.
    details = page.locator("[data-envelope] details.chart-details").first
    expect(details).not_to_have_attribute("open", re.compile(".*"))
    expect(details.locator("summary")).to_have_text("Näytä kulutus kuukausittain")
    expect(details.locator("figure.spending")).to_be_hidden()
    # Drawn when first opened, not with the balances (a third of their first render on a slow
    # phone), and only once.
    expect(details.locator("figure.spending")).to_have_count(0)
    details.locator("summary").click()
    expect(details.locator("figure.spending")).to_be_visible()
    details.locator("summary").click()
    expect(details.locator("figure.spending")).to_be_hidden()
    details.locator("summary").click()
    expect(details.locator("figure.spending")).to_have_count(1)
    expect(details.locator("figure.spending")).to_be_visible()
    check_screen(page, "client home, pay first, chart open")


def test_a_request_names_its_services_and_a_live_charge_shows_at_the_top(
    home: Page, server: Seeded
) -> None:
    page = home
    page.goto("/#/wallet")
    expect(page.locator(".envelope__balance").first).to_contain_text("300,00")
    ask(server, [{"category": "siivous", "quantity": "2", "unit_price_cents": 3500}])
    request = page.locator(".request")
    expect(request).to_contain_text(f"{KUURA} pyytää 70,00{EUR}", timeout=15000)
    expect(request.locator(".request__lines li")).to_have_text(
        [f"Siivous: 2 × 35,00{EUR} / tunti = 70,00{EUR}"]
    )
    check_screen(page, "client home with a request naming its services")
    request.get_by_role("button", name="Hyväksy").click()
    # The charge, live: a notice at the top of the page, and read out too.
    notice = page.locator("[data-live-notice]")
    said = f"{KUURA} veloitti 70,00{EUR}. Saldo on nyt 230,00{EUR}."
    expect(notice).to_have_text(re.compile(re.escape(said)), timeout=15000)
    expect(notice).to_be_visible()
    expect(page.locator("#announce")).to_have_text(said)
    above = page.evaluate(
        "() => { const n = document.querySelector('[data-live-notice]');"
        " const pay = document.getElementById('pay-title');"
        " return Boolean(n.compareDocumentPosition(pay) & Node.DOCUMENT_POSITION_FOLLOWING); }"
    )
    assert above, "the notice is above everything but the heading"
    screenshot(page, "61-client-live-charge-notice")
    assert_accessible(page, "client home with a live charge notice")
    # The history row: what, who, which service and how much.
    row = rows(page).first
    expect(row).to_contain_text(f"Maksupyyntö: {KUURA}")
    expect(row).to_contain_text("Siivous: 2 × tunti")
    expect(row).to_contain_text("Hyväksytty ja maksettu")
    expect(row.locator(".amount")).to_have_text(f"−70,00{EUR}")
    expect(page.locator("main")).not_to_contain_text("Varattu maksu")
    # Closed: gone, and stays gone on the next live redraw.
    notice.get_by_role("button", name="Sulje").click()
    expect(page.locator("[data-live-notice]")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_be_focused()


def test_every_history_row_says_what_happened(
    home: Page, server: Seeded, hilkka: tuple[str, str, str]
) -> None:
    page = home
    page.goto("/#/wallet")
    expect(page.locator(".envelope__balance").first).to_contain_text("230,00")
    # A declined request: its hold comes back, and the row says from whom.
    declined = ask(server, [{"category": "kotiapu", "quantity": "1", "unit_price_cents": 3800}])
    page.locator(".request").get_by_role("button", name="Hylkää").click(timeout=15000)
    expect(page.locator("main").get_by_text("Maksu hylätty.")).to_be_visible()
    back = rows(page).first
    expect(back).to_contain_text(f"Maksupyynnön varaus palautettu: {KUURA}", timeout=15000)
    expect(back).to_contain_text("Kotiapu: 1 × tunti")
    expect(back.locator(".amount")).to_have_text(f"+38,00{EUR}")
    expect(rows(page).nth(1)).to_contain_text("Ei hyväksytty, raha palautettu")
    assert declined["status"] == "pending"

    # A visit: checked in with her pay code for two hours, checked out after one and a half.
    page.get_by_role("button", name="Näytä maksukoodi").click()
    # The time left as people say it (a fresh code lasts 120 s): minutes, not "120 sekuntia".
    expect(page.get_by_role("timer")).to_have_text("Koodi toimii vielä noin 2 minuuttia")
    code = page.locator("#pay-code").inner_text().replace(" ", "")
    two_hours = [{"category": "kotiapu", "quantity": "2", "unit_price_cents": 3800}]
    hold = call_api(
        server.url,
        server.provider_key,
        "POST",
        "/api/holds",
        {"code": code, "lines": two_hours},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    expect(rows(page).first).to_contain_text("Käynti kesken, raha varattu", timeout=15000)
    # The live redraw keeps the code on screen (one code per visit is enough).
    expect(page.locator("#pay-code")).to_have_text(f"{code[:4]} {code[4:]}")
    done = call_api(
        server.url,
        server.provider_key,
        "POST",
        f"/api/holds/{hold['id']}/capture",
        {"lines": [{"category": "kotiapu", "quantity": "1.5", "unit_price_cents": 3800}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    unused = rows(page).first
    expect(unused).to_contain_text(f"Käyttämätön osa palautettu: {KUURA}", timeout=15000)
    expect(unused.locator(".amount")).to_have_text(f"+19,00{EUR}")
    visit = rows(page).nth(1)
    expect(visit).to_contain_text(f"Käynti: {KUURA}")
    expect(visit).to_contain_text("Kotiapu: 1,5 × tunti")
    expect(visit).to_contain_text(f"Maksettu 57,00{EUR}, loput palautettiin budjettiin")
    expect(visit.locator(".amount")).to_have_text(f"−76,00{EUR}")

    # A refund says so, with the provider and the service.
    call_api(
        server.url,
        server.provider_key,
        "POST",
        f"/api/charges/{done['charge_id']}/refunds",
        {},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    refund = rows(page).first
    expect(refund).to_contain_text(f"Palautus: {KUURA}", timeout=15000)
    expect(refund).to_contain_text("Kotiapu: 1,5 × tunti")
    expect(refund.locator(".amount")).to_have_text(f"+57,00{EUR}")
    expect(page.locator("[data-live-notice]").first).to_contain_text(
        f"{KUURA} palautti 57,00{EUR}. Saldo on nyt 230,00{EUR}."
    )
    # No row is a bare "Tapahtuma" or "Varattu maksu"; the month's money says what it is.
    main = page.locator("main")
    expect(main).not_to_contain_text(re.compile(r"\bTapahtuma\b"))
    expect(main).not_to_contain_text("Varattu maksu")
    expect(rows(page).last).to_contain_text("Kuukauden raha")
    screenshot(page, "62-client-history")
    check_screen(page, "client history that says what happened")

    # In Swedish too.
    page.goto("/#/settings")
    page.get_by_label("Svenska").check()
    page.goto("/#/wallet")
    expect(rows(page).first).to_contain_text(f"Återbetalning: {KUURA}")
    expect(page.get_by_role("button", name="Visa betalningskod")).to_be_visible()
    page.goto("/#/settings")
    page.get_by_label("Suomi").check()
    expect(page.get_by_role("heading", level=1)).to_have_text("Asetukset")


def test_a_charge_while_on_another_screen_shows_there_too(home: Page, server: Seeded) -> None:
    page = home
    page.goto("/#/wallet")
    expect(page.locator(".envelope__balance").first).to_contain_text("230,00")
    page.get_by_role("button", name="Näytä maksukoodi").click()
    code = page.locator("#pay-code").inner_text().replace(" ", "")
    page.goto("/#/providers")
    expect(page.get_by_role("heading", level=1)).to_have_text("Palveluyritykset ja hinnat")
    call_api(
        server.url,
        server.provider_key,
        "POST",
        "/api/checkout/token",
        {
            "code": code,
            "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    notice = page.locator("[data-live-notice]")
    said = f"{KUURA} veloitti 35,00{EUR}. Saldo on nyt 195,00{EUR}."
    expect(notice).to_contain_text(said, timeout=15000)
    expect(notice).to_be_visible()
    expect(page.locator("#announce")).to_have_text(said)
    assert_accessible(page, "a live charge notice on the directory")
    notice.get_by_role("button", name="Sulje").click()
    expect(notice).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_be_focused()


def test_a_carers_look_is_listed_with_her_name(
    home: Page, server: Seeded, hilkka: tuple[str, str, str]
) -> None:
    client_id, wallet_id, _ = hilkka
    carer = call_api(server.url, server.carer_key, "GET", "/api/me")
    mandates = f"/api/clients/{client_id}/mandates"
    call_api(
        server.url,
        server.case_manager_key,
        "PUT",
        mandates,
        {"carer_id": carer["principal_id"], "scopes": ["view"]},
    )
    try:
        call_api(server.url, server.carer_key, "GET", f"/api/wallets/{wallet_id}")
    finally:
        call_api(
            server.url,
            server.case_manager_key,
            "DELETE",
            f"{mandates}?carer_id={carer['principal_id']}",
        )
    page = home
    page.goto("/#/views")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kuka on katsonut tietoja")
    first = page.locator("#views-list li").first
    expect(first).to_contain_text("Kalle Virtanen (omainen)")
    expect(first).to_contain_text("Katsoi saldot")
    expect(page.locator("#views-list")).not_to_contain_text("Hilkka")
    check_screen(page, "who looked, a carer included")


def as_role(browser: Browser, args: dict[str, Any], key: str) -> Page:
    page = browser.new_context(**args).new_page()
    sign_in_with_key(page, key)
    return page


def test_each_role_has_its_own_header_and_words(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    page = as_role(browser, browser_context_args, server.carer_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Budjetti: Aino Virtanen")
    expect(page.locator(".brand")).to_have_text("Omaisen näkymä")
    main = page.locator("main")
    expect(main).to_contain_text(
        "Aino voi näyttää maksukoodin tai kertoa puhelinnumeronsa palveluyritykselle"
    )
    expect(main).not_to_contain_text("puhelinnumerosi")
    expect(main).not_to_contain_text("budjetistasi")
    assert_accessible(page, "carer's wallet in the carer's words")
    page.goto("/#/settings")
    expect(main).to_contain_text("kun asiakkaan budjetista maksetaan")
    expect(main).not_to_contain_text("budjetistasi")
    page.context.close()

    page = as_role(browser, browser_context_args, server.provider_key)
    expect(page.locator(".brand")).to_have_text("Palveluntuottajan kassa")
    page.goto("/#/settings")
    expect(page.locator("main")).to_contain_text("yrityksesi maksuista")
    expect(page.locator("main")).not_to_contain_text("budjetistasi")
    assert_accessible(page, "provider's settings in the provider's words")
    # A balance limit is a client's setting: a provider is not asked for one.
    page.goto("/#/notifications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ilmoitusasetukset")
    expect(page.get_by_role("button", name="Tallenna ilmoitusasetukset")).to_be_visible()
    expect(page.get_by_label("Ilmoita, kun saldo on alle")).to_have_count(0)
    assert_accessible(page, "provider's notification settings")
    page.context.close()

    page = as_role(browser, browser_context_args, server.case_manager_key)
    expect(page.locator(".brand")).to_have_text("Asiakasohjaus")
    expect(page).to_have_title("Asiakasohjaus – Henkilökohtainen budjetti")
    page.goto("/#/settings")
    expect(page.locator("main")).not_to_contain_text("budjetistasi")
    page.context.close()
