"""Each role has its own words (issue 22, item 3), in the browser: a carer, a provider and a
case manager open their main screens, and none of them shows a text that speaks to the client
about the client's own money ("puhelinnumerosi", "budjetistasi", "Maksat itse", "Oma
budjetti"…; the list is client_addressed in pwa/glossary.json). The carer sees a payment
request waiting on the client's wallet and reads about Aino by name instead. The client's own
wallet, read the same way, does show those texts, so the check can fail."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import call_api, sign_in_with_key
from tests.e2e.server import Seeded
from tests.e2e.test_layout_and_size import MAIN_PAGES

PWA = Path(__file__).parents[2] / "pwa"


def client_addressed_fragments() -> dict[str, str]:
    """key -> the longest stretch of its Finnish text between {placeholders}: what a screen
    would show of it whatever the names and amounts filled in."""
    glossary = json.loads((PWA / "glossary.json").read_text(encoding="utf-8"))
    fi = json.loads((PWA / "static" / "i18n" / "fi.json").read_text(encoding="utf-8"))
    fragments = {}
    for key in glossary["client_addressed"]["keys"]:
        longest = max(re.split(r"\{\w+\}", fi[key]), key=len).strip()
        assert len(longest) >= 10, f"{key}: too little fixed text to look for"
        fragments[key] = longest
    return fragments


def shown(page: Page, fragments: dict[str, str]) -> dict[str, str]:
    text = page.locator("body").inner_text()
    return {key: fragment for key, fragment in fragments.items() if fragment in text}


def open_page(page: Page, target: str) -> None:
    page.goto(f"/{target}")
    expect(page.locator("main h1")).to_be_visible()
    expect(page.locator("main h1")).not_to_have_text("Ladataan…")
    page.wait_for_timeout(300)  # the page's own requests (lists, charts) settle


def _phone_request(server: Seeded) -> dict[str, Any]:
    body = {
        "phone": server.client_phone,
        "lines": [{"category": "kotiapu", "quantity": "1", "unit_price_cents": 1200}],
    }
    result: dict[str, Any] = call_api(
        server.url,
        server.provider_key,
        "POST",
        "/api/checkout/phone",
        body,
        {"Idempotency-Key": str(uuid.uuid4())},
    )
    return result


def test_only_the_client_is_told_about_their_own_money(
    browser: Browser, browser_context_args: dict[str, Any], server: Seeded
) -> None:
    fragments = client_addressed_fragments()
    assert {"pay.byPhone", "wallet.title", "share.request", "push.intro"} <= set(fragments)
    # A payment request waits on Aino's wallet while the others look (cancelled at the end,
    # so the money it holds goes back for the other tests).
    request = _phone_request(server)
    assert request["outcome"] == "pending"
    try:
        others = {
            "carer_key": [*MAIN_PAGES["carer_key"], f"#/wallet/{server.wallet_id}"],
            "provider_key": MAIN_PAGES["provider_key"],
            "case_manager_key": [*MAIN_PAGES["case_manager_key"], f"#/wallet/{server.wallet_id}"],
        }
        for role, targets in others.items():
            context = browser.new_context(**browser_context_args)
            page = context.new_page()
            sign_in_with_key(page, getattr(server, role))
            for target in targets:
                open_page(page, target)
                wrong = shown(page, fragments)
                assert not wrong, f"{role} {target} shows client-addressed texts: {wrong}"
                if role == "carer_key" and target.startswith("#/wallet"):
                    # The carer reads the same things about Aino, in the third person.
                    main = page.locator("main")
                    expect(main).to_contain_text(
                        "Aino voi näyttää maksukoodin tai kertoa puhelinnumeronsa"
                    )
                    expect(main.locator(".request")).to_contain_text("pyytää 12,00")
                    expect(page.get_by_role("heading", level=1)).to_have_text(
                        "Budjetti: Aino Virtanen"
                    )
            context.close()

        # The client's own wallet and settings: the same check finds the client's texts there.
        context = browser.new_context(**browser_context_args)
        page = context.new_page()
        sign_in_with_key(page, server.client_key)
        open_page(page, "#/wallet")
        expect(page.locator("main .request")).to_contain_text("pyytää 12,00")
        assert {"wallet.title", "pay.byPhone"} <= set(shown(page, fragments))
        open_page(page, "#/settings")
        assert "push.intro" in shown(page, fragments)
        context.close()
    finally:
        call_api(
            server.url,
            server.provider_key,
            "POST",
            f"/api/payment-requests/{request['request']['id']}/cancel",
            {},
        )
