"""The early start (issue 22; pwa/README.md, "A fast start"): index.html asks for /api/me, the
language file and, from the person this device saw last, the first screen's data before the
app's modules have arrived; the app uses each answer instead of asking again, but only when
/api/me names that same person. Counted from the requests the browser sends."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

import pwa
from tests.e2e.helpers import sign_in_with_key
from tests.e2e.server import Seeded


def _asked(page: Page) -> list[str]:
    """The paths (and queries) of the requests the page sends from now on."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url.split("://", 1)[1].split("/", 1)[1]))
    return seen


def test_each_first_screen_asks_once_for_its_data(context: BrowserContext, server: Seeded) -> None:
    screens = (
        (
            server.client_key,
            "#/wallet",
            [
                f"api/wallets/{server.wallet_id}",
                f"api/wallets/{server.wallet_id}/transactions?limit=100",
                f"api/wallets/{server.wallet_id}/payment-requests",
            ],
            ".envelope__balance",
        ),
        (
            server.provider_key,
            "#/charge",
            ["api/providers/me", "api/categories", "api/providers/me/prices"],
            "form.charge",
        ),
        (server.case_manager_key, "#/clients", ["api/clients?limit=25"], "#client-results li"),
    )
    for key, home, data, content in screens:
        page = context.new_page()
        sign_in_with_key(page, key)
        page.goto(f"/{home}")
        expect(page.locator(content).first).to_be_visible()
        # Opened again, as a person opens the app: this device knows who was here last (at the
        # screen's address, and at the installed app's start address, which moves on to the
        # role's home). And on a device that has seen no one: from the address alone; the
        # balances, whose wallet id it does not know, in one answer without the id
        # (GET /api/me/wallet), whose parts stand in for the three addresses by id.
        for seen_before, address in ((True, home), (True, ""), (False, home)):
            if not seen_before:
                page.evaluate("localStorage.removeItem('wallet.me')")
            seen = _asked(page)
            if address == home:
                page.reload()  # the page is at its screen already
            else:
                page.goto(f"/{address}")
            expect(page).to_have_url(re.compile(re.escape(home) + "$"))
            expect(page.locator(content).first).to_be_visible()
            page.wait_for_timeout(300)
            early = page.evaluate("Object.keys(window.walletEarly.answers)")
            assert early == [], early  # each used, or dropped after the first screen
            mine = home == "#/wallet" and not seen_before
            # The language: first the first screens' texts, the whole file after the content;
            # the screen used no text the first file lacks (it would have shown a key).
            first_texts = f"i18n/fi.first.{home[2:]}.json"  # this screen's texts only
            texts = ["api/me", first_texts, "i18n/fi.json"]
            for path in [*texts, *(["api/me/wallet"] if mine else data)]:
                assert seen.count(path) == 1, (address, seen_before, path, " ".join(seen))
            assert seen.index(first_texts) < seen.index("i18n/fi.json"), seen
            # The language file, among the largest answers, is sent before /api/me and the
            # data (each of them small): all travel together, the largest first.
            first_data = "api/me/wallet" if mine else data[0]
            assert seen.index(first_texts) < seen.index("api/me"), seen
            assert seen.index("api/me") < seen.index(first_data), seen
            assert page.evaluate("[...window.walletMissedTexts]") == []
            if mine:
                assert not [p for p in data if p in seen], seen
                assert page.evaluate("window.walletEarly.mine") is None  # dropped once drawn
        page.close()


def test_a_different_person_signed_in_gets_no_early_answer(
    context: BrowserContext, server: Seeded
) -> None:
    """The device last saw the client; now the case manager is signed in and opens that
    client's wallet. The early start asked for it, but /api/me names someone else: the answer
    is dropped and the wallet asked for again as the case manager."""
    page = context.new_page()
    sign_in_with_key(page, server.case_manager_key)
    client = {"principal_id": "someone-else", "role": "client", "wallets": [server.wallet_id]}
    page.evaluate("(me) => localStorage.setItem('wallet.me', JSON.stringify(me))", client)
    page.goto(f"/#/wallet/{server.wallet_id}")
    expect(page.locator(".envelope__balance").first).to_be_visible()
    page.wait_for_timeout(300)
    seen = _asked(page)
    page.reload()
    expect(page.locator("main h1")).to_contain_text("Budjetti:")
    expect(page.locator(".envelope__balance").first).to_be_visible()
    page.wait_for_timeout(300)
    assert seen.count(f"api/wallets/{server.wallet_id}") == 2, seen
    stored = json.loads(page.evaluate("localStorage.getItem('wallet.me')"))
    assert stored["role"] == "case_manager"
    page.close()


