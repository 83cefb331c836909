"""requirements.lock is what ``make install`` installs (issue 16, item 9): every dependency that
pyproject.toml names (runtime, the dev extra, the build backend) is pinned there at a version its
bounds allow, and every pin carries the hashes pip checks with ``--require-hashes``. After a
change to the dependencies, ``make lock`` brings the two together again."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def lock_entries() -> list[tuple[str, list[str]]]:
    """Each requirement of the lock as (its first line, the lines it continues onto)."""
    entries: list[tuple[str, list[str]]] = []
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if line[0].isspace():
            assert entries, f"a continuation line before any requirement: {line!r}"
            entries[-1][1].append(text)
        else:
            entries.append((text, []))
    return entries


def pins() -> dict[str, Version]:
    found: dict[str, Version] = {}
    for head, _ in lock_entries():
        match = PIN.match(head)
        assert match, f"not an exact pin (name==version): {head!r}"
        found[canonicalize_name(match["name"])] = Version(match["version"])
    return found


def declared() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = [
        *pyproject["project"]["dependencies"],
        *pyproject["project"]["optional-dependencies"]["dev"],
        *pyproject["build-system"]["requires"],
    ]
    return [Requirement(text) for text in names]


def test_every_dependency_in_pyproject_is_pinned_in_the_lock_within_its_bounds() -> None:
    locked = pins()
    missing = [str(req) for req in declared() if canonicalize_name(req.name) not in locked]
    assert missing == [], f"not in requirements.lock (run `make lock`): {missing}"
    outside = [
        f"{req} but locked {locked[canonicalize_name(req.name)]}"
        for req in declared()
        if not req.specifier.contains(locked[canonicalize_name(req.name)], prereleases=True)
    ]
    assert outside == [], f"locked outside pyproject's bounds (run `make lock`): {outside}"


def test_pip_itself_is_locked_so_the_installer_is_the_same_everywhere() -> None:
    assert "pip" in pins()


def test_every_requirement_in_the_lock_has_hashes_and_nothing_else_slips_in() -> None:
    entries = lock_entries()
    assert len(entries) > 50
    for head, rest in entries:
        assert not head.startswith("-"), f"an option line pip would take as a source: {head!r}"
        hashes = [line for line in rest if not line.startswith("#")]
        assert hashes, f"{head!r} has no --hash"
        for line in hashes:
            assert HASH.fullmatch(line.removesuffix("\\").strip()), (
                f"{head!r}: {line!r} is not a sha256 hash"
            )
    assert len({canonicalize_name(PIN.match(head)["name"]) for head, _ in entries}) == len(entries)


def test_make_install_installs_the_lock_with_hash_checking_and_the_project_without_deps() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    stamp = re.search(r"^\$\(STAMP\):(?P<deps>.*)\n(?P<recipe>(?:\t.*\n)+)", makefile, re.M)
    assert stamp, "the install stamp rule is gone"
    assert "$(LOCK)" in stamp["deps"] and "pyproject.toml" in stamp["deps"]
    assert "LOCK := requirements.lock" in makefile
    installs = [line for line in stamp["recipe"].splitlines() if "pip install" in line]
    assert "--require-hashes -r $(LOCK)" in installs[0]
    assert all("--no-deps" in line for line in installs[1:]), installs
