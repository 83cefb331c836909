"""Notifications in Settings: Web Push asked from a tap, its states, and the iPhone guide.

The test server has VAPID keys (conftest). Headless Chromium usually has no push service to
subscribe with, so the real-browser test accepts either outcome a person could see (on, or a
plain error) and a stubbed push service checks the round trip to the server.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import Browser, Page, expect

from notifications.events import Event
from notifications.push import build_payload
from notifications.rules import Preferences
from tests.e2e.helpers import assert_accessible, screenshot, sign_in_with_key
from tests.e2e.server import Seeded

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
TURN_ON = "Ota ilmoitukset käyttöön"
TURN_OFF = "Poista ilmoitukset käytöstä"
STATE_ON = "Ilmoitukset ovat päällä tässä laitteessa."
STATE_OFF = "Ilmoitukset eivät ole päällä tässä laitteessa."
STATE_ERROR = "Ilmoituksia ei saatu päälle tässä selaimessa."
UNAVAILABLE = "Ilmoitukset eivät ole käytössä tässä palvelussa. Näet maksut sovelluksesta."


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# A stand-in push service: PushManager hands out a subscription with well-formed keys.
FAKE_PUSH = """
(() => {
  let current = null;
  const fake = (options) => ({
    endpoint: "https://push.example.invalid/send/e2e-device",
    options,
    toJSON() {
      const keys = { p256dh: P256DH, auth: AUTH };
      return { endpoint: this.endpoint, expirationTime: null, keys };
    },
    async unsubscribe() { current = null; return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    current = fake(options);
    return current;
  };
  PushManager.prototype.getSubscription = async function () { return current; };
})();
""".replace("P256DH", json.dumps(b64url(b"\x04" + bytes(range(64))))).replace(
    "AUTH", json.dumps(b64url(bytes(range(16))))
)


def open_settings(page: Page, key: str) -> None:
    sign_in_with_key(page, key)
    page.get_by_role("link", name="Asetukset").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Asetukset")
    expect(page.get_by_role("heading", name="Ilmoitukset", exact=True)).to_be_visible()


def test_settings_with_notifications_is_accessible(page: Page, server: Seeded) -> None:
    open_settings(page, server.client_key)
    expect(page.locator("#push-state")).to_have_text(STATE_OFF)
    button = page.get_by_role("button", name=TURN_ON)
    expect(button).to_be_visible()
    # Nothing is asked when the page opens: permission waits for the tap.
    assert page.evaluate("Notification.permission") == "default"
    box = button.bounding_box()
    assert box and box["height"] >= 48
    expect(page.locator("#ios-guide")).to_have_count(0)
    assert_accessible(page, "settings with notifications fi")
    screenshot(page, "16-settings-notifications")


def test_turn_on_in_headless_chromium(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    """The real browser: permission granted, the key fetched, subscribe tried. Without a push
    service Chromium refuses the subscription; the person then reads a plain error."""
    context = browser.new_context(**browser_context_args)
    context.grant_permissions(["notifications"])
    page = context.new_page()
    warnings: list[str] = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    open_settings(page, server.client_key)
    with page.expect_response("**/api/push/key") as key:
        page.get_by_role("button", name=TURN_ON).click()
    assert key.value.status == 200
    state = page.locator("#push-state")
    expect(state).not_to_have_text("Hetki…", timeout=15_000)
    text = state.inner_text()
    print(f"\nheadless Chromium push subscription: {text} {warnings}")
    assert text == STATE_ON or text.startswith(STATE_ERROR), text
    if text == STATE_ON:
        expect(page.get_by_role("button", name=TURN_OFF)).to_be_visible()
    else:
        expect(page.locator("#announce")).to_contain_text(STATE_ERROR)
        expect(page.get_by_role("button", name=TURN_ON)).to_be_visible()
    assert_accessible(page, "notifications after turning on")
    context.close()


def test_subscription_reaches_the_server_and_turns_off(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    context = browser.new_context(**browser_context_args)
    context.grant_permissions(["notifications"])
    context.add_init_script(FAKE_PUSH)
    page = context.new_page()
    open_settings(page, server.client_key)
    with page.expect_response(
        lambda r: r.url.endswith("/api/push/subscriptions") and r.request.method == "POST"
    ) as posted:
        page.get_by_role("button", name=TURN_ON).click()
    assert posted.value.status == 201, posted.value.text()
    sent = posted.value.request.post_data_json
    assert sent["endpoint"] == "https://push.example.invalid/send/e2e-device"
    assert set(sent["keys"]) == {"p256dh", "auth"}
    expect(page.locator("#push-state")).to_have_text(STATE_ON)
    expect(page.locator("#announce")).to_have_text(STATE_ON)
    turn_off = page.get_by_role("button", name=TURN_OFF)
    expect(turn_off).to_be_focused()
    assert_accessible(page, "notifications on")

    with page.expect_response(
        lambda r: "/api/push/subscriptions?endpoint=" in r.url and r.request.method == "DELETE"
    ) as deleted:
        turn_off.click()
    assert deleted.value.status == 204
    expect(page.locator("#push-state")).to_have_text(STATE_OFF)
    expect(page.get_by_role("button", name=TURN_ON)).to_be_focused()
    context.close()


def test_server_without_push_says_so(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    """A server without VAPID keys answers 404 for the key: the plain "not available"."""
    context = browser.new_context(**browser_context_args)
    context.grant_permissions(["notifications"])
    page = context.new_page()
    page.route(
        "**/api/push/key",
        lambda route: route.fulfill(
            status=404,
            content_type="application/problem+json",
            body=json.dumps({"status": 404, "title": "Web Push is not configured"}),
        ),
    )
    open_settings(page, server.client_key)
    page.get_by_role("button", name=TURN_ON).click()
    expect(page.locator("#push-state")).to_have_text(UNAVAILABLE)
    expect(page.locator("#announce")).to_have_text(UNAVAILABLE)
    assert_accessible(page, "notifications not available")
    context.close()


def test_iphone_guide_to_add_to_home_screen(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    context = browser.new_context(**{**browser_context_args, "user_agent": IPHONE_UA})
    page = context.new_page()
    open_settings(page, server.client_key)
    guide = page.locator("#ios-guide")
    expect(guide).to_be_visible()
    expect(guide.get_by_role("heading")).to_have_text(
        "iPhonessa: lisää sovellus ensin Koti-valikkoon"
    )
    expect(guide.get_by_role("listitem")).to_have_count(4)
    expect(guide).to_contain_text("Lisää Koti-valikkoon")
    assert_accessible(page, "iPhone guide fi")
    screenshot(page, "17-settings-iphone-guide")
    page.get_by_label("English").check()
    expect(page.locator("#ios-guide")).to_contain_text("Add to Home Screen")
    assert_accessible(page, "iPhone guide en")
    context.close()


def test_service_worker_shows_a_pushed_request(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    """A push message delivered to the service worker (CDP) becomes a notification with the
    payload's title, body, tag, language and approve/decline actions."""
    context = browser.new_context(**browser_context_args)
    context.grant_permissions(["notifications"])
    page = context.new_page()
    sign_in_with_key(page, server.client_key)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    cdp = context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda e: registrations.extend(e["registrations"]),
    )
    cdp.send("ServiceWorker.enable")
    for _ in range(100):
        live = [r for r in registrations if not r.get("isDeleted")]
        if live:
            break
        page.wait_for_timeout(100)
    registration = live[0]
    payload = {
        "title": "Maksupyyntö",
        "body": "Siivous Oy · 35,00 € · jäljellä 265,00 €",
        "tag": "wallet-event-e2e-1",
        "lang": "fi",
        "url": f"/?wallet={server.wallet_id}",
        "wallet_id": server.wallet_id,
        "request_id": "00000000-0000-0000-0000-000000000001",
        "actions": [
            {"action": "approve", "title": "Hyväksy"},
            {"action": "decline", "title": "Hylkää"},
        ],
    }
    shown = _push(page, cdp, server, registration, payload)
    assert shown is not None, "the service worker showed no notification within 10 s"
    assert shown["title"] == "Maksupyyntö"
    assert shown["body"] == payload["body"]
    assert shown["lang"] == "fi"
    assert shown["renotify"] is False
    assert shown["data"]["request_id"] == payload["request_id"]
    assert shown["data"]["url"] == payload["url"]
    assert shown["actions"] == ["approve", "decline"]

    # A charge as the server words it for a person who keeps the default (amounts hidden on the
    # lock screen, issue 19): the service worker shows the body as sent and adds no amount.
    event = Event(
        id=991,
        type="charge.captured",
        organizer_id=uuid.uuid4(),
        wallet_id=uuid.UUID(server.wallet_id),
        provider_id=uuid.uuid4(),
        created_at=datetime.now(UTC),
        data={"provider_name": "Siivous Oy", "total_cents": 3500, "balance_cents": 26500},
    )
    hidden = build_payload(event, Preferences(), can_approve=False)
    shown = _push(page, cdp, server, registration, hidden)
    assert shown is not None, "the service worker showed no notification within 10 s"
    assert shown["title"] == hidden["title"] and shown["body"] == "Siivous Oy"
    assert not re.search(r"€|35|265", shown["title"] + shown["body"])
    assert set(shown["data"]) == {"url", "request_id", "wallet_id", "lang"}  # no amount in it
    context.close()


def _push(
    page: Page, cdp: Any, server: Seeded, registration: dict[str, Any], payload: dict[str, Any]
) -> dict[str, Any] | None:
    """Deliver ``payload`` to the service worker and read back the notification it showed
    (found by the payload's tag), or None after 10 s."""
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": server.url,
            "registrationId": registration["registrationId"],
            "data": json.dumps(payload),
        },
    )
    # Poll with evaluate: wait_for_function would take the async predicate's Promise as truthy
    # at once and race the service worker.
    shown = None
    deadline = time.monotonic() + 10
    while shown is None and time.monotonic() < deadline:
        shown = page.evaluate(
            """async (tag) => {
              const reg = await navigator.serviceWorker.ready;
              const [n] = await reg.getNotifications({ tag });
              return n ? { title: n.title, body: n.body, lang: n.lang, data: n.data,
                           actions: n.actions.map((a) => a.action), renotify: n.renotify } : null;
            }""",
            payload["tag"],
        )
        if shown is None:
            page.wait_for_timeout(100)
    return shown
