"""requirements.lock is what ``make install`` installs (issue 16, item 9): every dependency that
pyproject.toml names (runtime, the dev extra, the build backend) is pinned there at a version its
bounds allow, and every pin carries the hashes pip checks with ``--require-hashes``.
requirements-runtime.lock is what a server installs (docs/deploy.md): the runtime dependencies,
the build backend and pip, at the same versions, with hashes, and no test or development tool.
After a change to the dependencies, ``make lock`` brings the three together again."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
RUNTIME_LOCK = ROOT / "requirements-runtime.lock"
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def lock_entries(lock: Path = LOCK) -> list[tuple[str, list[str]]]:
    """Each requirement of the lock as (its first line, the lines it continues onto)."""
    entries: list[tuple[str, list[str]]] = []
    for line in lock.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if line[0].isspace():
            assert entries, f"a continuation line before any requirement: {line!r}"
            entries[-1][1].append(text)
        else:
            entries.append((text, []))
    return entries


def pins(lock: Path = LOCK) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for head, _ in lock_entries(lock):
        match = PIN.match(head)
        assert match, f"not an exact pin (name==version): {head!r}"
        found[canonicalize_name(match["name"])] = Version(match["version"])
    return found


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def declared(*, dev: bool = True) -> list[Requirement]:
    pyproject = _pyproject()
    names = [
        *pyproject["project"]["dependencies"],
        *(pyproject["project"]["optional-dependencies"]["dev"] if dev else []),
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


@pytest.mark.parametrize("lock", [LOCK, RUNTIME_LOCK], ids=lambda p: p.name)
def test_every_requirement_in_the_lock_has_hashes_and_nothing_else_slips_in(lock: Path) -> None:
    entries = lock_entries(lock)
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


# --- requirements-runtime.lock: what a server installs ----------------------------------------


def test_the_runtime_lock_has_every_runtime_dependency_the_build_backend_and_pip() -> None:
    runtime = pins(RUNTIME_LOCK)
    missing = [
        str(req) for req in declared(dev=False) if canonicalize_name(req.name) not in runtime
    ]
    assert missing == [], f"not in requirements-runtime.lock (run `make lock`): {missing}"
    assert "pip" in runtime


def test_the_runtime_lock_pins_exactly_the_full_locks_versions() -> None:
    full, runtime = pins(), pins(RUNTIME_LOCK)
    differ = {
        name: (str(version), str(full.get(name)))
        for name, version in runtime.items()
        if full.get(name) != version
    }
    assert differ == {}, f"runtime lock version vs requirements.lock's (run `make lock`): {differ}"


def test_the_runtime_lock_holds_no_test_or_development_tool() -> None:
    """Nothing of the dev extra, nor what only it pulls in (pytest's own dependencies)."""
    runtime = pins(RUNTIME_LOCK)
    dev = {
        canonicalize_name(Requirement(t).name)
        for t in _pyproject()["project"]["optional-dependencies"]["dev"]
    }
    # Two of the dev extra are libraries the runtime needs too: litestar's test client is built
    # on httpx, and pywebpush encrypts with http-ece.
    tools = (dev - {"httpx", "http-ece"}) | {"pytest", "pluggy", "iniconfig", "playwright"}
    assert sorted(tools & runtime.keys()) == []
    assert len(runtime) < len(pins())


def test_the_runtime_locks_hashes_are_the_full_locks_for_each_pin() -> None:
    """The same files: a pin's hashes in the runtime lock are among the full lock's."""

    def hashes(lock: Path) -> dict[str, set[str]]:
        return {
            canonicalize_name(PIN.match(head)["name"]): set(HASH.findall(" ".join(rest)))
            for head, rest in lock_entries(lock)
        }

    full, runtime = hashes(LOCK), hashes(RUNTIME_LOCK)
    extra = {name: found - full[name] for name, found in runtime.items() if found - full[name]}
    assert extra == {}


def test_make_lock_writes_the_runtime_lock_constrained_by_the_full_one() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^lock:\n(?P<recipe>(?:\t.*\n)+)", makefile, re.M)
    assert recipe, "the lock rule is gone"
    assert "RUNTIME_LOCK := requirements-runtime.lock" in makefile
    text = recipe["recipe"]
    assert "--constraint $(LOCK)" in text and "-o $(RUNTIME_LOCK)" in text
    assert text.index("-o $(LOCK)") < text.index("-o $(RUNTIME_LOCK)")


def test_the_deploy_doc_installs_the_runtime_lock_with_hash_checking() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    installs = [line for line in doc.splitlines() if "bin/pip install" in line]
    assert len(installs) >= 2
    assert any("--require-hashes -r /opt/wallet/requirements-runtime.lock" in i for i in installs)
    # The app itself without resolving anything again, and with the locked build backend (an
    # isolated build would fetch setuptools unhashed): nothing is installed without a hash.
    for line in installs:
        assert "--require-hashes" in line or (
            "--no-deps" in line and "--no-build-isolation" in line
        ), line
