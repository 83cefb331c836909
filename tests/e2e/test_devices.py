"""Issue 15: "Your devices" (passkeys and the browsers where you are signed in), a lost phone's
recovery invite from the client file, and sign-in errors that say what to do next. Chromium's
virtual authenticator (CDP WebAuthn) stands in for the phones."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, expect

from payments.ledger.periods import current_period, first_day
from tests.e2e.helpers import assert_accessible, call_api, screenshot, sign_in_with_key
from tests.e2e.server import Seeded

PHONES = itertools.count(901)  # each test's client has a phone number of their own
IN_PAGE_FETCH = """async ([method, path]) => {
  const r = await fetch(path, {method, headers: {Accept: 'application/json'}});
  return {status: r.status, body: r.status === 204 ? null : await r.json()};
}"""


def authenticator(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """A platform authenticator for ``page``; returns the CDP session and its id."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, str(made["authenticatorId"])


def in_page_api(page: Page, method: str, path: str) -> Any:
    return page.evaluate(IN_PAGE_FETCH, [method, path])


def _new_client(server: Seeded, first: str, last: str, phone: str) -> dict[str, Any]:
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
                {"label": "Siivous", "monthly_amount_cents": 10_000, "categories": ["siivous"]}
            ],
        },
    )
    invite = call_api(server.url, cm, "POST", "/api/invites", {"client_id": made["client_id"]})
    return {**made, "code": invite["code"]}


