"""A county from an empty database, with only the command line and the app (issue 15, "Done
when"): the organizer and its catalogue, the first admin, a case manager, a provider who applies,
is approved and invites a staff member, and a client who gets a decision, is invited, signs in
with a passkey and pays the provider's staff member at the door. Every passkey is made in
Chromium (a virtual authenticator per person); no API key and no developer setting is used."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.helpers import assert_accessible
from tests.e2e.server import PHONE, server_env, serving, wallet_command
from tests.e2e.test_passkeys import virtual_authenticator
from tests.servers import free_port

ROOT = Path(__file__).parents[2]
CATALOGUE = ROOT / "docs" / "examples" / "catalogue.csv"
LINK = re.compile(r"http://localhost:\d+/join#[0-9A-Z-]+")


def wallet(env: dict[str, str], *args: str) -> str:
    """Run a ``wallet`` command as a county's operator would; its output."""
    done = subprocess.run(
        [wallet_command(), *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"wallet {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def person(browser: Browser, url: str) -> tuple[BrowserContext, Page]:
    """Someone with a phone of their own: a browser context with its own passkey store."""
    context = browser.new_context(
        base_url=url, viewport=PHONE, locale="fi-FI", timezone_id="Europe/Helsinki"
    )
    page = context.new_page()
    virtual_authenticator(context, page)
    return context, page


def join(page: Page, link_or_code: str, name: str) -> None:
    """Open an invite and make a passkey with it."""
    page.goto(link_or_code if link_or_code.startswith("http") else f"/join#{link_or_code}")
    expect(page.get_by_role("heading", name=f"Kutsu: {name}")).to_be_visible()
    page.get_by_role("button", name="Luo kirjautumisavain").click()
    expect(page.locator("main h1")).not_to_have_text("Kirjaudu sisään")


def cents(text: str) -> int:
    """ "Saldo: 187,09 €" -> 18709."""
    match = re.search(r"(\d[\d\s\u00a0]*),(\d\d)", text)
    assert match, text
    return int(re.sub(r"\D", "", match.group(1))) * 100 + int(match.group(2))


def euros(amount: int) -> str:
    return f"{amount // 100},{amount % 100:02d}"


def staff_invite(page: Page, name: str) -> str:
    """On the Staff screen (an admin's, or a provider owner's): invite someone; the code."""
    page.locator("#nav").get_by_role("link", name="Henkilöstö").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Henkilöstö")
    page.get_by_label("Nimi").fill(name)
    page.get_by_role("button", name="Luo kutsu").click()
    card = page.locator("[data-invite]")
    expect(card.get_by_role("heading", level=2)).to_have_text(f"Kutsu: {name}")
    return card.locator("[data-code]").inner_text()


def test_a_county_from_an_empty_database(browser: Browser, tmp_path: Path, chromium: str) -> None:
    port = free_port()
    env = server_env(tmp_path, port)  # no developer setting: passkeys only

    # 1. The organizer and its catalogue, from the command line.
    wallet(env, "db", "upgrade")
    wallet(env, "organizer", "create", "--slug", "pohjanmaa", "--name", "Pohjanmaa")
    assert "pohjanmaa" in wallet(env, "organizer", "list")
    out = wallet(env, "catalogue", "import", str(CATALOGUE), "--organizer", "pohjanmaa")
    assert re.search(r"\b9 created", out), out
    # Importing the same file again changes nothing.
    assert re.search(
        r"\b9 unchanged",
        wallet(env, "catalogue", "import", str(CATALOGUE), "--organizer", "pohjanmaa"),
    )

    # 2. The first admin: a one-time link printed by the command line.
    out = wallet(env, "invite", "--organizer", "pohjanmaa", "--role", "admin", "--name", "Anna Aho")
    (admin_link,) = LINK.findall(out)

    with serving(tmp_path, port, env) as url:
        contexts: list[BrowserContext] = []

        def someone() -> Page:
            context, page = person(browser, url)
            contexts.append(context)
            return page

        try:
            admin = someone()
            admin.goto("/#/signin")
            expect(admin.locator("#devkey")).to_have_count(0)  # production: no API-key form
            join(admin, admin_link, "Anna Aho")

            # 3. The admin invites a case manager, who joins with a passkey of their own.
            cm_code = staff_invite(admin, "Kaisa Koski")
            assert_accessible(admin, "admin's staff screen with an invite")
            cm = someone()
            join(cm, cm_code, "Kaisa Koski")
            expect(cm.locator("#nav").get_by_role("link", name="Asiakkaat")).to_be_visible()
            expect(cm.locator("#nav").get_by_role("link", name="Henkilöstö")).to_have_count(0)

            # 4. A provider applies in the app (a passkey made on the way) ...
            owner = someone()
            owner.goto("/#/signin")
            owner.get_by_role("link", name="Oletko palveluntuottaja? Hae mukaan").click()
            owner.get_by_label("Pohjanmaa", exact=True).check()  # the counties, by name
            owner.get_by_role("button", name="Jatka").click()
            expect(owner.get_by_text("Hakemus: Pohjanmaa")).to_be_visible()
            owner.get_by_label("Yrityksen nimi").fill("Siivous Sointu Oy")
            owner.get_by_label("Y-tunnus").fill("2617416-4")
            owner.get_by_label("Tilinumero (IBAN)").fill("FI21 1234 5600 0007 85")
            owner.get_by_label("Pankin BIC-tunnus").fill("NDEAFIHH")
            owner.get_by_label("Nimi", exact=True).fill("Sointu Salo")
            owner.get_by_label("Sähköposti").fill("sointu@sointu.example.fi")
            owner.get_by_label("Puhelinnumero").fill("040 765 4321")
            owner.get_by_label("Kunnat, joissa palvelette").fill("Vaasa")
            owner.get_by_label("Siivous (tunti)").fill("32,50")
            owner.get_by_role("button", name="Lähetä hakemus ja luo kirjautumisavain").click()
            expect(owner.get_by_role("heading", name="Hakemus on lähetetty")).to_be_visible()

            # ... and the case manager approves it.
            cm.locator("#nav").get_by_role("link", name="Palveluntuottajat").click()
            card = cm.locator("section.provider").filter(has_text="Siivous Sointu Oy")
            card.get_by_role("button", name="Hyväksy").click()
            expect(cm.locator("main .notice--ok")).to_contain_text("Siivous Sointu Oy")

            # The owner, now a provider of the county, invites a staff member.
            owner.get_by_role("link", name="Jatka sovellukseen").click()
            owner.reload()
            expect(owner.locator("#nav").get_by_role("link", name="Veloita")).to_be_visible()
            staff_code = staff_invite(owner, "Sami Salo")
            staff = someone()
            join(staff, staff_code, "Sami Salo")
            expect(staff.get_by_role("heading", level=1)).to_have_text("Veloita asiakasta")

            # 5. The case manager makes a client and a decision for a group of services ...
            cm.locator("#nav").get_by_role("link", name="Asiakkaat").click()
            cm.get_by_role("link", name="Uusi asiakas").click()
            cm.get_by_label("Etunimi").fill("Helmi")
            cm.get_by_label("Sukunimi").fill("Nieminen")
            cm.get_by_label("Puhelinnumero").fill("050 555 1234")
            cm.get_by_role("button", name="Luo asiakas").click()
            cm.get_by_label("Budjetin nimi").fill("Kotona asuminen")
            cm.get_by_label("Summa kuukaudessa").fill("200")
            cm.locator("#groups").get_by_role("button", name=re.compile("^kotihoito")).click()
            expect(cm.get_by_label("Siivous")).to_be_checked()
            expect(cm.get_by_label("Kuljetuspalvelu")).not_to_be_checked()
            cm.get_by_role("button", name="Tee päätös").click()
            # ... and an invite, which the client redeems on their own phone.
            cm.get_by_role("button", name="Luo kutsu asiakkaalle").click()
            client_code = cm.locator(".invite .total").inner_text().split(":")[-1].strip()
            client = someone()
            join(client, client_code, "Helmi Nieminen")
            expect(client.get_by_role("heading", level=1)).to_have_text("Oma budjetti")
            # The first month is pro-rated from the decision's first day (the money rules).
            balance = client.locator(".envelope__balance").first
            expect(balance).to_contain_text("€")
            before = cents(balance.inner_text())
            assert 0 < before <= 20_000

            # The client pays the provider's staff member at the door with a payment code.
            client.get_by_role("button", name="Näytä maksukoodi").click()
            pay_code = client.locator("#pay-code").inner_text().replace(" ", "")
            staff.get_by_label("Maksukoodi", exact=True).check()
            staff.get_by_label("Asiakkaan maksukoodi").fill(pay_code)
            staff.get_by_label("Siivous").check()
            expect(staff.get_by_label("Yksikköhinta")).to_have_value("32,50")
            staff.get_by_role("button", name="Veloita 32,50").click()
            expect(staff.get_by_role("heading", level=1)).to_have_text("Maksu onnistui")
            expect(balance).to_contain_text(euros(before - 3250), timeout=20000)

            # The case manager loses her phone: the admin issues a recovery invite, which
            # signs the old phone out at once; the new phone joins with the new code.
            admin.reload()  # the staff list as it is now: Kaisa has signed up since
            kaisa = admin.locator("#main li", has_text="Kaisa Koski")
            expect(kaisa).not_to_contain_text("Kutsu odottaa")
            kaisa.get_by_role("button", name="Kadonnut puhelin? Tee palautuskutsu").click()
            kaisa.get_by_role("button", name="Kyllä, tee palautuskutsu: Kaisa Koski").click()
            card = admin.locator("[data-invite]")
            expect(card.get_by_role("heading", level=2)).to_have_text("Kutsu: Kaisa Koski")
            new_code = card.locator("[data-code]").inner_text()
            cm.reload()
            expect(cm.get_by_role("heading", level=1)).to_have_text("Kirjaudu sisään")
            new_phone = someone()
            join(new_phone, new_code, "Kaisa Koski")
            expect(new_phone.locator("#nav").get_by_role("link", name="Asiakkaat")).to_be_visible()
        finally:
            for context in contexts:
                context.close()

    # The books of the new county balance.
    assert "OK" in wallet(env, "check").upper()
