"""The bank loop in the provider's app (issue 18): settlements made by ``wallet settle``, the
bank's answers read by ``wallet bank import``, and what the provider then sees on its
Settlements screen: a returned payout, the reason the bank gave, and the next settlement that
pays it again. Its own server, so the suite's shared one keeps no settlements."""

from __future__ import annotations

import csv
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, expect

from payments.ledger.periods import HELSINKI
from tests.e2e.helpers import assert_accessible, call_api, sign_in_with_key
from tests.e2e.server import PHONE, serve, server_env, wallet_command
from tests.support.bank_files import Booked, Status, camt054, pain002


def _charge(url: str, seeded: dict[str, Any], hours: int, n: int) -> None:
    """The provider charges the client ``hours`` of cleaning at 35.00 by the client's code."""
    wallet = seeded["wallet_id"]
    token = call_api(url, seeded["client_key"], "POST", f"/api/wallets/{wallet}/payment-tokens", {})
    call_api(
        url,
        seeded["provider_key"],
        "POST",
        "/api/checkout/token",
        {
            "code": token["code"],
            "lines": [{"category": "siivous", "quantity": str(hours), "unit_price_cents": 3500}],
        },
        {"Idempotency-Key": f"bank-loop-{n}"},
    )


def _wallet(env: dict[str, str], *args: str, expect_code: int = 0) -> str:
    done = subprocess.run(
        [wallet_command(), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == expect_code, f"wallet {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _settle(env: dict[str, str], out: Path) -> str:
    """``wallet settle`` up to today in Helsinki (the day the charges were made on: from 22:00
    UTC on, the machine's own date is still yesterday); the reference of the one settlement
    it made."""
    today = datetime.now(HELSINKI).date()
    _wallet(env, "settle", "--until", today.isoformat(), "--out", str(out))
    (sheet,) = out.glob("*.csv")
    (row,) = list(csv.DictReader(sheet.open(encoding="utf-8-sig")))
    return str(row["reference"])


def test_the_provider_sees_a_returned_payout_and_the_settlement_that_pays_it_again(
    browser: Browser, tmp_path: Path, chromium: str
) -> None:
    (tmp_path / "server").mkdir()
    with serve(tmp_path / "server", WALLET_DEV_API_KEY_FORM="1") as (url, seeded):
        env = server_env(tmp_path / "server", 0)  # the server's database, for the commands
        _charge(url, seeded, 2, 1)
        first = _settle(env, tmp_path / "first")
        rejection = tmp_path / "pain002.xml"
        rejection.write_bytes(pain002(Status(first, "RJCT", 7000, ("AC04", "Tili lopetettu"))))
        out = _wallet(env, "bank", "import", str(rejection))
        assert "1 lines: 1 rejected" in out, out

        _charge(url, seeded, 1, 2)
        second = _settle(env, tmp_path / "second")
        booked = tmp_path / "camt054.xml"
        booked.write_bytes(camt054(Booked(second, 10500)))
        assert "1 lines: 1 paid." in _wallet(env, "bank", "import", str(booked))
        _wallet(env, "check")

        context = browser.new_context(
            base_url=url, viewport=PHONE, locale="fi-FI", timezone_id="Europe/Helsinki"
        )
        page = context.new_page()
        sign_in_with_key(page, seeded["provider_key"])
        page.goto("/#/settlements")
        expect(page.get_by_role("heading", level=1)).to_have_text("Tilitykset")
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(2)
        returned = rows.filter(has_text=first)
        expect(returned.locator("[data-status]")).to_have_text(
            "Palautui, maksetaan seuraavassa tilityksessä"
        )
        expect(returned).to_contain_text("70,00")
        paid = rows.filter(has_text=second)
        expect(paid.locator("[data-status]")).to_have_text("Maksettu")
        expect(paid).to_contain_text("105,00")
        assert_accessible(page, "settlements with a returned payout")

        returned.get_by_role("link", name=first).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Tilitys {first}")
        facts = page.locator("dl.facts")
        expect(facts).to_contain_text("Palautui, maksetaan seuraavassa tilityksessä")
        expect(facts).to_contain_text("Pankin syy")
        expect(facts).to_contain_text("AC04: Tili lopetettu")

        page.get_by_role("link", name="Kaikki tilitykset").click()
        rows.filter(has_text=second).get_by_role("link", name=second).click()
        expect(page.locator("dl.facts")).to_contain_text("Maksettu")
        expect(page.locator("dl.facts")).not_to_contain_text("Pankin syy")
        kinds = page.locator("tbody tr td:nth-child(2)")
        # The returned 70.00 (booked back when the file was read), then the new charge.
        expect(kinds).to_have_text(["Palautunut tilitys", "Veloitus"])
        assert_accessible(page, "a settlement that pays a returned payout again")
        context.close()
