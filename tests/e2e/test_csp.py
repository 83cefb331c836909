"""The app under its Content-Security-Policy (issue 16, item 2; wallet_api/edge.py): every
screen in each role's menu loads with no CSP violation (no inline script or style attribute,
nothing from another origin). Violations are caught both as ``securitypolicyviolation``
events and as Chromium's console errors."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.helpers import sign_in_with_key
from tests.e2e.server import Seeded

RECORD = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation',"
    " (e) => window.__csp.push("
    "`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));"
)


@pytest.mark.parametrize(
    "role",
    ["client_key", "carer_key", "provider_key", "owner_key", "case_manager_key", "admin_key"],
)
def test_every_menu_screen_loads_without_csp_violations(
    context: BrowserContext, server: Seeded, role: str
) -> None:
    context.add_init_script(RECORD)
    page: Page = context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    response = page.goto("/")
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    sign_in_with_key(page, getattr(server, role))
    links = page.locator("#nav a")
    expect(links.first).to_be_visible()
    hrefs = [h for h in links.evaluate_all("(as) => as.map((a) => a.getAttribute('href'))") if h]
    assert hrefs
    violations: list[str] = []
    for href in dict.fromkeys(hrefs):
        page.goto(href)
        expect(page.locator("main h1").first).to_be_visible()
        page.wait_for_timeout(400)  # the screen's data arrives and renders
        violations += page.evaluate("window.__csp")
    assert violations == [], violations
    assert console == [], console
