"""Passkeys through Chromium's virtual authenticator (CDP WebAuthn): a case manager's invite
becomes the client's passkey; the client signs out and signs in again with it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.helpers import assert_accessible, screenshot, sign_in_with_key
from tests.e2e.server import Seeded


def virtual_authenticator(context: BrowserContext, page: Page) -> None:
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
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


def test_invite_to_passkey_to_balance(
    page: Page, server: Seeded, browser: Browser, browser_context_args: dict[str, Any]
) -> None:
    # The case manager creates a client and a decision, and prints an invite.
    sign_in_with_key(page, server.case_manager_key)
    # The case manager's home is the client list; a new client is one link away.
    page.get_by_role("link", name="Uusi asiakas").click()
    page.get_by_label("Etunimi").fill("Helmi")
    page.get_by_label("Sukunimi").fill("Nieminen")
    page.get_by_label("Puhelinnumero").fill("050 555 1234")
    page.get_by_role("button", name="Luo asiakas").click()
    page.get_by_label("Budjetin nimi").fill("Siivous")
    page.get_by_label("Summa kuukaudessa").fill("80,50")
    page.get_by_label("Siivous").check()
    page.get_by_role("button", name="Tee päätös").click()
    page.get_by_role("button", name="Luo kutsu asiakkaalle").click()
    code = page.locator(".invite .total").inner_text().split(":")[-1].strip()
    assert len(code) >= 8

    # The client opens the invite link on their own phone and makes a passkey.
    context = browser.new_context(**browser_context_args)
    client = context.new_page()
    virtual_authenticator(context, client)
    client.goto(f"/join#{code}")
    expect(client.get_by_role("heading", name="Kutsu: Helmi Nieminen")).to_be_visible()
    assert_accessible(client, "invite found")
    screenshot(client, "12-client-join")
    client.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(client.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
    expect(client.locator(".envelope__balance").first).to_contain_text("€")
    expect(client.locator(".envelope__label").first).to_have_text("Siivous")

    # Sign out, and back in with the passkey alone.
    client.get_by_role("link", name="Asetukset").click()
    client.get_by_role("button", name="Kirjaudu ulos").click()
    expect(client.get_by_role("heading", level=1)).to_have_text("Kirjaudu sisään")
    client.get_by_role("button", name="Kirjaudu sisään", exact=True).click()
    expect(client.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
    expect(client.locator(".envelope__label").first).to_have_text("Siivous")
    assert_accessible(client, "wallet after passkey sign-in")
    context.close()
