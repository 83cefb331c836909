"""A client's mandate to an existing carer waits for the carer (issue 13, item 1), in the browser.

Tuula is already a carer (a case manager made her Oskari's). Ilona names her as her carer too:
Ilona's carers screen shows the mandate as waiting; Tuula's "My clients" shows who asks and
for what, and until she accepts, Ilona's wallet is not hers to see. Accepting makes the wallet
appear. Both sign in with real passkeys (Chromium's virtual authenticator); every state is
scanned by axe-core and walked with the keyboard. New people only, so the shared seeded world
stays as other journeys expect it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.helpers import call_api, screenshot
from tests.e2e.server import Seeded
from tests.e2e.test_client_screens import _client, check_screen, in_page_api
from tests.e2e.test_passkeys import virtual_authenticator

# A write through the page's own session and CSRF token, as the app's screens make them.
IN_PAGE_WRITE = """async ([method, path, body]) => {
  const { api } = await import('/js/api.js');
  return await api(path, body === null ? { method } : { method, body });
}"""


@dataclass
class People:
    ilona_client_id: str
    ilona_wallet_id: str
    ilona_code: str
    tuula_id: str
    tuula_code: str


@pytest.fixture(scope="module")
def people(server: Seeded) -> People:
    cm = server.case_manager_key
    oskari_id, _ = _client(server, "Oskari", "Lind", "050 555 6611", 10_000)
    tuula = call_api(
        server.url, cm, "POST", f"/api/clients/{oskari_id}/carers",
        {"display_name": "Tuula Rantanen", "scopes": ["view"]},
    )  # fmt: skip
    ilona_id, ilona_wallet = _client(server, "Ilona", "Saarinen", "050 555 6622", 20_000)
    ilona = call_api(server.url, cm, "POST", "/api/invites", {"client_id": ilona_id})
    return People(ilona_id, ilona_wallet, ilona["code"], tuula["principal_id"], tuula["code"])


def _joined(browser: Browser, args: dict[str, Any], code: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(**args)
    page = context.new_page()
    virtual_authenticator(context, page)
    page.goto(f"/join#{code}")
    page.get_by_role("button", name="Luo kirjautumisavain").click()
    # Clients and carers both start at the wallet screen ("Oma budjetti", "Budjetti: NAME").
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("budjetti", re.I))
    expect(page.locator("#nav a").first).not_to_have_text("Kirjaudu")
    return context, page


@pytest.fixture(scope="module")
def ilona(browser: Browser, browser_context_args: dict[str, Any], people: People) -> Iterator[Page]:
    context, page = _joined(browser, browser_context_args, people.ilona_code)
    yield page
    context.close()


@pytest.fixture(scope="module")
def tuula(browser: Browser, browser_context_args: dict[str, Any], people: People) -> Iterator[Page]:
    context, page = _joined(browser, browser_context_args, people.tuula_code)
    yield page
    context.close()


def test_mandate_to_an_existing_carer_waits_until_she_accepts(
    ilona: Page, tuula: Page, people: People
) -> None:
    # Ilona names Tuula (by her id, as the API allows): the answer says it waits.
    rows = ilona.evaluate(
        IN_PAGE_WRITE,
        ["PUT", f"/api/clients/{people.ilona_client_id}/mandates",
         {"carer_id": people.tuula_id, "scopes": ["view", "approve"]}],
    )  # fmt: skip
    assert [(m["carer_name"], m["status"]) for m in rows] == [("Tuula Rantanen", "pending")]

    # Ilona's carers screen shows the mandate as waiting for Tuula.
    ilona.goto("/#/carers")
    expect(ilona.get_by_role("heading", level=1)).to_have_text("Omaiset")
    expect(ilona.get_by_role("heading", name="Odottaa omaisen vastausta")).to_be_visible()
    waiting = ilona.locator(f"[data-waiting='{people.tuula_id}']")
    expect(waiting).to_contain_text("Tuula Rantanen ei ole vielä hyväksynyt lupaa.")
    expect(waiting).to_contain_text("nähdä budjetin ja tapahtumat, hyväksyä maksuja")
    expect(ilona.locator(f"[data-carer='{people.tuula_id}']")).to_have_count(0)
    screenshot(ilona, "56b-client-carer-waiting")
    check_screen(ilona, "carers, one waiting for acceptance")

    # Before she accepts, Ilona's wallet is not Tuula's to see: not in her list, not readable.
    tuula.goto("/#/supported")
    expect(tuula.get_by_role("heading", level=1)).to_have_text("Asiakkaani")
    request = tuula.locator(f"[data-pending='{people.ilona_client_id}']")
    expect(request.get_by_role("heading")).to_have_text("Ilona Saarinen")
    expect(request).to_contain_text("Ilona Saarinen pyytää, että hoidat hänen budjettiaan.")
    expect(request.get_by_role("listitem")).to_have_text(
        ["nähdä budjetin ja tapahtumat", "hyväksyä maksuja"]
    )
    expect(tuula.locator(f"[data-client='{people.ilona_client_id}']")).to_have_count(0)
    assert in_page_api(tuula, "GET", f"/api/wallets/{people.ilona_wallet_id}")["status"] == 403
    me = in_page_api(tuula, "GET", "/api/me")["body"]
    assert people.ilona_wallet_id not in me["wallets"]
    screenshot(tuula, "58b-carer-mandate-request")
    check_screen(tuula, "carer's clients with a request waiting")

    # She accepts: Ilona's wallet appears among her clients and opens.
    request.get_by_role("button", name="Hyväksy: Ilona Saarinen").click()
    expect(tuula.locator(".notice--ok")).to_contain_text("Hyväksyit luvan.")
    expect(tuula.locator(f"[data-pending='{people.ilona_client_id}']")).to_have_count(0)
    ilona_row = tuula.locator(f"[data-client='{people.ilona_client_id}']")
    expect(ilona_row).to_contain_text("nähdä budjetin ja tapahtumat, hyväksyä maksuja")
    check_screen(tuula, "carer's clients after accepting")
    ilona_row.get_by_role("button", name="Valitse Ilona Saarinen").click()
    expect(tuula.get_by_role("heading", level=1)).to_have_text("Budjetti: Ilona Saarinen")
    expect(tuula.locator("[data-envelope]").first).to_be_visible()
    assert in_page_api(tuula, "GET", f"/api/wallets/{people.ilona_wallet_id}")["status"] == 200

    # Ilona now sees Tuula as a carer in force, nothing waiting.
    ilona.reload()
    expect(ilona.locator(f"[data-carer='{people.tuula_id}']")).to_be_visible()
    expect(ilona.locator(f"[data-waiting='{people.tuula_id}']")).to_have_count(0)


def test_a_carer_declines_and_the_client_sees_it(ilona: Page, tuula: Page, people: People) -> None:
    # Ilona ends Tuula's mandate and names her again: a new request, which Tuula declines.
    ilona.evaluate(
        IN_PAGE_WRITE,
        ["DELETE", f"/api/clients/{people.ilona_client_id}/mandates?carer_id={people.tuula_id}",
         None],
    )  # fmt: skip
    ilona.evaluate(
        IN_PAGE_WRITE,
        ["PUT", f"/api/clients/{people.ilona_client_id}/mandates",
         {"carer_id": people.tuula_id, "scopes": ["view"]}],
    )  # fmt: skip
    tuula.goto("/#/supported")
    request = tuula.locator(f"[data-pending='{people.ilona_client_id}']")
    request.get_by_role("button", name="Kieltäydy: Ilona Saarinen").click()
    expect(tuula.locator(".notice--ok")).to_contain_text("Kieltäydyit.")
    expect(tuula.locator(f"[data-client='{people.ilona_client_id}']")).to_have_count(0)
    check_screen(tuula, "carer's clients after declining")
    assert in_page_api(tuula, "GET", f"/api/wallets/{people.ilona_wallet_id}")["status"] == 403

    ilona.reload()  # she is still on her carers screen
    expect(ilona.get_by_role("heading", name="Päättyneet luvat")).to_be_visible()
    expect(ilona.locator("main")).to_contain_text("Kieltäytyi")
    check_screen(ilona, "carers, a declined mandate")
