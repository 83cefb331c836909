"""The client's and the carer's own screens (issue 6): passkeys, notification settings, trusted
providers and caps, the provider directory, carers and their mandates, who looked at my data,
the monthly chart on the wallet, and a carer switching between clients. Each page and state is
scanned by axe-core, reached by keyboard, and checked at 320 px with 200% text.

The people here are made through the API (a case manager's client, decision and invite; two
approved providers with a service area), so the shared seeded world stays as other tests expect
it; the client signs in with a real passkey (Chromium's virtual authenticator), since adding a
passkey needs a passkey session."""

from __future__ import annotations

import json
import re
import urllib.error
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from notifications.rules import KNOWN_TYPES
from payments.ledger.periods import current_period, first_day
from payments.people.mandates import SCOPES
from tests.e2e.helpers import add_style, assert_accessible, call_api, screenshot, sign_in_with_key
from tests.e2e.server import Seeded
from tests.e2e.test_layout_and_size import no_horizontal_scroll
from tests.e2e.test_notifications import IPHONE_UA
from tests.e2e.test_passkeys import virtual_authenticator

STATIC = Path(__file__).parents[2] / "pwa" / "static"
NO_CARERS = "Et ole vielä antanut lupaa yhdellekään omaiselle."
MY_VIEWS = [
    "client-context.js",
    "client-chart.js",
    "client-passkeys.js",
    "client-notifications.js",
    "client-trusted.js",
    "client-directory.js",
    "client-carers.js",
    "client-views.js",
    "client-statements.js",
    "carer-clients.js",
    "wallet.js",
    "settings.js",
]


@dataclass
class World:
    client_id: str
    wallet_id: str
    invite_code: str
    second_client_id: str
    second_wallet_id: str
    carer_id: str
    cheap_provider: str


def _apply_and_approve(server: Seeded, body: dict[str, Any]) -> str:
    applied = call_api(
        server.url, server.case_manager_key, "POST", "/api/providers/applications", body
    )
    pid = str(applied["provider_id"])
    call_api(server.url, server.case_manager_key, "POST", f"/api/providers/{pid}/approve", {})
    return pid


def _client(server: Seeded, first: str, last: str, phone: str, cents: int) -> tuple[str, str]:
    cm = server.case_manager_key
    made = call_api(
        server.url,
        cm,
        "POST",
        "/api/clients",
        {"first_name": first, "last_name": last, "phone": phone},
    )
    call_api(
        server.url,
        cm,
        "POST",
        f"/api/clients/{made['client_id']}/decisions",
        {
            "valid_from": first_day(current_period()).isoformat(),
            "lines": [
                {
                    "label": "Kotiapu ja siivous",
                    "monthly_amount_cents": cents,
                    "categories": ["kotiapu", "siivous"],
                }
            ],
        },
    )
    return str(made["client_id"]), str(made["wallet_id"])


