"""Webhooks (issue 18) in the browser: a case manager with the admin right reaches Webhooks from
the Staff screen, adds an endpoint (a real receiver on loopback), sees its signing secret once
(gone after a reload), sends a test that the receiver refuses, sees it failed in the delivery
log, sends it again and sees it delivered. The receiver checks each signature with the secret
the page showed. Each state is scanned by axe-core.

The suite's shared server refuses loopback URLs (as production does), so this module runs its
own, with ``WALLET_OUTBOUND_ALLOW_LOOPBACK=1``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from standardwebhooks import Webhook

from tests.e2e.helpers import add_style, assert_accessible, sign_in_with_key
from tests.e2e.server import PHONE, serve


class Receiver:
    """A loopback HTTP receiver that answers the statuses it is given (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wallet-hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while len(self.requests) < n:
            assert time.monotonic() < deadline, f"the receiver got {len(self.requests)} of {n}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def hooks_server(
    tmp_path_factory: pytest.TempPathFactory, chromium: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    directory: Path = tmp_path_factory.mktemp("webhooks")
    with serve(
        directory, WALLET_DEV_API_KEY_FORM="1", WALLET_OUTBOUND_ALLOW_LOOPBACK="1"
    ) as served:
        yield served


@pytest.fixture
def admin_page(browser: Browser, hooks_server: tuple[str, dict[str, Any]]) -> Iterator[Page]:
    url, _seeded = hooks_server
    context = browser.new_context(
        base_url=url, viewport=PHONE, locale="fi-FI", timezone_id="Europe/Helsinki"
    )
    yield context.new_page()
    context.close()


def test_an_admin_adds_an_endpoint_sees_the_secret_once_and_replays_a_delivery(
    admin_page: Page, hooks_server: tuple[str, dict[str, Any]], receiver: Receiver
) -> None:
    page = admin_page
    _url, seeded = hooks_server
    sign_in_with_key(page, seeded["admin_key"])
    page.locator("#nav").get_by_role("link", name="Henkilöstö").click()
    page.get_by_role("link", name="Webhookit", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webhookit")
    expect(page.locator("#main")).to_contain_text("Vastaanottimia ei ole vielä.")

    # Nothing chosen: the form says what is missing, and nothing is added.
    page.get_by_role("button", name="Lisää vastaanotin").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Kirjoita https-osoite")
    expect(summary).to_contain_text("Valitse vähintään yksi tapahtuma")
    assert_accessible(page, "webhook form with errors")

    page.get_by_label("Osoite (URL)").fill(receiver.url)
    page.get_by_role("checkbox", name="Veloitus charge.captured").check()
    page.get_by_role("button", name="Lisää vastaanotin").click()
    card = page.locator("[data-secret]")
    expect(card.get_by_role("heading", level=2)).to_have_text("Tallenna allekirjoitusavain nyt")
    expect(card.get_by_role("heading", level=2)).to_be_focused()
    secret = card.locator("[data-secret-value]").inner_text()
    assert secret.startswith("whsec_") and len(secret) > 40
    endpoint = page.locator("[data-endpoint]")
    expect(endpoint).to_have_count(1)
    expect(endpoint.get_by_role("heading", level=3)).to_have_text(receiver.url)
    expect(endpoint).to_contain_text("Käytössä")
    expect(endpoint).to_contain_text("Veloitus")
    assert_accessible(page, "webhook secret shown once")

    # Once: after a reload the secret is nowhere on the page.
    page.reload()
    expect(page.locator("[data-endpoint]")).to_have_count(1)
    expect(page.locator("[data-secret]")).to_have_count(0)
    assert secret not in page.content()

    # A test the receiver refuses (400): failed at once, shown as failed in the log.
    receiver.statuses = [400]
    endpoint = page.locator("[data-endpoint]")
    endpoint.get_by_role("button", name="Lähetä testi").click()
    expect(page.locator("#main [role=status]")).to_have_text("Testilähetys on jonossa")
    receiver.wait_for(1)
    endpoint.get_by_role("button", name="Näytä lähetykset").click()
    failed = endpoint.locator("li[data-status=failed]")
    for _ in range(50):
        if failed.count():
            break
        endpoint.get_by_role("button", name="Päivitä").click()
        time.sleep(0.2)
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("Testi")
    expect(failed).to_contain_text("Epäonnistui")
    expect(failed).to_contain_text("HTTP 400")
    expect(failed).to_contain_text("1 yritys")
    assert_accessible(page, "webhook delivery log with a failed delivery")

    # Send it again: delivered, with the same webhook-id, each signature valid.
    failed.get_by_role("button", name="Lähetä uudelleen").click()
    expect(page.locator("#main [role=status]")).to_have_text("Lähetys lähetetään uudelleen")
    receiver.wait_for(2)
    done = endpoint.locator("li[data-status=succeeded]")
    for _ in range(50):
        if done.count():
            break
        endpoint.get_by_role("button", name="Päivitä").click()
        time.sleep(0.2)
    expect(done).to_have_count(1)
    expect(done).to_contain_text("Toimitettu")
    (first, body1, s1), (second, body2, s2) = receiver.requests[:2]
    assert (s1, s2) == (400, 200)
    assert first["webhook-id"] == second["webhook-id"] and first["webhook-id"].startswith("ping_")
    assert body1 == body2
    for headers, body, _status in receiver.requests[:2]:
        payload = Webhook(secret).verify(body, headers)
        assert payload["type"] == "webhook.ping"
    assert_accessible(page, "webhook delivery log after a replay")

    # A long URL, the log open, 320 px and 200 % text: nothing scrolls sideways.
    page.set_viewport_size({"width": 320, "height": 640})
    add_style(page, "html { font-size: 225% !important; }")
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
