"""Every ``WALLET_*`` environment variable the code reads is in the README's Configuration
table (issue 16). The code is scanned, not listed, so a setting added anywhere fails here
until it is documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("payments", "wallet_api", "notifications", "pwa")
NAME = re.compile(r"WALLET_[A-Z0-9_]*[A-Z0-9]")


def variables_in_code() -> dict[str, str]:
    """Every string literal that is exactly a WALLET_* name (what os.environ is asked for),
    with the file it first appears in."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and NAME.fullmatch(node.value)
                ):
                    found.setdefault(node.value, str(path.relative_to(ROOT)))
    return found


def documented() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `WALLET_")]
    return {m for row in rows for m in re.findall(r"`(WALLET_[A-Z0-9_]+)`", row.split("|")[1])}


def test_the_scan_finds_settings_wherever_they_are_read():
    found = variables_in_code()
    assert found["WALLET_DATABASE_URL"].startswith("payments/")
    assert found["WALLET_API_KEY_CACHE_SECONDS"] == "payments/people/access.py"
    assert "WALLET_METRICS_TOKEN" in found and "WALLET_ORIGIN" in found


def test_every_setting_the_code_reads_is_in_the_readme():
    missing = {
        name: where for name, where in variables_in_code().items() if name not in documented()
    }
    assert not missing, (
        "document these in README.md's Configuration table (name, default, meaning): "
        + ", ".join(f"{name} (read in {where})" for name, where in sorted(missing.items()))
    )


def _mentioned_outside_the_readme() -> str:
    """The text of every other file of the project (scripts and deploy files read settings
    too, not only Python)."""
    skip = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
    texts = []
    for path in ROOT.rglob("*"):
        if not path.is_file() or skip.intersection(path.relative_to(ROOT).parts):
            continue
        if (path.name == "README.md" and path.parent == ROOT) or path.stat().st_size > 1_000_000:
            continue
        texts.append(path.read_text(encoding="utf-8", errors="ignore"))
    return "\n".join(texts)


def test_the_readme_documents_nothing_that_is_gone():
    elsewhere = _mentioned_outside_the_readme()
    stale = {name for name in documented() if not re.search(rf"\b{name}\b", elsewhere)}
    assert not stale, f"README.md documents settings nothing reads: {sorted(stale)}"
