"""Each role has its own words (issue 22): the glossary (pwa/glossary.json) gives one word per
concept in Finnish, Swedish and English, no text uses a variant it forbids, texts that speak to
the client about the client's own money are listed and stay off the screens of carers,
providers and case managers, and the three languages fill in the same {placeholders}."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parents[2]
PWA = ROOT / "pwa"
VIEWS = PWA / "static" / "js" / "views"
LANGS = ("fi", "sv", "en")


def _glossary() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PWA / "glossary.json").read_text(encoding="utf-8"))
    return data


def _strings() -> dict[str, dict[str, str]]:
    return {
        code: json.loads((PWA / "static" / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
        for code in LANGS
    }


def audience(key: str, people_keys: list[str]) -> str:
    """'people' (clients and carers) or 'staff': an entry ending in a dot names a group of
    keys, any other entry one key."""
    prefixes = tuple(k for k in people_keys if k.endswith("."))
    return "people" if key in people_keys or key.startswith(prefixes) else "staff"


PLACEHOLDER = re.compile(r"\{(\w+)\}")


def words_only(text: str) -> str:
    """The text without its {placeholders} (a name filled in is not a word of ours)."""
    return PLACEHOLDER.sub(" ", text)


def forbidden_hits(text: str, stems: list[str]) -> list[str]:
    """The stems that begin a word of the text: Finnish and Swedish inflect, so 'avustaj'
    catches avustaja, avustajan, avustajaksi…, but not a compound where it is not first."""
    plain = words_only(text)
    return [
        stem
        for stem in stems
        if re.search(rf"(?<![\w]){re.escape(stem)}", plain, flags=re.IGNORECASE)
    ]


def test_forbidden_hits_match_word_beginnings_in_any_inflection() -> None:
    assert forbidden_hits("Kutsu avustajasi", ["avustaj"]) == ["avustaj"]
    assert forbidden_hits("Palveluntuottajan hinta", ["tuottaj"]) == []
    assert forbidden_hits("Tuottajat tilan mukaan", ["tuottaj"]) == ["tuottaj"]
    assert forbidden_hits("{provider} veloitti", ["provider"]) == []


def test_every_glossary_entry_has_all_three_languages_and_a_known_audience() -> None:
    glossary = _glossary()
    assert len(glossary["terms"]) >= 12
    for term in glossary["terms"]:
        for code in LANGS:
            assert term.get(code, "").strip(), f"{term['concept']}: no {code} word"
        assert term["where"] in ("all", "people", "staff"), term["concept"]
        assert set(term.get("avoid", {})) <= set(LANGS), term["concept"]
        for code, stems in term.get("avoid", {}).items():
            # The chosen word itself may not be a forbidden variant of its own concept.
            assert not forbidden_hits(term[code], stems), (term["concept"], code)


def test_no_text_uses_a_variant_the_glossary_forbids() -> None:
    glossary = _glossary()
    people = glossary["people_keys"]
    bad: list[str] = []
    for code, strings in _strings().items():
        for key, text in strings.items():
            where = audience(key, people)
            for term in glossary["terms"]:
                if term["where"] not in ("all", where):
                    continue
                for stem in forbidden_hits(text, term.get("avoid", {}).get(code, [])):
                    bad.append(f"{code} {key} ({where}): '{stem}…' → {term[code]}: {text}")
    assert not bad, "\n".join(bad)


def test_the_languages_fill_in_the_same_placeholders() -> None:
    langs = _strings()
    differ = [
        f"{key}: fi {sorted(set(PLACEHOLDER.findall(fi)))} {code} "
        f"{sorted(set(PLACEHOLDER.findall(langs[code].get(key, ''))))}"
        for key, fi in langs["fi"].items()
        for code in ("sv", "en")
        if set(PLACEHOLDER.findall(fi)) != set(PLACEHOLDER.findall(langs[code].get(key, "")))
    ]
    assert not differ, "\n".join(differ)


# Finnish words that speak to the client about the client's own money, phone or budget.
YOU_ABOUT_MONEY = re.compile(
    r"(?<!\w)(budjet\w*si|saldo\w*si|puhelinnumero\w*si|raha\w*si|maksat|luotat|hyväksyntääsi)"
    r"(?!\w)",
    re.IGNORECASE,
)


def _addressed() -> tuple[set[str], set[str]]:
    listed = _glossary()["client_addressed"]
    return set(listed["keys"]), set(listed["handover"]["keys"])


def test_texts_that_speak_to_the_client_about_their_money_are_listed() -> None:
    fi = _strings()["fi"]
    addressed, handover = _addressed()
    assert addressed <= set(fi), addressed - set(fi)
    assert handover <= set(fi), handover - set(fi)
    found = {key for key, text in fi.items() if YOU_ABOUT_MONEY.search(words_only(text))}
    unlisted = found - addressed - handover
    assert not unlisted, f"list these in pwa/glossary.json client_addressed: {sorted(unlisted)}"
    assert "pay.byPhone" in found  # the pattern finds what it is for


# The view modules only carers, providers or case managers open (the client's and shared
# screens choose the client's or the "…For" text by role themselves; the browser test
# tests/e2e/test_role_wording.py reads those screens as each role).
NOT_THE_CLIENTS = [
    "carer-clients.js",
    "charge.js",
    "charges.js",
    "clients.js",
    "client-invite.js",
    "staff-shared.js",
    "apply.js",
    *sorted(p.name for p in VIEWS.glob("provider-*.js")),
    *sorted(p.name for p in VIEWS.glob("cm-*.js")),
]
IMPORT = re.compile(r'from\s+"\./([\w-]+\.js)"')
LITERAL = re.compile(r'"([a-zA-Z][\w.-]*)"|`([a-zA-Z][\w.-]*)`')


def keys_of(module: str, known: set[str], seen: set[str] | None = None) -> dict[str, str]:
    """Every text key a view module can show: any string literal that names a key (a key
    chosen in a ternary or kept in a constant counts too), and the keys of the view modules
    it imports, so a key reached through a shared helper is caught."""
    seen = set() if seen is None else seen
    if module in seen:
        return {}
    seen.add(module)
    source = (VIEWS / module).read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for line in source.splitlines():
        if line.lstrip().startswith("//"):
            continue
        for a, b in LITERAL.findall(line):
            if (a or b) in known:
                found.setdefault(a or b, module)
    for imported in IMPORT.findall(source):
        for key, where in keys_of(imported, known, seen).items():
            found.setdefault(key, where)
    return found


def test_carer_provider_and_case_manager_views_never_use_a_client_addressed_text() -> None:
    known = set(_strings()["fi"])
    addressed, handover = _addressed()
    assert len(NOT_THE_CLIENTS) > 15
    seen = 0
    for module in NOT_THE_CLIENTS:
        used = keys_of(module, known)
        seen += len(used)
        wrong = {k: where for k, where in used.items() if k in addressed}
        assert not wrong, f"{module} shows client-addressed texts: {wrong}"
        if module != "charge.js":
            hand = {k: where for k, where in used.items() if k in handover}
            assert not hand, f"{module} shows the PIN hand-over texts: {hand}"
    assert seen > 300
    # The provider's checkout does hand the phone over: those texts are there, and only there.
    assert {"pin.title", "pin.label"} <= set(keys_of("charge.js", known))


def test_the_static_check_sees_keys_chosen_in_a_ternary() -> None:
    known = set(_strings()["fi"])
    wallet = keys_of("wallet.js", known)
    assert {"pay.byPhone", "pay.byPhoneFor", "wallet.noEnvelopes"} <= set(wallet)


def _server_texts() -> dict[str, dict[str, str]]:
    """The texts the server writes in a person's language: problem titles (shown on any
    role's screen) and Web Push titles (on a client's or carer's lock screen)."""
    from notifications.push import TEXT
    from wallet_api.problems import TITLES

    texts: dict[str, dict[str, str]] = {code: {} for code in LANGS}
    for slug, by_lang in TITLES.items():
        for code in LANGS:
            texts[code][f"problem {slug}"] = by_lang[code]
    for code in LANGS:
        for kind, text in TEXT[code].items():
            texts[code][f"push {kind}"] = text
    return texts


def test_server_texts_use_the_glossary_words_too() -> None:
    glossary = _glossary()
    texts = _server_texts()
    assert len(texts["fi"]) > 40
    bad = [
        f"{code} {where}: '{stem}…' → {term[code]}: {text}"
        for code, by_where in texts.items()
        for where, text in by_where.items()
        for term in glossary["terms"]
        if term["where"] == "all"
        for stem in forbidden_hits(text, term.get("avoid", {}).get(code, []))
    ]
    assert not bad, "\n".join(bad)
