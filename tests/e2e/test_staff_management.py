"""Staff with passkeys (issue 15) in the browser: a case manager with the admin right invites a
case manager (the code and QR are shown), gives the admin right and removes one after a confirm
step; a case manager without the right sees no Staff link; a provider's owner invites a staff
member and removes one. Each state is scanned by axe-core."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import assert_accessible, screenshot, sign_in_with_key
from tests.e2e.server import Seeded

CODE = re.compile(r"^[0-9A-Z]{5}-[0-9A-Z]{5}$")


def invite(page: Page, name: str) -> str:
    page.get_by_label("Nimi").fill(name)
    page.get_by_role("button", name="Luo kutsu").click()
    card = page.locator("[data-invite]")
    expect(card.get_by_role("heading", level=2)).to_have_text(f"Kutsu: {name}")
    code = card.locator("[data-code]")
    expect(code).to_have_text(CODE)
    expect(card.get_by_role("img", name="QR-koodi kutsulinkkiin")).to_be_visible()
    expect(card).to_contain_text("/join#")
    return code.inner_text()


def test_an_admin_invites_gives_the_right_and_removes_a_case_manager(
    page: Page, server: Seeded
) -> None:
    sign_in_with_key(page, server.admin_key)
    link = page.locator("#nav").get_by_role("link", name="Henkilöstö")
    expect(link).to_be_visible()
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Henkilöstö")
    me = page.locator("#main li", has_text="Helmi Hallinto")
    expect(me).to_contain_text("(sinä)")
    expect(me.get_by_role("button")).to_have_count(0)  # nobody removes themself here
    assert_accessible(page, "staff list")

    invite(page, "Maija Ohjaaja")
    maija = page.locator("#main li", has_text="Maija Ohjaaja")
    expect(maija).to_contain_text("Kutsu odottaa")
    assert_accessible(page, "case manager invite shown")
    screenshot(page, "47-case-manager-staff")

    maija.get_by_role("button", name="Anna pääkäyttäjän oikeus").click()
    expect(page.locator("#main li", has_text="Maija Ohjaaja")).to_contain_text("Pääkäyttäjä")
    maija = page.locator("#main li", has_text="Maija Ohjaaja")
    expect(maija.get_by_role("button", name="Poista pääkäyttäjän oikeus")).to_be_visible()

    maija.get_by_role("button", name="Poista", exact=True).click()
    confirm = maija.get_by_role("group")
    expect(confirm).to_contain_text("Poistetaanko Maija Ohjaaja?")
    assert_accessible(page, "remove confirm")
    confirm.get_by_role("button", name="Kyllä, poista").click()
    active = page.locator("ul[aria-labelledby=staff-list-title] li", has_text="Maija")
    expect(active).to_have_count(0)
    expect(page.locator("details summary")).to_have_text("Poistetut (1)")


def test_a_case_manager_without_the_admin_right_sees_no_staff_link(
    page: Page, server: Seeded
) -> None:
    sign_in_with_key(page, server.case_manager_key)
    expect(page.locator("#nav").get_by_role("link", name="Asiakkaat")).to_be_visible()
    expect(page.locator("#nav").get_by_role("link", name="Henkilöstö")).to_have_count(0)


def test_a_provider_owner_invites_and_removes_staff(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.owner_key)
    page.locator("#nav").get_by_role("link", name="Henkilöstö").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Henkilöstö")
    expect(page.locator("#main li", has_text="Olli Omistaja")).to_contain_text("Omistaja")
    invite(page, "Sanna Siivooja")
    sanna = page.locator("ul[aria-labelledby=staff-list-title] li", has_text="Sanna Siivooja")
    expect(sanna).to_be_visible()
    assert_accessible(page, "provider staff invite shown")
    screenshot(page, "28-provider-staff")

    sanna.get_by_role("button", name="Poista", exact=True).click()
    sanna.get_by_role("button", name="Kyllä, poista").click()
    expect(sanna).to_have_count(0)
    expect(page.get_by_role("status").first).to_contain_text("Sanna Siivooja on poistettu")
    assert_accessible(page, "provider staff after removal")


def test_a_provider_who_is_no_owner_sees_no_staff_link(page: Page, server: Seeded) -> None:
    sign_in_with_key(page, server.provider_key)
    expect(page.locator("#nav").get_by_role("link", name="Veloita")).to_be_visible()
    expect(page.locator("#nav").get_by_role("link", name="Henkilöstö")).to_have_count(0)