SHIFTS = (
    # Every layout shift so far (none at all is 0: the observer is called only with entries).
    "new Promise((done) => { let sum = 0; new PerformanceObserver((list) => {"
    " for (const e of list.getEntries()) if (!e.hadRecentInput) sum += e.value; })"
    ".observe({ type: 'layout-shift', buffered: true }); setTimeout(() => done(sum), 200); })"
)


def test_the_first_page_does_not_move_with_its_menu(
    context: BrowserContext, server: Seeded
) -> None:
    """On a phone the provider's menu wraps onto rows of its own, filled in when /api/me has
    answered. Nothing on the screen moves with them: the page's "loading" text is hidden for
    its first second, and <main> has no height until the first page replaces it (app.css).
    Before, the menu pushed the form down (CLS 0.19 in B7), then its empty box (0.057)."""
    page = context.new_page()
    page.set_viewport_size({"width": 412, "height": 823})
    sign_in_with_key(page, server.provider_key)
    page.goto("/#/charge")
    expect(page.locator("form.charge")).to_be_visible()
    page.reload()
    expect(page.locator("form.charge")).to_be_visible()
    page.wait_for_timeout(300)
    assert page.locator("#nav").bounding_box()["height"] > 60  # the menu wraps here
    assert page.evaluate(SHIFTS) == 0
    page.close()


# Before the first page's content: the manifest link (none yet), and the modules fetched.
AT_CONTENT = """
new MutationObserver(() => {
  if (document.querySelector('link[rel="manifest"]') && window.manifestAfterContent === undefined)
    window.manifestAfterContent = performance.getEntriesByName("content").length;
}).observe(document, { childList: true, subtree: true });
new PerformanceObserver((list) => {
  if (window.modulesAtContent) return;
  window.modulesAtContent = performance.getEntriesByType("resource")
    .map((e) => new URL(e.name).pathname).filter((p) => p.startsWith("/js/"));
}).observe({ type: "mark" });
"""


def test_the_first_page_asks_only_for_what_it_uses(context: BrowserContext, server: Seeded) -> None:
    """Each request of a first page shares a phone's slow network with the rest. The manifest
    (install metadata) is linked only after the first page's content; forms.js comes with the
    screens that have a form (the charge form, the client list), not with the balances; the
    shell's modules come as one file (pwa.shell_page), none of them on its own."""
    bundled = [f"/{name}" for name in pwa.shell_bundle()]
    assert "/js/app.js" in bundled
    for key, home, content, forms in (
        (server.client_key, "#/wallet", ".envelope__balance", False),
        (server.provider_key, "#/charge", "form.charge", True),
        (server.case_manager_key, "#/clients", "#client-results li", True),
    ):
        page = context.new_page()
        sign_in_with_key(page, key)
        page.goto(f"/{home}")
        expect(page.locator(content).first).to_be_visible()
        page.add_init_script(AT_CONTENT)
        page.reload()
        expect(page.locator(content).first).to_be_visible()
        page.wait_for_function("window.manifestAfterContent !== undefined")
        assert page.evaluate("window.manifestAfterContent") == 1, home
        expect(page.locator('link[rel="manifest"]')).to_have_attribute(
            "href", "/manifest.webmanifest"
        )
        modules = page.evaluate("window.modulesAtContent")
        assert f"/js/views/{home[2:]}.js" in modules, (home, modules)
        assert ("/js/forms.js" in modules) is forms, (home, modules)
        assert "/js/shell.bundle.js" in modules, (home, modules)
        assert not set(bundled) & set(modules), (home, modules)
        page.close()


def test_a_slow_start_still_says_it_is_loading(browser: Browser, server: Seeded) -> None:
    """The hidden "loading" text appears after a second when the app has not drawn its first
    page by then (here its code never arrives; a browser with no service worker to serve it)."""
    fresh = browser.new_context(base_url=server.url, locale="fi-FI", service_workers="block")
    page = fresh.new_page()
    page.route("**/js/shell.bundle.js", lambda route: None)  # the shell's code, never answered
    page.goto("/#/charge", wait_until="commit")
    loading = page.locator("main .loading")
    expect(loading).to_be_attached()
    # Hidden at first (a machine too slow to look within the second would see it shown).
    style = loading.evaluate(
        "(el) => [getComputedStyle(el).animationName, getComputedStyle(el).animationDelay]"
    )
    assert style == ["loading-shows", "1s"], style
    expect(loading).to_be_visible(timeout=5000)
    expect(loading.locator("p")).to_have_text("Ladataan…")
    fresh.close()


