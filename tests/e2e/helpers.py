"""Steps the journeys share: sign in with the developer setting, scan with axe, screenshot."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def sign_in_with_key(page: Page, key: str) -> None:
    """Use the developer setting (an API key kept in this tab's sessionStorage)."""
    page.goto("/#/signin")
    page.locator("details summary").click()
    page.get_by_label("API-avain").fill(key)
    page.get_by_role("button", name="Käytä avainta").click()
    expect(page).not_to_have_url(re.compile(r"#/signin"))
    expect(page.locator("#nav a").first).not_to_have_text("Kirjaudu")
    expect(page.locator("main h1")).not_to_have_text("Kirjaudu sisään")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core (vendored) with the WCAG 2.1 A/AA tags on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated over the DevTools protocol: the app's CSP refuses an injected <script>.
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))",
        AXE_TAGS,
    )
    return list(result)


def assert_accessible(page: Page, state: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe violations on {state}:\n{json.dumps(violations, indent=1)}"


def screenshot(page: Page, name: str) -> None:
    """Refresh docs/screenshots only when asked (WALLET_SCREENSHOTS=1), so a test run never
    rewrites committed files."""
    if not os.environ.get("WALLET_SCREENSHOTS"):
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    # Chromium's full-page capture leaves stale hit-testing until the page scrolls again.
    page.evaluate("window.scrollTo(0, 0)")


def call_api(
    url: str,
    key: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """Call the running server as an API-key holder (set-up and checks outside the browser)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json", **(headers or {})}
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(f"{url}{path}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(req) as res:
        raw = res.read()
    return json.loads(raw) if raw else None


def add_style(page: Page, css: str) -> None:
    """Add a test's stylesheet (200% text, say) as a constructed stylesheet, which the app's
    CSP (style-src 'self') allows, unlike an injected <style>."""
    page.evaluate(
        "(css) => { const s = new CSSStyleSheet(); s.replaceSync(css);"
        " document.adoptedStyleSheets = [...document.adoptedStyleSheets, s]; }",
        css,
    )
