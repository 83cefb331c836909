"""/i18n/{lang}.first.{view}.json: a first screen's texts, served before the whole language file
(pwa.first_strings; the browser side is tests/e2e/test_fast_start.py)."""

from __future__ import annotations

import json

import pwa

WHOLE = {
    lang: json.loads((pwa.STATIC_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    for lang in pwa.LANGS
}


def test_the_first_texts_are_a_part_of_the_whole_with_the_same_keys_in_each_language() -> None:
    assert set(pwa.first_views()) == {"wallet", "charge", "clients"}
    for view in pwa.first_views():
        firsts = {lang: pwa.first_strings(lang, view) for lang in pwa.LANGS}
        assert set(firsts["fi"]) == set(firsts["sv"]) == set(firsts["en"])
        for lang, first in firsts.items():
            assert first.items() <= WHOLE[lang].items()
            # Small enough to be worth a file of its own (measured: a tenth to a seventh).
            assert len(json.dumps(first)) < len(json.dumps(WHOLE[lang])) / 4, view


def test_they_hold_what_the_first_screens_name_and_not_what_other_screens_do() -> None:
    first = pwa.first_strings("fi")
    names = {p.name for p in pwa.first_screen_files()}
    assert {"index.html", "app.js", "wallet.js", "charge.js", "clients.js"} <= names
    # Written out, built from a start (`nav.${…}`), and a count's two forms.
    assert "app.name" in first and "wallet.title" in first
    assert {k for k in WHOLE["fi"] if k.startswith("nav.")} <= set(first)
    assert "cm.clients.count.one" in first and "cm.clients.count.other" in first
    # A screen the early start never draws first: its own texts wait for the whole file.
    assert not [k for k in first if k.startswith("cm.audit.")]
    # Each first screen's file: the shell's texts and its own, not the other two screens'.
    charge, clients = pwa.first_strings("fi", "charge"), pwa.first_strings("fi", "clients")
    assert {k for k in WHOLE["fi"] if k.startswith("nav.")} <= set(charge) & set(clients)
    assert "charge.submit" in charge and "charge.submit" not in clients
    assert "cm.clients.search" in clients and "cm.clients.search" not in charge
    # The new client's form is not on the list (cm-new-client.js): its texts wait too.
    assert "clients.create" not in clients
    views = {p.name for p in pwa.first_screen_files("charge") if p.parent.name == "views"}
    assert views == {"charge.js"}
    # forms.js comes with the first screens that have a form (code(["charge", "../forms"])),
    # not with the balances; its texts come with it.
    shell = {p.relative_to(pwa.STATIC_DIR).as_posix() for p in pwa.first_screen_files("charge")}
    assert "js/forms.js" in shell
    assert "js/forms.js" not in {
        p.relative_to(pwa.STATIC_DIR).as_posix() for p in pwa.first_screen_files("wallet")
    }
    assert "errors.title" in charge and "errors.title" in clients


async def test_served_with_a_validator_and_revalidated(client) -> None:
    r = await client.get("/i18n/sv.first.charge.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == pwa.first_strings("sv", "charge")
    assert r.headers["cache-control"] == "no-cache"
    again = await client.get(
        "/i18n/sv.first.charge.json", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    assert (await client.get("/i18n/de.first.charge.json")).status_code == 404
    assert (await client.get("/i18n/sv.first.settings.json")).status_code == 404