@pytest.fixture(scope="module")
def world(server: Seeded) -> Iterator[World]:
    """Two clients, two more providers (one cheaper, with a service area), and the seeded carer
    given a second client to switch to (taken back afterwards: other journeys expect the carer
    to have Aino alone)."""
    cheap = _apply_and_approve(
        server,
        {
            "company_name": "Kotipalvelu Aalto Oy",
            "business_id": "8844221-6",
            "iban": "FI21 1234 5600 0007 85",
            "bic": "NDEAFIHH",
            "contact_name": "Anna Aalto",
            "contact_email": "anna@example.org",
            "contact_phone": "040 765 4321",
            "languages": ["fi", "sv"],
            "municipalities": ["Kajaani", "Sotkamo"],
            "prices": {"siivous": 3200, "kotiapu": 4200},
        },
    )
    _apply_and_approve(
        server,
        {
            "company_name": "Hoiva Lehtonen Oy",
            "business_id": "5566778-5",
            "iban": "FI21 1234 5600 0007 85",
            "bic": "NDEAFIHH",
            "contact_name": "Leo Lehtonen",
            "contact_email": "leo@example.org",
            "contact_phone": "040 111 2222",
            "languages": ["fi"],
            "municipalities": ["Kuhmo"],
            "prices": {"siivous": 3900},
        },
    )
    client_id, wallet_id = _client(server, "Sanni", "Kärkkäinen", "050 555 7788", 25_000)
    # One payment this month, so the chart has something to show: the case manager lets the
    # seeded provider charge by phone, it charges 35 EUR, and the trust is taken back.
    provider = call_api(server.url, server.provider_key, "GET", "/api/me")["provider_id"]
    trust = f"/api/wallets/{wallet_id}/trusted-providers/{provider}"
    call_api(server.url, server.case_manager_key, "PUT", trust, {"per_charge_cap_cents": 10_000})
    call_api(
        server.url,
        server.provider_key,
        "POST",
        "/api/checkout/phone",
        {
            "phone": "050 555 7788",
            "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    call_api(server.url, server.case_manager_key, "DELETE", trust)
    issued = call_api(
        server.url, server.case_manager_key, "POST", "/api/invites", {"client_id": client_id}
    )
    second_id, second_wallet = _client(server, "Veikko", "Heikkinen", "050 555 9911", 12_000)
    carer = call_api(server.url, server.carer_key, "GET", "/api/me")
    # The seeded carer has view + approve over Aino; over Veikko they may see and choose providers.
    call_api(
        server.url,
        server.case_manager_key,
        "PUT",
        f"/api/clients/{second_id}/mandates",
        {"carer_id": carer["principal_id"], "scopes": ["view", "manage-providers"]},
    )
    yield World(
        client_id=client_id,
        wallet_id=wallet_id,
        invite_code=issued["code"],
        second_client_id=second_id,
        second_wallet_id=second_wallet,
        carer_id=str(carer["principal_id"]),
        cheap_provider=cheap,
    )
    call_api(
        server.url,
        server.case_manager_key,
        "DELETE",
        f"/api/clients/{second_id}/mandates?carer_id={carer['principal_id']}",
    )


@pytest.fixture(scope="module")
def client_page(
    browser: Browser, browser_context_args: dict[str, Any], world: World
) -> Iterator[tuple[BrowserContext, Page]]:
    """Sanni on her phone, signed in with the passkey she made from her invite."""
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    virtual_authenticator(context, page)
    page.goto(f"/join#{world.invite_code}")
    page.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
    yield context, page
    context.close()


IN_PAGE_FETCH = """async ([method, path]) => {
  const r = await fetch(path, {method, headers: {Accept: 'application/json'}});
  return {status: r.status, body: r.status === 204 ? null : await r.json()};
}"""

# Every visible link, button, field and summary, numbered; of a radio group only the checked one
# (Tab enters a group once, at its checked radio).
MARK_FOCUSABLE = """() => [...document.querySelectorAll(
  'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]),'
  + ' select:not([disabled]), summary')]
  .filter(e => e.offsetParent !== null && !(e.type === 'radio' && !e.checked
    && document.querySelector(`input[name="${e.name}"]:checked`)))
  .map((e, i) => { e.dataset.kb = String(i); return String(i); })"""

FOCUSED_MARK = "() => (document.activeElement?.dataset?.kb) || ''"

DESCRIBE = """(ids) => ids.map(i => document.querySelector(`[data-kb="${i}"]`))
  .map(e => e.tagName + ' ' + (e.textContent || e.id).trim().slice(0, 40))"""

DROP_BIG_TEXT = """() => document.querySelectorAll('style')
  .forEach(s => s.textContent.includes('225%') && s.remove())"""


def in_page_api(page: Page, method: str, path: str) -> Any:
    """Read through the page's own session (cookie), as the app does."""
    return page.evaluate(IN_PAGE_FETCH, [method, path])


GONE = """(ids) => ids.filter(i => !document.querySelector(`[data-kb="${i}"]`))"""


def keyboard_reaches_everything(page: Page, walks: int = 3) -> None:
    """Tab from the top of the page: every visible link, button and field gets focus. A live
    event that redraws the page during the walk replaces the marked elements (on a loaded
    machine the second event of a payment request can land mid-walk): then walk again."""
    for walk in range(walks):
        page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
        wanted = page.evaluate(MARK_FOCUSABLE)
        reached: list[str] = []
        for _ in range(len(wanted) + 15):
            page.keyboard.press("Tab")
            kb = page.evaluate(FOCUSED_MARK)
            if kb and kb not in reached:
                reached.append(kb)
            if set(wanted) <= set(reached):
                break
        if page.evaluate(GONE, wanted):
            assert walk < walks - 1, f"the page was redrawn during each of {walks} walks"
            continue
        missing = page.evaluate(DESCRIBE, [i for i in wanted if i not in reached])
        assert not missing, f"not reachable by Tab: {missing}"
        return


def large_text_fits(page: Page) -> None:
    """320 px wide and 200% text: nothing scrolls sideways, long compounds wrap."""
    size = page.viewport_size
    page.set_viewport_size({"width": 320, "height": 640})
    add_style(page, "html { font-size: 225% !important; }")
    try:
        no_horizontal_scroll(page)
    finally:
        page.evaluate(DROP_BIG_TEXT)
        if size:
            page.set_viewport_size(size)


def check_screen(page: Page, state: str) -> None:
    text = page.locator("main").inner_text()
    assert not re.search(r"\b(null|undefined|NaN)\b", text), f"{state}: {text}"
    # Every string came from the translations: no raw keys such as "trusted.title".
    assert not re.search(r"\b[a-z]+\.[a-z][a-zA-Z]+\b", text), f"{state}: a key shows: {text}"
    assert_accessible(page, state)
    keyboard_reaches_everything(page)
    large_text_fits(page)


# --- every string in fi, sv and en --------------------------------------------------------------


def test_every_key_of_these_screens_is_translated() -> None:
    langs = {
        code: json.loads((STATIC / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
        for code in ("fi", "sv", "en")
    }
    used: set[str] = set()
    for name in MY_VIEWS:
        source = (STATIC / "js" / "views" / name).read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([a-zA-Z][\w.-]*)"', source))
    assert len(used) > 100
    for code, strings in langs.items():
        missing = sorted(k for k in used if k not in strings)
        assert not missing, f"{code}.json lacks {missing}"
    # The dynamic keys: every scope and every notification type the server knows.
    dynamic = {f"scope.{s}" for s in SCOPES} | {f"scope.{s}.hint" for s in SCOPES}
    dynamic |= {f"notif.type.{kind}" for kind in KNOWN_TYPES}
    for code, strings in langs.items():
        missing = sorted(dynamic - set(strings))
        assert not missing, f"{code}.json lacks {missing}"


# --- the client ---------------------------------------------------------------------------------


def test_wallet_shows_time_allotment_spent_expiry_and_chart(
    client_page: tuple[BrowserContext, Page],
) -> None:
    _, page = client_page
    page.goto("/#/wallet")
    card = page.locator("[data-envelope]").first
    expect(card.locator(".updated")).to_have_text(re.compile(r"Päivitetty klo \d\d\.\d\d"))
    expect(card.locator("dl.facts")).to_contain_text("Kuukauden raha")
    expect(card.locator("dl.facts")).to_contain_text("250,00\u00a0€")
    expect(card.locator("dl.facts")).to_contain_text("Käytetty")
    expect(card.locator("dl.facts")).to_contain_text("Käytettävä viimeistään")
    # The chart, folded away until asked for: a picture hidden from screen readers, and a
    # table with the same numbers.
    figure = card.locator("figure.spending")
    expect(figure).to_be_hidden()
    card.locator("details.chart-details > summary").click()
    expect(figure).to_be_visible()
    expect(figure.locator("svg.chart")).to_have_attribute("aria-hidden", "true")
    table = figure.locator("table")
    expect(table.locator("caption")).to_have_text("Kotiapu ja siivous: käytetty kuukausittain")
    expect(table.locator("tbody tr")).to_have_count(1)  # the decision began this month
    expect(table.locator("tbody tr td")).to_have_text("35,00\u00a0€")
    expect(card.locator(".envelope__balance")).to_contain_text("215,00")
    links = page.locator("section[aria-labelledby=more-title] a")
    expect(links).to_have_text(
        [
            "Luotetut palveluyritykset",
            "Palveluyritykset ja hinnat",
            "Omaiset",
            "Kuukausiotteet",
            "Kuka on katsonut tietoja",
        ]
    )
    screenshot(page, "50-client-wallet-chart")
    check_screen(page, "client wallet with chart")


def test_passkeys_list_add_and_remove(client_page: tuple[BrowserContext, Page]) -> None:
    _, page = client_page
    page.goto("/#/settings")
    page.get_by_role("link", name="Laitteesi: kirjautumisavaimet ja kirjautumiset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Laitteesi")
    rows = page.locator("[data-passkey]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ainoaa avainta ei voi poistaa")
    check_screen(page, "passkeys, one")

    # Empty name: the error summary, nothing added.
    page.get_by_label("Avaimen nimi").fill("")
    page.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page, "passkeys, name missing")
    assert len(in_page_api(page, "GET", "/api/me/passkeys")["body"]) == 1

    page.get_by_label("Avaimen nimi").fill("Tabletti")
    page.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(page.locator(".notice--ok")).to_have_text("Kirjautumisavain Tabletti lisättiin.")
    expect(rows).to_have_count(2)
    names = [p["name"] for p in in_page_api(page, "GET", "/api/me/passkeys")["body"]]
    assert "Tabletti" in names and len(names) == 2
    screenshot(page, "51-client-passkeys")
    check_screen(page, "passkeys, two")

    # Removing takes two steps, and "keep" takes it back.
    tablet = page.locator("[data-passkey]", has_text="Tabletti")
    tablet.get_by_role("button", name="Poista Tabletti").click()
    page.get_by_role("button", name="Älä poista").click()
    expect(tablet.get_by_role("button", name="Poista Tabletti")).to_be_focused()
    tablet.get_by_role("button", name="Poista Tabletti").click()
    page.get_by_role("button", name="Vahvista: poista Tabletti").click()
    expect(page.locator(".notice--ok")).to_contain_text("Tabletti poistettiin")
    expect(rows).to_have_count(1)
    assert [p["name"] for p in in_page_api(page, "GET", "/api/me/passkeys")["body"]] != ["Tabletti"]
    assert len(in_page_api(page, "GET", "/api/me/passkeys")["body"]) == 1


def test_notification_settings(client_page: tuple[BrowserContext, Page]) -> None:
    _, page = client_page
    page.goto("/#/settings")
    page.get_by_role("link", name="Valitse, mistä saat ilmoituksen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ilmoitusasetukset")
    # Push is asked only from this button; nothing asks on opening the page.
    expect(page.get_by_role("button", name="Ota ilmoitukset käyttöön")).to_be_visible()
    funded = page.get_by_label("Kuukauden raha tuli")
    expect(funded).not_to_be_checked()
    # Amounts stay off the lock screen until she chooses otherwise (issue 19), and the switch
    # says so in plain words.
    hide = page.get_by_label("Piilota summat lukitusnäytön ilmoituksista")
    expect(hide).to_be_checked()
    expect(page.locator("label[for=hide-amounts]")).to_contain_text(
        "ei summaa eikä saldoa, joten muut eivät näe niitä puhelimesi näytöltä"
    )
    assert in_page_api(page, "GET", "/api/notifications/preferences")["body"]["hide_amounts"]
    expect(page.get_by_label("Maksu odottaa hyväksyntää")).to_be_checked()
    screenshot(page, "52-client-notifications")
    check_screen(page, "notification settings")

    before = in_page_api(page, "GET", "/api/notifications/preferences")["body"]
    page.get_by_label("Ilmoita, kun saldo on alle").fill("paljon")
    page.get_by_role("button", name="Tallenna ilmoitusasetukset").click()
    expect(page.locator(".error-summary")).to_be_focused()
    expect(page.locator(".error-summary a")).to_have_text(
        "Kirjoita summa euroina, esimerkiksi 50,00, tai jätä tyhjäksi"
    )
    assert_accessible(page, "notification settings with an error")
    assert in_page_api(page, "GET", "/api/notifications/preferences")["body"] == before

    funded.check()
    hide.uncheck()
    page.get_by_label("Ilmoita, kun saldo on alle").fill("50,00")
    page.get_by_label("Svenska").check()
    page.get_by_role("button", name="Tallenna ilmoitusasetukset").click()
    expect(page.locator(".notice--ok")).to_have_text("Ilmoitusasetukset tallennettiin.")
    after = in_page_api(page, "GET", "/api/notifications/preferences")["body"]
    assert after["types"]["envelope.funded"] is True
    assert after["hide_amounts"] is False
    assert after["low_balance_cents"] == 5000
    assert after["language"] == "sv"
    # The app's own language did not change with the notifications' language.
    expect(page.locator("html")).to_have_attribute("lang", "fi")


def test_trusted_providers_add_change_remove(
    client_page: tuple[BrowserContext, Page], server: Seeded, world: World
) -> None:
    _, page = client_page
    base = f"/api/wallets/{world.wallet_id}/trusted-providers"
    page.goto("/#/wallet")
    page.get_by_role("link", name="Luotetut palveluyritykset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Luotetut palveluyritykset")
    expect(page.locator("main")).to_contain_text("Et luota vielä yhteenkään")
    check_screen(page, "trusted providers, none")

    # Nothing chosen, no cap: both errors, nothing written.
    page.get_by_role("button", name="Lisää luotetuksi").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary.locator("a")).to_have_text(
        ["Valitse palveluyritys", "Kirjoita enimmäissumma euroina, esimerkiksi 60,00"]
    )
    assert_accessible(page, "trusted providers, errors")
    assert in_page_api(page, "GET", base)["body"] == []

    page.get_by_label("Palveluyritys").select_option(label="Kotipalvelu Aalto Oy")
    page.get_by_label("Enintään yhdellä kertaa").fill("60")
    page.get_by_role("button", name="Lisää luotetuksi").click()
    expect(page.locator(".notice--ok")).to_have_text("Kotipalvelu Aalto Oy on nyt luotettu.")
    card = page.locator(f"[data-provider='{world.cheap_provider}']")
    expect(card).to_contain_text("60,00\u00a0€")
    expect(card).to_contain_text("Ei rajaa")
    screenshot(page, "53-client-trusted")
    check_screen(page, "trusted providers, one")

    card.get_by_role("button", name="Muuta rajoja: Kotipalvelu Aalto Oy").click()
    expect(card.get_by_label("Enintään yhdellä kertaa")).to_be_focused()
    card.get_by_label("Enintään yhdellä kertaa").fill("80,50")
    card.get_by_label("Enintään kuukaudessa (voit jättää tyhjäksi)").fill("300")
    assert_accessible(page, "trusted providers, changing")
    card.get_by_role("button", name="Tallenna rajat").click()
    expect(page.locator(".notice--ok")).to_have_text("Rajat tallennettiin: Kotipalvelu Aalto Oy.")
    (row,) = in_page_api(page, "GET", base)["body"]
    assert (row["per_charge_cap_cents"], row["monthly_cap_cents"]) == (8050, 30000)

    card = page.locator(f"[data-provider='{world.cheap_provider}']")
    card.get_by_role("button", name="Lopeta luottaminen: Kotipalvelu Aalto Oy").click()
    page.get_by_role("button", name="Vahvista: lopeta luottaminen Kotipalvelu Aalto Oy").click()
    expect(page.locator(".notice--ok")).to_contain_text("Et enää luota")
    assert in_page_api(page, "GET", base)["body"] == []


def test_directory_sorted_by_price_and_filtered(client_page: tuple[BrowserContext, Page]) -> None:
    _, page = client_page
    page.goto("/#/wallet")
    page.locator("#nav").get_by_role("link", name="Palveluyritykset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Palveluyritykset ja hinnat")
    cleaning = page.locator("[data-category=siivous] li")
    expect(cleaning).to_have_count(3)
    prices = [
        int(re.sub(r"\D", "", text.split("€")[0]))
        for text in cleaning.locator(".price").all_inner_texts()
    ]
    assert prices == sorted(prices) == [3200, 3500, 3900]
    expect(cleaning.first).to_contain_text("Kotipalvelu Aalto Oy")
    expect(cleaning.first).to_contain_text("32,00\u00a0€ / tunti")
    screenshot(page, "54-client-directory")
    check_screen(page, "directory, all")

    page.get_by_label("Kunta").select_option("Kuhmo")
    page.get_by_role("button", name="Näytä").click()
    expect(page.locator("#dir-count")).to_have_text("1 hinta")
    expect(page.locator("[data-category=siivous] li")).to_have_text(re.compile("Hoiva Lehtonen Oy"))

    page.get_by_label("Kunta").select_option("")
    page.get_by_label("Palvelun kieli").select_option("sv")
    page.get_by_label("Palvelu", exact=True).select_option("siivous")
    page.get_by_role("button", name="Näytä").click()
    expect(page.locator("#dir-count")).to_have_text("1 hinta")
    expect(page.locator("[data-category=siivous] li")).to_contain_text("Kotipalvelu Aalto Oy")
    expect(page.locator("[data-category=kotiapu]")).to_have_count(0)
    assert_accessible(page, "directory, filtered")

    page.get_by_label("Kunta").select_option("Kuhmo")
    page.get_by_role("button", name="Näytä").click()
    expect(page.locator("#dir-count")).to_have_text(
        "Ei palveluyrityksiä näillä valinnoilla. Valitse toinen palvelu, kunta tai kieli."
    )
    assert_accessible(page, "directory, nothing found")


def test_carers_invite_change_and_end(
    client_page: tuple[BrowserContext, Page], world: World
) -> None:
    _, page = client_page
    base = f"/api/clients/{world.client_id}/mandates"
    page.goto("/#/wallet")
    page.get_by_role("link", name="Omaiset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Omaiset")
    expect(page.locator("main")).to_contain_text(NO_CARERS)
    check_screen(page, "carers, none")

    # No name and nothing allowed: two errors, nothing written.
    page.get_by_label("nähdä budjetin ja tapahtumat").uncheck()
    page.get_by_label("hyväksyä maksuja").uncheck()
    page.get_by_role("button", name="Luo kutsu").click()
    expect(page.locator(".error-summary a")).to_have_text(
        ["Kirjoita omaisen nimi", "Valitse ainakin yksi"]
    )
    assert_accessible(page, "carers, invite errors")
    assert in_page_api(page, "GET", base)["body"] == []

    page.get_by_label("Omaisen nimi").fill("Kaisa Korhonen")
    page.get_by_label("nähdä budjetin ja tapahtumat").check()
    page.get_by_role("button", name="Luo kutsu").click()
    invite = page.locator(".invite")
    expect(invite.get_by_role("heading")).to_have_text("Kutsu: Kaisa Korhonen")
    expect(invite.locator(".total")).to_have_text(re.compile(r"\S{8,}"))
    assert_accessible(page, "carers, invite made")
    screenshot(page, "55-client-carer-invite")
    (m,) = in_page_api(page, "GET", base)["body"]
    assert m["carer_name"] == "Kaisa Korhonen" and m["scopes"] == ["view"]
    # The list above shows her at once, and the code stays on screen.
    expect(page.locator("main")).not_to_contain_text(NO_CARERS)
    expect(page.locator(f"[data-carer='{m['carer_id']}']")).to_be_visible()
    expect(invite.locator(".total")).to_be_visible()

    page.reload()
    card = page.locator(f"[data-carer='{m['carer_id']}']")
    expect(card.get_by_role("heading")).to_have_text("Kaisa Korhonen")
    card.get_by_label("hyväksyä maksuja").check()
    card.get_by_role("button", name="Tallenna lupa").click()
    expect(page.locator(".notice--ok")).to_have_text("Lupa tallennettiin: Kaisa Korhonen.")
    (m,) = in_page_api(page, "GET", base)["body"]
    assert sorted(m["scopes"]) == ["approve", "view"]
    screenshot(page, "56-client-carers")
    check_screen(page, "carers, one")

    card = page.locator(f"[data-carer='{m['carer_id']}']")
    card.get_by_role("button", name="Lopeta lupa: Kaisa Korhonen").click()
    page.get_by_role("button", name="Vahvista: lopeta omaisen Kaisa Korhonen lupa").click()
    expect(page.locator(".notice--ok")).to_contain_text("Lupa päättyi")
    (m,) = in_page_api(page, "GET", base)["body"]
    assert m["active"] is False
    expect(page.get_by_role("heading", name="Päättyneet luvat")).to_be_visible()


def test_who_looked_at_my_data(
    client_page: tuple[BrowserContext, Page], server: Seeded, world: World
) -> None:
    _, page = client_page
    # The case manager opens Sanni's balances: that is what she should be able to see.
    call_api(server.url, server.case_manager_key, "GET", f"/api/wallets/{world.wallet_id}")
    page.goto("/#/wallet")
    page.get_by_role("link", name="Kuka on katsonut tietoja").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kuka on katsonut tietoja")
    first = page.locator("#views-list li").first
    expect(first).to_contain_text("Liisa Ohjaaja")
    expect(first).to_contain_text("Katsoi saldot")
    # Her own looks are not in the list.
    expect(page.locator("#views-list")).not_to_contain_text("Sanni")
    screenshot(page, "57-client-who-looked")
    check_screen(page, "who looked")


def test_monthly_statements_open_as_a_page_and_a_csv(
    client_page: tuple[BrowserContext, Page], world: World
) -> None:
    _, page = client_page
    page.goto("/#/wallet")
    page.get_by_role("link", name="Kuukausiotteet").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kuukausiotteet")
    first = page.locator("#statements-list li").first
    expect(first).to_contain_text("Kuukausi on kesken")
    check_screen(page, "statements")
    # The links work with the passkey session: the printable page in Finnish, and the CSV.
    html_link = first.get_by_role("link", name=re.compile("Avaa tulostettava ote"))
    page_response = page.request.get(html_link.get_attribute("href") or "")
    assert page_response.status == 200
    assert page_response.headers["content-type"].startswith("text/html")
    assert '<html lang="fi"' in page_response.text() and "Alkusaldo" in page_response.text()
    csv_link = first.get_by_role("link", name=re.compile("Lataa CSV"))
    csv_response = page.request.get(csv_link.get_attribute("href") or "")
    assert csv_response.status == 200
    assert csv_response.body().startswith(b"\xef\xbb\xbfperiod,")  # UTF-8 BOM, then the header
    screenshot(page, "59-client-statements")


def test_download_my_data(
    client_page: tuple[BrowserContext, Page], server: Seeded, world: World
) -> None:
    """The right of access: from her settings Sanni downloads everything held about her, as a
    file and as a page to print; the case manager's download shows in who looked."""
    context, page = client_page
    page.goto("/#/settings")
    section = page.get_by_role("region", name="Omat tietosi")
    expect(section).to_contain_text("Voit ladata kaikki tiedot, jotka palvelu on sinusta")
    check_screen(page, "settings with my data")
    with page.expect_download() as download:
        section.get_by_role("link", name="Lataa omat tietoni").click()
    assert re.fullmatch(r"my-data-\d{4}-\d\d-\d\d\.json", download.value.suggested_filename)
    data = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert data["person"]["first_name"] == "Sanni" and data["person"]["last_name"] == "Kärkkäinen"
    assert data["wallet"]["id"] == world.wallet_id
    assert [c["provider"] for c in data["charges"]] == ["Siivouspalvelu Kuura Oy"]
    assert "Veikko" not in json.dumps(data, ensure_ascii=False)
    printable_link = section.get_by_role("link", name="Avaa tietoni tulostettavana sivuna")
    # In the app's language, whatever the browser's.
    expect(printable_link).to_have_attribute("href", "/api/me/export?format=html&lang=fi")
    with context.expect_page() as opened:
        printable_link.click()
    printable = opened.value
    expect(printable.get_by_role("heading", level=1)).to_have_text("Kaikki tietosi")
    expect(printable.locator("header")).to_contain_text("Sanni Kärkkäinen")
    expect(printable.get_by_role("heading", name="Maksut")).to_be_visible()
    assert_accessible(printable, "my data, printable")
    printable.close()
    # The case manager downloads it for her: she sees that under who looked at her data.
    call_api(server.url, server.case_manager_key, "GET", f"/api/clients/{world.client_id}/export")
    page.goto("/#/views")
    first = page.locator("#views-list li").first
    expect(first).to_contain_text("Liisa Ohjaaja")
    expect(first).to_contain_text("Latasi kaikki tietosi")


def test_client_screens_in_swedish_and_english(client_page: tuple[BrowserContext, Page]) -> None:
    _, page = client_page
    for lang, label, title in (
        ("sv", "Svenska", "Betrodda tjänsteföretag"),
        ("en", "English", "Trusted providers"),
        ("fi", "Suomi", "Luotetut palveluyritykset"),
    ):
        page.goto("/#/settings")
        page.locator("fieldset").first.get_by_label(label).check()
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.goto("/#/trusted")
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        if lang != "fi":
            assert_accessible(page, f"trusted providers in {lang}")


# --- the carer ----------------------------------------------------------------------------------


def test_carer_switches_between_clients(page: Page, server: Seeded, world: World) -> None:
    sign_in_with_key(page, server.carer_key)
    page.locator("#nav").get_by_role("link", name="Asiakkaani").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Asiakkaani")
    people = page.locator("[data-client]")
    expect(people).to_have_count(2)
    aino = page.locator("[data-client]", has_text="Aino Virtanen")
    veikko = page.locator(f"[data-client='{world.second_client_id}']")
    expect(aino).to_contain_text("nähdä budjetin ja tapahtumat, hyväksyä maksuja")
    expect(veikko).to_contain_text("valita luotetut palveluyritykset")
    screenshot(page, "58-carer-clients")
    check_screen(page, "carer's clients")

    # A provider Veikko does not trust asks for a payment by his phone number: the carer sees
    # the request, but without approve in the mandate there is nothing to press.
    call_api(
        server.url,
        server.provider_key,
        "POST",
        "/api/checkout/phone",
        {
            "phone": "050 555 9911",
            "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    veikko.get_by_role("button", name="Valitse Veikko Heikkinen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Budjetti: Veikko Heikkinen")
    request = page.locator(".request")
    expect(request).to_contain_text("Sinulla ei ole lupaa hyväksyä maksuja")
    expect(request.get_by_role("button")).to_have_count(0)
    expect(page.locator("[data-envelope] dl.facts").first).to_contain_text("120,00\u00a0€")
    # A carer's links: no carers screen (the client's own), the rest as the mandate allows.
    links = page.locator("section[aria-labelledby=more-title] a")
    expect(links).to_have_text(
        [
            "Luotetut palveluyritykset",
            "Palveluyritykset ja hinnat",
            "Kuukausiotteet",
            "Kuka on katsonut tietoja",
        ]
    )
    check_screen(page, "carer, Veikko's wallet")

    # Veikko's mandate lets the carer choose trusted providers.
    links.first.click()
    expect(page.locator(".subject")).to_contain_text("Asiakas: Veikko Heikkinen.")
    expect(page.get_by_role("button", name="Lisää luotetuksi")).to_be_visible()
    assert_accessible(page, "carer, Veikko's trusted providers")

    # Switch to Aino: the same screen, but her mandate allows only looking.
    page.locator(".subject").get_by_role("link", name="Vaihda asiakasta").click()
    page.get_by_role("button", name="Valitse Aino Virtanen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Budjetti: Aino Virtanen")
    page.get_by_role("link", name="Luotetut palveluyritykset").click()
    expect(page.locator(".subject")).to_contain_text("Asiakas: Aino Virtanen.")
    expect(page.get_by_role("button", name="Lisää luotetuksi")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("Sinulla on lupa vain katsoa.")
    check_screen(page, "carer, Aino's trusted providers (view only)")

    page.goto("/#/views")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kuka on katsonut tietoja")
    expect(page.locator(".subject")).to_contain_text("Aino Virtanen")
    assert_accessible(page, "carer, who looked at Aino's data")

    # The carers screen is the client's own; the server agrees.
    page.goto("/#/carers")
    expect(page.locator("main")).to_contain_text("Vain asiakas itse voi muuttaa omaisten lupia.")
    with pytest.raises(urllib.error.HTTPError) as refused:
        call_api(
            server.url, server.carer_key, "GET", f"/api/clients/{world.second_client_id}/mandates"
        )
    assert refused.value.code == 403


def test_screens_that_need_the_server_say_so_offline(
    client_page: tuple[BrowserContext, Page],
) -> None:
    context, page = client_page
    page.goto("/#/wallet")
    expect(page.locator("[data-envelope]").first).to_be_visible()
    context.set_offline(True)
    try:
        page.evaluate("() => { location.hash = '#/trusted'; }")
        expect(page.get_by_role("heading", level=1)).to_have_text("Ei verkkoyhteyttä")
        expect(page.locator("#status")).to_contain_text("Maksukoodi toimii vasta, kun yhteys palaa")
        assert_accessible(page, "trusted providers, offline")
    finally:
        context.set_offline(False)
    # Back online, the same screen loads by itself.
    expect(page.get_by_role("heading", level=1)).to_have_text("Luotetut palveluyritykset")


def test_notification_screen_guides_iphone_users_first(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    context = browser.new_context(**{**browser_context_args, "user_agent": IPHONE_UA})
    page = context.new_page()
    sign_in_with_key(page, server.client_key)
    page.goto("/#/notifications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ilmoitusasetukset")
    guide = page.locator("#ios-guide")
    expect(guide.get_by_role("heading")).to_have_text(
        "iPhonessa: lisää sovellus ensin Koti-valikkoon"
    )
    expect(guide.get_by_role("listitem")).to_have_count(4)
    # The rules can be set before push is on (the guide does not hide them).
    expect(page.get_by_role("button", name="Tallenna ilmoitusasetukset")).to_be_visible()
    assert_accessible(page, "notification settings on an iPhone")
    context.close()