def test_the_app_draws_the_first_page_while_the_stylesheet_is_on_its_way(
    browser: Browser, server: Seeded
) -> None:
    """index.html's early start imports the app: a <script type="module"> would run only after
    the stylesheet arrived (and after the browser had laid out the empty shell). The stylesheet
    still holds back the first paint: nothing is painted before it arrives."""
    fresh = browser.new_context(base_url=server.url, locale="fi-FI", service_workers="block")
    page = fresh.new_page()
    sign_in_with_key(page, server.provider_key)
    page.goto("/#/charge")
    expect(page.locator("form.charge")).to_be_visible()
    held: list[Route] = []
    page.route("**/app.css", lambda route: held.append(route))  # answered when the test says
    page.reload(wait_until="commit")
    for _ in range(100):
        if page.evaluate("performance.getEntriesByName('content').length"):
            break
        page.wait_for_timeout(100)
    assert page.evaluate("performance.getEntriesByName('content').length") == 1
    assert page.locator("form.charge").count() == 1  # drawn, not yet painted
    assert page.evaluate("performance.getEntriesByType('paint').length") == 0
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("form.charge")).to_be_visible()
    # Styled once it is in (the header's colour comes from app.css).
    expect(page.locator("header.bar")).not_to_have_css("background-color", "rgba(0, 0, 0, 0)")
    fresh.close()


def test_the_service_worker_is_registered_after_the_first_screen(
    context: BrowserContext, server: Seeded
) -> None:
    """Its install fetches the whole shell: on a first visit that would share the network and
    the processor with the first screen. It is registered once the content is drawn, and the
    app still comes under its control (offline start: tests/e2e/test_journeys.py)."""
    page = context.new_page()
    page.add_init_script(
        "const register = navigator.serviceWorker.register.bind(navigator.serviceWorker);"
        "navigator.serviceWorker.register = (...args) => {"
        "  window.swRegisteredAfter = performance.getEntriesByName('content').length;"
        "  return register(...args); };"
    )
    sign_in_with_key(page, server.provider_key)
    page.goto("/#/charge")
    page.reload()  # a page load of its own, at the charge form
    expect(page.locator("form.charge")).to_be_visible()
    page.wait_for_function("window.swRegisteredAfter !== undefined")
    assert page.evaluate("window.swRegisteredAfter") == 1
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.close()


def test_the_balances_load_the_chart_only_when_it_is_opened(
    browser: Browser, server: Seeded
) -> None:
    """The spending chart is folded away on the balances: its module is no part of the early
    start's wave (index.html asks only for the wallet's own), and wallet.js imports it when the
    person opens the chart. Here its module never arrives: the balances are drawn all the same,
    and opening the chart says to try again instead of opening onto nothing."""
    fresh = browser.new_context(base_url=server.url, locale="fi-FI", service_workers="block")
    page = fresh.new_page()
    sign_in_with_key(page, server.client_key)
    page.goto("/#/wallet")
    expect(page.locator(".envelope__balance").first).to_be_visible()
    asked_for_chart: list[str] = []
    page.route(
        "**/js/views/client-chart.js",
        lambda route: (asked_for_chart.append(route.request.url), route.abort()),
    )
    page.reload()
    expect(page.locator(".envelope__balance").first).to_be_visible()
    preloaded = page.evaluate(
        "[...document.querySelectorAll('link[rel=modulepreload]')]"
        ".map((l) => new URL(l.href).pathname)"
    )
    assert "/js/views/wallet.js" in preloaded, preloaded
    assert "/js/views/client-chart.js" not in preloaded, preloaded
    details = page.locator("[data-envelope] details.chart-details").first
    expect(details.locator("summary")).to_have_text("Näytä kulutus kuukausittain")
    details.locator("summary").click()
    expect(details.locator("[data-chart-error]")).to_have_text("Yritä hetken päästä uudelleen.")
    expect(details.locator("figure")).to_have_count(0)
    assert asked_for_chart, "the chart's module was never asked for"
    # With its module there, the chart opens in the person's language, its texts loaded with it
    # (they are not in the first screen's language file).
    page.unroute("**/js/views/client-chart.js")
    page.reload()
    details = page.locator("[data-envelope] details.chart-details").first
    details.locator("summary").click()
    expect(details.locator("figure.spending figcaption")).to_have_text(
        "Käytetty kuukausittain. Katkoviiva on kuukauden määrä."
    )
    expect(details.locator("[data-chart-error]")).to_have_count(0)
    fresh.close()
