"""Every text key the app's modules use exists in Finnish, Swedish and English, and the three
files hold the same keys (a screen never shows a raw key or falls back to another language)."""

from __future__ import annotations

import json
import re
from pathlib import Path

STATIC = Path(__file__).parents[2] / "pwa" / "static"
KEY = re.compile(r'\bt\("([a-zA-Z][\w.-]*)"')


def _strings() -> dict[str, dict[str, str]]:
    return {
        code: json.loads((STATIC / "i18n" / f"{code}.json").read_text(encoding="utf-8"))
        for code in ("fi", "sv", "en")
    }


def test_every_used_key_is_translated() -> None:
    used: dict[str, str] = {}
    for module in sorted((STATIC / "js").rglob("*.js")):
        for line in module.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("//"):
                continue  # examples in comments
            for key in KEY.findall(line):
                used.setdefault(key, module.name)
    assert len(used) > 300
    for code, strings in _strings().items():
        missing = {k: where for k, where in used.items() if k not in strings}
        assert not missing, f"{code}.json lacks {missing}"


def test_the_languages_have_the_same_keys_and_no_empty_text() -> None:
    langs = _strings()
    fi = set(langs["fi"])
    for code in ("sv", "en"):
        assert set(langs[code]) == fi, f"{code} differs: {set(langs[code]) ^ fi}"
    for code, strings in langs.items():
        empty = [k for k, v in strings.items() if not v.strip()]
        assert not empty, f"{code}: empty texts {empty}"


PLURAL = re.compile(r'\btn\("([a-zA-Z][\w.-]*)"')


def test_counts_are_plural_forms_chosen_by_intl_plural_rules() -> None:
    """A count in words goes through tn() (i18n.js, Intl.PluralRules): each key it uses has a
    ".one" and an ".other" form in every language, and no text outside such a pair holds a
    {count} (the "1 entries" of old)."""
    used: dict[str, str] = {}
    for module in sorted((STATIC / "js").rglob("*.js")):
        for key in PLURAL.findall(module.read_text(encoding="utf-8")):
            used.setdefault(key, module.name)
    assert {"cm.audit.count", "settlements.lines", "pay.left", "directory.count"} <= set(used)
    for code, strings in _strings().items():
        for key, where in used.items():
            for form in ("one", "other"):
                assert f"{key}.{form}" in strings, f"{code}.json lacks {key}.{form} ({where})"
        loose = [
            k for k, v in strings.items() if "{count}" in v and not k.endswith((".one", ".other"))
        ]
        assert not loose, f"{code}: counts outside a plural pair: {loose}"
    # English says "1 entry" but "2 entries": its two forms always differ.
    en = _strings()["en"]
    for key in used:
        assert en[f"{key}.one"] != en[f"{key}.other"], key
