"""Issue 13, item 8: the API-key form exists only where the development setting is on.

The suite's server runs with ``WALLET_DEV_API_KEY_FORM=1`` (tests/e2e/conftest.py), as
``wallet demo`` does, and the form signs in there. A second server with the setting off shows
the sign-in page and the settings page with no form at all: not in the DOM, so no stylesheet
or script can make it visible, and its module is a stub.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import add_style, assert_accessible
from tests.e2e.server import Seeded, serve


@pytest.fixture(scope="module")
def production_like(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[str]:
    """A server with the setting off (as in production: it is off unless asked for)."""
    with serve(tmp_path_factory.mktemp("e2e-no-dev-form"), WALLET_DEV_API_KEY_FORM="0") as (
        url,
        _,
    ):
        yield url


def _open(page: Page, hash_: str) -> None:
    """Open a page and wait until the app has asked for the form's module and used the answer."""
    with page.expect_response(re.compile(r"/js/dev-key\.js$")) as answer:
        page.goto(f"/{hash_}")
    assert answer.value.status == 200
    page.wait_for_load_state("networkidle")


def _assert_no_form(page: Page) -> None:
    # Force every element visible, as a hostile or careless stylesheet could: still nothing.
    add_style(page, "*{display:revert!important;visibility:visible!important}")
    for locator in (
        page.locator("#devkey"),
        page.get_by_label("API-avain"),
        page.get_by_role("button", name="Käytä avainta"),
        page.get_by_text("Kehittäjäasetus"),
        page.locator("details"),
    ):
        expect(locator).to_have_count(0)
        expect(locator).not_to_be_visible()
    assert "wk_" not in page.content()


def test_without_the_setting_sign_in_and_settings_have_no_api_key_form(
    browser: Browser, browser_context_args: dict[str, Any], production_like: str
) -> None:
    context = browser.new_context(**{**browser_context_args, "base_url": production_like})
    page = context.new_page()
    _open(page, "#/signin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kirjaudu sisään")
    expect(page.get_by_role("button", name="Kirjaudu sisään", exact=True)).to_be_visible()
    _assert_no_form(page)
    assert_accessible(page, "sign-in without the API-key form")
    # A fresh page, so the app asks for the module again (a page keeps its modules).
    page = context.new_page()
    _open(page, "#/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("Asetukset")
    _assert_no_form(page)
    # The module the app asks for carries no form.
    body = page.request.get("/js/dev-key.js").text()
    assert "devKeyForm = null" in body and "devkey" not in body
    context.close()


def test_with_the_setting_the_api_key_form_is_shown_and_signs_in(
    page: Page, server: Seeded
) -> None:
    _open(page, "#/signin")
    summary = page.get_by_text("Kehittäjäasetus: API-avain")
    expect(summary).to_be_visible()
    summary.click()
    field = page.get_by_label("API-avain")
    expect(field).to_be_visible()
    field.fill(server.client_key)
    page.get_by_role("button", name="Käytä avainta").click()
    expect(page.locator("main h1")).to_have_text("Oma budjetti")