@pytest.fixture
def phone(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> Iterator[tuple[BrowserContext, Page, CDPSession, str, dict[str, Any]]]:
    """A new client on their phone, signed in with the passkey made from their invite."""
    client = _new_client(server, "Kaisa", "Laitinen", f"044 {next(PHONES)} 6543")
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    cdp, auth_id = authenticator(context, page)
    page.goto(f"/join#{client['code']}")
    page.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
    yield context, page, cdp, auth_id, client
    context.close()


def test_devices_list_passkeys_and_sessions_add_and_end(
    phone: tuple[BrowserContext, Page, CDPSession, str, dict[str, Any]],
    browser: Browser,
    browser_context_args: dict[str, Any],
) -> None:
    _, page, cdp, auth_id, _ = phone
    page.goto("/#/settings")
    page.get_by_role("link", name="Laitteesi: kirjautumisavaimet ja kirjautumiset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Laitteesi")
    expect(page.locator("[data-passkey]")).to_have_count(1)
    sessions = page.locator("[data-session]")
    expect(sessions).to_have_count(1)
    expect(sessions.first).to_contain_text("Tämä laite")
    expect(sessions.first).to_contain_text("Avaimella Puhelin")
    # This browser's own session is ended by signing out, not from this list.
    expect(sessions.first.get_by_role("button")).to_have_count(0)
    assert_accessible(page, "devices, one of each")

    # A second passkey on the same phone: two are listed.
    page.get_by_label("Avaimen nimi").fill("Tabletti")
    page.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(page.locator(".notice--ok")).to_have_text("Kirjautumisavain Tabletti lisättiin.")
    expect(page.locator("[data-passkey]")).to_have_count(2)
    assert len(in_page_api(page, "GET", "/api/me/passkeys")["body"]) == 2

    # The same person signs in on a second browser (the tablet's passkey copied there).
    tablet_context = browser.new_context(**browser_context_args)
    tablet = tablet_context.new_page()
    tablet_cdp, tablet_auth = authenticator(tablet_context, tablet)
    for cred in cdp.send("WebAuthn.getCredentials", {"authenticatorId": auth_id})["credentials"]:
        tablet_cdp.send(
            "WebAuthn.addCredential", {"authenticatorId": tablet_auth, "credential": cred}
        )
    tablet.goto("/#/signin")
    tablet.get_by_role("button", name="Kirjaudu sisään", exact=True).click()
    expect(tablet.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
    assert in_page_api(tablet, "GET", "/api/me")["status"] == 200

    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Laitteesi")
    expect(sessions).to_have_count(2)
    other = page.locator("[data-session]", has_text="Toinen selain")
    expect(other).to_have_count(1)
    screenshot(page, "53-client-devices")
    assert_accessible(page, "devices, two sessions")

    # Ending the other one takes two steps; "keep" takes it back.
    end = other.get_by_role("button", name=re.compile("^Kirjaa ulos: Toinen selain"))
    end.click()
    page.get_by_role("button", name="Älä kirjaa ulos").click()
    expect(end).to_be_focused()
    end.click()
    expect(other).to_contain_text("Selain kirjataan ulos heti.")
    page.get_by_role("button", name="Vahvista: kirjaa ulos").click()
    expect(page.locator(".notice--ok")).to_contain_text("Selain on kirjattu ulos.")
    expect(sessions).to_have_count(1)
    expect(sessions.first).to_contain_text("Tämä laite")
    # The tablet is signed out; the phone is not.
    assert in_page_api(tablet, "GET", "/api/me")["status"] == 401
    assert in_page_api(page, "GET", "/api/me")["status"] == 200
    tablet_context.close()


def test_a_sign_in_with_no_passkey_on_this_device_says_what_to_do(
    browser: Browser, browser_context_args: dict[str, Any]
) -> None:
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    authenticator(context, page)  # an authenticator that holds no passkey
    page.goto("/#/signin")
    page.get_by_role("button", name="Kirjaudu sisään", exact=True).click()
    alert = page.get_by_role("alert").filter(has_text="kirjautumisavain")
    expect(alert).to_contain_text("Yritä uudelleen", timeout=90_000)
    expect(alert).to_contain_text("pyytää asiakasohjaajalta uuden kutsun")
    assert_accessible(page, "sign-in failed")
    context.close()


def test_a_used_invite_says_to_ask_for_a_new_one(
    phone: tuple[BrowserContext, Page, CDPSession, str, dict[str, Any]],
    browser: Browser,
    browser_context_args: dict[str, Any],
) -> None:
    *_, client = phone
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    page.goto(f"/join#{client['code']}")
    expect(page.locator("#code-error, .error-summary").first).to_contain_text(
        "Kutsu on jo käytetty. Pyydä uusi kutsu siltä, joka antoi sen."
    )
    context.close()


def test_recovery_invite_from_the_client_file_signs_the_old_phone_out(
    phone: tuple[BrowserContext, Page, CDPSession, str, dict[str, Any]],
    browser: Browser,
    browser_context_args: dict[str, Any],
    server: Seeded,
) -> None:
    _, old_phone, *_, client = phone
    assert in_page_api(old_phone, "GET", "/api/me")["status"] == 200

    context = browser.new_context(**browser_context_args)
    desk = context.new_page()
    sign_in_with_key(desk, server.case_manager_key)
    desk.goto(f"/#/clients/{client['client_id']}")
    expect(desk.get_by_role("heading", level=1)).to_have_text("Kaisa Laitinen")
    section = desk.locator("section[aria-labelledby=recovery-title]")
    start = section.get_by_role(
        "button", name="Kadonnut puhelin? Tee palautuskutsu: Kaisa Laitinen"
    )
    start.click()
    expect(section).to_contain_text("kirjataan ulos kaikkialta heti")
    section.get_by_role("button", name="Peruuta").click()
    expect(start).to_be_focused()
    assert in_page_api(old_phone, "GET", "/api/me")["status"] == 200  # nothing happened yet
    start.click()
    section.get_by_role("button", name="Kyllä, tee palautuskutsu: Kaisa Laitinen").click()
    card = section.locator(".invite")
    expect(card.get_by_role("heading")).to_have_text("Kutsu: Kaisa Laitinen")
    expect(card.locator("img")).to_be_visible()
    code = card.locator(".total").inner_text().split(":")[-1].strip()
    assert len(code) >= 10
    assert_accessible(desk, "recovery invite issued")
    screenshot(desk, "54-cm-recovery-invite")

    # The lost phone's session ended at once; the new phone joins with the new code.
    assert in_page_api(old_phone, "GET", "/api/me")["status"] == 401
    new_context = browser.new_context(**browser_context_args)
    new_phone = new_context.new_page()
    authenticator(new_context, new_phone)
    new_phone.goto(f"/join#{code}")
    new_phone.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(new_phone.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
    assert len(in_page_api(new_phone, "GET", "/api/me/passkeys")["body"]) == 1
    assert len(in_page_api(new_phone, "GET", "/api/me/sessions")["body"]) == 1
    new_context.close()
    context.close()
