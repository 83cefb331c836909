"""SMS in the client file (issue 20) in the browser: a case manager turns texts on for the
client's number, the fake 46elks gateway on loopback receives the confirmation code, a wrong
code is refused in the form, the right one confirms the number, and texts can be stopped. Each
state is scanned by axe-core. Without a gateway the section says so, with no form.

The suite's shared server has no SMS gateway, so the main test runs a server of its own."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from notifications.sms_gateway import FakeGateway
from tests.e2e.helpers import assert_accessible, sign_in_with_key
from tests.e2e.server import serve


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeGateway]:
    """The fake gateway on its own event loop in a thread (Playwright's owns this one)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    fake = asyncio.run_coroutine_threadsafe(FakeGateway().start(), loop).result(10)
    yield fake
    asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture(scope="module")
def sms_server(
    tmp_path_factory: pytest.TempPathFactory, chromium: str, gateway: FakeGateway
) -> Iterator[tuple[str, dict[str, Any]]]:
    directory: Path = tmp_path_factory.mktemp("sms")
    with serve(
        directory,
        WALLET_DEV_API_KEY_FORM="1",
        WALLET_OUTBOUND_ALLOW_LOOPBACK="1",
        WALLET_SMS_GATEWAY_URL=gateway.base_url,
        WALLET_SMS_GATEWAY_TOKEN=gateway.token,
        WALLET_SMS_INBOUND_SECRET="e2e-inbound-secret",
    ) as served:
        yield served


@pytest.fixture
def cm_page(browser: Browser, sms_server: tuple[str, dict[str, Any]]) -> Iterator[Page]:
    url, _seeded = sms_server
    context = browser.new_context(
        base_url=url,
        viewport={"width": 1280, "height": 900},
        locale="fi-FI",
        timezone_id="Europe/Helsinki",
    )
    yield context.new_page()
    context.close()


def wait_for_text(gateway: FakeGateway, count: int) -> str:
    for _ in range(100):
        if len(gateway.sent) >= count:
            return gateway.sent[count - 1].message
        time.sleep(0.1)
    raise AssertionError(f"the gateway got {len(gateway.sent)} of {count} texts")


def test_a_case_manager_turns_texts_on_and_confirms_the_number(
    cm_page: Page, sms_server: tuple[str, dict[str, Any]], gateway: FakeGateway
) -> None:
    page = cm_page
    _url, seeded = sms_server
    sign_in_with_key(page, seeded["case_manager_key"])
    page.goto("/#/clients")
    page.get_by_role("link", name="Virtanen Aino").click()
    section = page.locator("#sms")
    expect(section.get_by_role("heading", level=2)).to_have_text("Tekstiviestit")
    expect(section).to_contain_text("Tekstiviestit eivät ole käytössä.")
    # The client's number and language are filled in; receipts, requests and low balance on.
    expect(section.get_by_label("Puhelinnumero")).to_have_value("+358 40 123 4567")
    expect(
        section.get_by_role("checkbox", name="Maksupyyntö (hyväksy vastaamalla)")
    ).to_be_checked()
    expect(section.get_by_role("checkbox", name="Kuukausiote valmis")).not_to_be_checked()
    assert_accessible(page, "SMS section, nothing on")

    section.get_by_role("checkbox", name="Kuukausiote valmis").check()
    section.get_by_role("button", name="Lähetä vahvistuskoodi").click()
    expect(section.get_by_role("status")).to_have_text(
        "Vahvistuskoodi lähetetty numeroon +358 40 123 4567."
    )
    row = section.locator("[data-optin]")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Odottaa koodia")
    expect(row).to_contain_text("Kuukausiote valmis")
    expect(section.get_by_label("Vahvistuskoodi")).to_be_focused()
    text = wait_for_text(gateway, 1)
    assert gateway.sent[0].to == "+358401234567"
    code = re.search(r"Vahvistuskoodi: (\d{6})\.", text)
    assert code, text
    assert_accessible(page, "SMS number waiting for its code")

    # A wrong code is refused in the form; the number stays unconfirmed.
    wrong = "000000" if code.group(1) != "000000" else "111111"
    section.get_by_label("Vahvistuskoodi").fill(wrong)
    section.get_by_role("button", name="Vahvista numero").click()
    expect(section.locator(".error-summary")).to_contain_text(
        "Vahvistuskoodi ei täsmää tai ei ole enää voimassa"
    )
    expect(row).to_contain_text("Odottaa koodia")
    assert_accessible(page, "SMS code refused")

    section.get_by_label("Vahvistuskoodi").fill(code.group(1))
    section.get_by_role("button", name="Vahvista numero").click()
    expect(section.get_by_role("status")).to_have_text(
        "Numero +358 40 123 4567 on vahvistettu. Viestit ovat käytössä."
    )
    expect(row).to_contain_text("Käytössä")
    expect(section.get_by_label("Vahvistuskoodi")).to_have_count(0)

    # It holds after a reload; then the case manager stops the texts.
    page.reload()
    row = page.locator("#sms [data-optin]")
    expect(row).to_contain_text("Käytössä")
    expect(row).to_contain_text("Aino Virtanen · Suomi")
    row.get_by_role("button", name="Lopeta viestit numeroon +358 40 123 4567").click()
    expect(page.locator("#sms [data-optin]")).to_have_count(0)
    expect(page.locator("#sms [role=status]")).to_have_text(
        "Viestit numeroon +358 40 123 4567 lopetettu."
    )
    assert len(gateway.sent) == 1  # only the code: nothing else before confirmation

    # The audit log says each step in a sentence; the filter finds them.
    page.goto("/#/audit")
    page.get_by_label("Tapahtuma").select_option(label="Tekstiviestit")
    page.get_by_role("button", name="Näytä", exact=True).click()
    entries = page.locator("ul.audit li")
    expect(entries).to_have_count(4)
    expect(entries.nth(0)).to_contain_text("lopetti tekstiviestit asiakkaalle Aino Virtanen.")
    expect(entries.nth(1)).to_contain_text("vahvisti asiakkaan Aino Virtanen tekstiviestinumeron.")
    expect(entries.nth(2)).to_contain_text("antoi väärän tekstiviestin vahvistuskoodin")
    expect(entries.nth(3)).to_contain_text("otti tekstiviestit käyttöön asiakkaalle Aino Virtanen.")


def test_without_a_gateway_the_section_says_so(page: Page, server: Any) -> None:
    sign_in_with_key(page, server.case_manager_key)
    page.goto("/#/clients")
    page.get_by_role("link", name="Virtanen Aino").click()
    section = page.locator("#sms")
    expect(section).to_contain_text(
        "Tekstiviestipalvelua ei ole otettu käyttöön tällä palvelimella."
    )
    expect(section.locator("#sms-form")).to_have_count(0)
