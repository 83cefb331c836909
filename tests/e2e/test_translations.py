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
