"""Small screens, large text, and the weight of the first load."""

from __future__ import annotations

import gzip
import json
import urllib.request
import uuid
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import add_style, assert_accessible, screenshot, sign_in_with_key
from tests.e2e.server import Seeded

BUDGET_BYTES = 150 * 1024


def no_horizontal_scroll(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > document.documentElement.clientWidth + 0.5).map(e => e.tagName + '.' + e.className"
        " + ' ' + (e.textContent || '').slice(0, 30))"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px: {wide}"


def test_320px_wide_and_200_percent_text(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    context = browser.new_context(
        **{**browser_context_args, "viewport": {"width": 320, "height": 640}}
    )
    page = context.new_page()
    sign_in_with_key(page, server.client_key)
    expect(page.locator(".envelope__balance").first).to_contain_text("€")
    # 200% of the user's text size: the root size is a percentage, so everything in rem doubles.
    add_style(page, "html { font-size: 225% !important; }")
    no_horizontal_scroll(page)
    assert_accessible(page, "wallet at 320px and 200% text")
    screenshot(page, "13-client-320px-200-percent")
    page.get_by_role("link", name="Asetukset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Asetukset")
    no_horizontal_scroll(page)
    context.close()


# Every role's main pages (its menu, plus the pages its menu leads to first).
MAIN_PAGES = {
    "client_key": ["#/wallet", "#/providers", "#/settings", "#/passkeys", "#/notifications",
                   "#/trusted", "#/carers", "#/views", "#/statements"],
    "carer_key": ["#/supported", "#/wallet", "#/settings"],
    "provider_key": ["#/charge", "#/visits", "#/charges", "#/prices", "#/settlements",
                     "#/settings"],
    "owner_key": ["#/team"],
    "case_manager_key": ["#/clients", "#/clients/new", "#/approvals", "#/approvals/approved",
                         "#/catalogue", "#/funding", "#/reports", "#/audit", "#/settings"],
    "admin_key": ["#/staff", "#/webhooks"],
}  # fmt: skip


def test_every_main_page_of_every_role_fits_320px_at_200_percent_text(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    """Nothing scrolls sideways on any role's main page at 320 px with 200 % text. Words
    hyphenate in the page's language (<html lang>, hyphens: auto) and break only when they do
    not fit (overflow-wrap: break-word); only flex boxes, headings and controls may break a
    word anywhere."""
    for role, hashes in MAIN_PAGES.items():
        context = browser.new_context(
            **{**browser_context_args, "viewport": {"width": 320, "height": 640}}
        )
        page = context.new_page()
        sign_in_with_key(page, getattr(server, role))
        add_style(page, "html { font-size: 225% !important; }")
        for target in hashes:
            page.goto(f"/{target}")
            expect(page.locator("main h1")).to_be_visible()
            expect(page.locator("main h1")).not_to_have_text("Ladataan…")
            page.wait_for_timeout(400)  # the page's own requests (lists, charts) settle
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= 320, f"{role} {target} is {wide}px wide at 200% text"
            no_horizontal_scroll(page)
        style = page.evaluate(
            "(() => { const s = getComputedStyle(document.body); return [document.documentElement"
            ".lang, s.hyphens || s.webkitHyphens, s.overflowWrap]; })()"
        )
        assert style == ["fi", "auto", "break-word"], f"{role}: {style}"
        context.close()


def _phone_checkout(server: Seeded, cents: int) -> dict[str, Any]:
    body = {
        "phone": server.client_phone,
        "lines": [{"category": "kotiapu", "quantity": "1", "unit_price_cents": cents}],
    }
    req = urllib.request.Request(
        f"{server.url}/api/checkout/phone",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {server.provider_key}",
            "Content-Type": "application/json",
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    with urllib.request.urlopen(req) as res:
        return dict(json.load(res))


def test_carer_approves_a_phone_request(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.carer_key)
    expect(page.get_by_role("heading", level=1)).to_have_text("Budjetti: Aino Virtanen")
    expect(page.locator(".envelope__balance").first).to_contain_text("€")
    assert_accessible(page, "carer wallet")
    result = _phone_checkout(server, 3800)
    assert result["outcome"] == "pending"
    # The request arrives live on the carer's open page.
    request = page.locator(".request")
    expect(request).to_contain_text("Siivouspalvelu Kuura Oy pyytää 38,00", timeout=10000)
    assert_accessible(page, "carer wallet with a request")
    screenshot(page, "15-carer-approve-request")
    request.get_by_role("button", name="Hyväksy").click()
    expect(page.locator("main").get_by_text("Maksu hyväksytty.")).to_be_visible()


def test_first_load_transfer_size(page: Page, server: Seeded) -> None:
    """Everything the sign-in screen and then the client's balances fetch at phone size,
    as sent and as gzip would send it. The goal is 150 KB compressed."""
    sizes: dict[str, tuple[int, int]] = {}

    def record(response: Any) -> None:
        try:
            body = response.body()
        except Exception:  # an SSE stream never ends; it is not part of the load
            return
        sizes[response.url] = (len(body), len(gzip.compress(body, 9)))

    page.on("response", record)
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kirjaudu sisään")
    page.wait_for_load_state("networkidle")
    first_raw = sum(raw for raw, _ in sizes.values())
    first_gz = sum(gz for _, gz in sizes.values())
    sign_in_with_key(page, server.client_key)
    expect(page.locator(".envelope__balance").first).to_contain_text("€")
    total_raw = sum(raw for raw, _ in sizes.values())
    total_gz = sum(gz for _, gz in sizes.values())
    report = "\n".join(
        f"{raw:>8} {gz:>8}  {url.replace(server.url, '')}"
        for url, (raw, gz) in sorted(sizes.items(), key=lambda kv: -kv[1][0])
    )
    print(
        f"\nfirst load (sign-in): {first_raw} B raw, {first_gz} B gzip\n"
        f"through to balances: {total_raw} B raw, {total_gz} B gzip\n{report}"
    )
    assert total_gz <= BUDGET_BYTES
