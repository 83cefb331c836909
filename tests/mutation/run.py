"""Mutation testing of the money modules: mutmut, one module at a time, each with its own tests.

    .venv/bin/python -m tests.mutation.run                 # every module, then the report
    .venv/bin/python -m tests.mutation.run payments/books.py   # one module (report keeps the rest)
    .venv/bin/python -m tests.mutation.run --report-only   # rebuild the report from the results
    .venv/bin/python -m tests.mutation.run --restore       # results back from the report

mutmut generates the mutants and runs them. It reads its settings from ``pyproject.toml`` in the
working directory and writes everything to ``mutants/`` there, so each module gets its own
scratch directory ``.mutation/<module>/`` with a ``pyproject.toml`` whose ``[tool.mutmut]``
names that module and its tests (``tests/mutation/modules.toml``). The sources and tests are
symlinked in; mutmut copies them into ``mutants/`` and puts that first on ``sys.path``.

Tests run on SQLite only (``WALLET_TEST_ENGINES=sqlite``). The results of each module are kept
in ``.mutation/results/<module>.json`` (status and diff of each mutant), so the report can be
rebuilt, and a module rerun, without rerunning the rest. The report is
``docs/mutation-report.md``; the reasons for the survivors that are left come from
``tests/mutation/survivors.toml``.

``.mutation/`` is not kept in git. When its results are gone (a fresh checkout), ``--restore``
reads the modules' last figures and survivors back from the committed report, marked with the
date of the run they come from, so running one module does not drop the others' rows;
``--recheck`` then reruns those survivors (by name, in a fresh scratch directory) with the
tests as they are now.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = ROOT / ".mutation"
RESULTS = WORK / "results"
REPORT = ROOT / "docs" / "mutation-report.md"
VENV_BIN = ROOT / ".venv" / "bin"
# What the tests import besides the mutated module: symlinked into each scratch directory.
LINKED = ["payments", "wallet_api", "notifications", "pwa", "tests"]

# A survivor in the report: its name, its status when not "survived", and its diff.
DETAIL_RE = re.compile(
    r"<details><summary><code>(?P<name>[^<]+)</code>(?: \((?P<status>[^)]+)\))?</summary>"
    r"\n\n```diff\n(?P<diff>.*?)\n```\n\n</details>",
    re.S,
)

# mutmut's exit codes of a mutant's test run, as its own status names.
KILLED = {"killed", "timeout", "segfault", "caught by type check"}


def load_modules() -> dict[str, list[str]]:
    data = tomllib.loads((HERE / "modules.toml").read_text("utf-8"))
    return {name: entry["tests"] for name, entry in data["modules"].items()}


def load_reasons() -> list[tuple[list[str], str, str]]:
    """(mutant name patterns, verdict, reason) for each explained group of survivors."""
    path = HERE / "survivors.toml"
    if not path.exists():
        return []
    data = tomllib.loads(path.read_text("utf-8"))
    return [(g["mutants"], g["verdict"], g["reason"].strip()) for g in data.get("group", [])]


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def scratch_pyproject(modules: dict[str, list[str]]) -> str:
    base = (ROOT / "pyproject.toml").read_text("utf-8")
    tests = sorted({t for files in modules.values() for t in files})
    settings = {
        "source_paths": ["payments"],
        "only_mutate": list(modules),
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": [
            # The slowest test these lists hold takes under 3 s alone here: a test still
            # running after 20 s is a mutant that hangs (a lock never released, a loop that
            # never ends), and counts as a timeout at once rather than after minutes.
            *("-p", "no:cacheprovider", "-p", "tests.mutation.plugin", "--timeout=20"),
        ],
        "use_git_change_detection": False,
        # mypy --strict is a commit gate for payments/ (docs/ and COMMON rules): a mutant it
        # rejects could never be committed, so mutmut counts it as caught without running
        # tests. About half of all mutants; the report shows them apart.
        "type_check_command": [
            str(VENV_BIN / "python"),
            "-m",
            "mypy",
            "payments",
            "--output",
            "json",
            # mutmut's trampolines carry "type: ignore" comments that strict mypy finds unused.
            "--no-warn-unused-ignores",
        ],
        # mutmut's own limit, in CPU seconds: (the tests' time + 5) x 2 x 2.
        "timeout_multiplier": 2.0,
        "timeout_constant": 5.0,
    }
    lines = ["", "[tool.mutmut]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return base + "\n".join(lines) + "\n"


def run_selection(
    modules: dict[str, list[str]],
    children: int,
    *,
    collect_only: bool = False,
    resume: bool = False,
    recheck: bool = False,
    work_name: str | None = None,
    unexplained_only: bool = False,
    rerun_explained: bool = False,
) -> int:
    """One mutmut run over ``modules`` (each judged by its own tests); returns its seconds.

    ``resume`` and ``recheck`` continue the full run in ``.mutation/all``."""
    whole = len(modules) > 1 or resume or recheck
    work = WORK / (work_name or ("all" if whole else slug(next(iter(modules)))))
    env = {
        **os.environ,
        "WALLET_TEST_ENGINES": "sqlite",
        "PYTHONDONTWRITEBYTECODE": "1",
        # mutmut starts pytest afresh for every mutant: loading every installed plugin by its
        # entry point (playwright, schemathesis, hypothesis, ...) each time doubles the cost
        # of a mutant whose first test kills it. The tests run here need only these two.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTEST_ADDOPTS": "-p pytest_asyncio.plugin -p pytest_timeout",
    }
    env.pop("CI", None)
    seconds = 0
    # A recheck with no earlier run to continue (its scratch directory is gone): rerun, by name,
    # the survivors the results (or the restored report) list, in a fresh scratch directory.
    # Its names are kept in the scratch directory, so a stopped recheck can still be collected.
    names_file = work / "recheck-names.json"
    from_results = recheck and (not (work / "mutants").exists() or names_file.exists())
    names: list[str] = []
    if not collect_only:
        if (resume or recheck) and not from_results and work.exists():
            # Go on where a run stopped (mutmut keeps the verdicts so far). Test files taken
            # out of a module's list since are dropped; files added need a fresh run.
            (work / "modules.json").write_text(json.dumps(load_modules()), "utf-8")
        else:
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            for name in LINKED:
                (work / name).symlink_to(ROOT / name)
            (work / "pyproject.toml").write_text(scratch_pyproject(modules), "utf-8")
            (work / "modules.json").write_text(json.dumps(modules), "utf-8")
            if not recheck and not rerun_explained:
                explained = explained_survivors()
                (work / "explained.json").write_text(json.dumps(explained), "utf-8")
        started = time.monotonic()
        if from_results:
            names = survivors_in_results(modules, unexplained=unexplained_only)
            if not names:
                raise SystemExit("no survivors in the results of these modules to recheck")
            names_file.write_text(json.dumps(names), "utf-8")
        elif recheck:
            # Run again the mutants that survived, with the tests as they are now, and the
            # ones not run yet.
            for module in modules:
                meta = json.loads((work / "mutants" / (module + ".meta")).read_text("utf-8"))
                names += [n for n, c in meta["exit_code_by_key"].items() if c in (None, 0, 5, 33)]
        log = work / ("mutmut-recheck.log" if recheck else "mutmut.log")
        with log.open("w") as out:
            proc = subprocess.run(
                [
                    "nice",
                    "-n",
                    "10",
                    str(VENV_BIN / "python"),
                    str(HERE / "driver.py"),
                    "run",
                    "--max-children",
                    str(children),
                    *names,
                ],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        seconds = round(time.monotonic() - started)
        if proc.returncode != 0:
            tail = log.read_text("utf-8", "replace")[-3000:]
            raise SystemExit(f"mutmut failed (exit {proc.returncode}):\n{tail}")
        if recheck:
            print(f"rechecked {len(names)} survivors in {seconds} s", flush=True)
        elif len(modules) > 1:
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "run.json").write_text(
                json.dumps(
                    {
                        "seconds": seconds,
                        "finished": f"{datetime.now(UTC):%Y-%m-%d %H:%M}",
                        "modules": list(modules),
                    }
                ),
                "utf-8",
            )
    if from_results and collect_only:
        names = json.loads(names_file.read_text("utf-8"))
    for module, tests in modules.items():
        if from_results:
            merge_recheck(module, work, names)
        else:
            collect(module, tests, work, env, seconds)
    return seconds


def explained_survivors() -> dict[str, str]:
    """Each survivor of the last report that survivors.toml explains as equivalent or not worth
    a test, with its diff: driver.py does not run such a mutant again while its diff is the
    same (it would survive again, after running every test of its module that reaches it)."""
    if not REPORT.exists():
        return {}
    explained = [
        patterns
        for patterns, verdict, _ in load_reasons()
        if not verdict.startswith(("Test written", "To check"))
    ]
    return {
        m["name"]: m["diff"]
        for m in DETAIL_RE.finditer(REPORT.read_text("utf-8"))
        if any(_matches(m["name"], p) for p in explained)
    }


def survivors_in_results(modules: dict[str, list[str]], *, unexplained: bool) -> list[str]:
    """The survivors the results list; with ``unexplained``, only those that survivors.toml
    does not explain as equivalent or not worth a test (a test was written for them since,
    they are left to check, or no group names them): the others would only survive again,
    each running every test of its module."""
    explained = [
        patterns
        for patterns, verdict, _ in load_reasons()
        if not verdict.startswith(("Test written", "To check"))
    ]
    names = []
    for module in modules:
        path = RESULTS / f"{slug(module)}.json"
        if path.exists():
            mutants = json.loads(path.read_text("utf-8"))["mutants"]
            names += [
                n
                for n, m in mutants.items()
                if m["status"] not in KILLED | {"not checked"}
                and not (unexplained and any(_matches(n, p) for p in explained))
            ]
    return names


def merge_recheck(module: str, work: Path, names: list[str]) -> None:
    """Update the named mutants of ``module``'s results with the verdicts of a recheck run
    (the other mutants were not run again: their verdicts stand)."""
    path = RESULTS / f"{slug(module)}.json"
    meta_path = work / "mutants" / (module + ".meta")
    if not path.exists() or not meta_path.exists():
        return
    from mutmut.stats import status_by_exit_code

    result = json.loads(path.read_text("utf-8"))
    codes = json.loads(meta_path.read_text("utf-8"))["exit_code_by_key"]
    changed = 0
    for name in names:
        if name in result["mutants"] and name in codes and codes[name] is not None:
            status = status_by_exit_code[codes[name]]
            entry = result["mutants"][name]
            changed += entry["status"] != status
            entry["status"] = status
    result["rechecked"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    path.write_text(json.dumps(result, indent=1), "utf-8")
    print(f"  {module}: recheck changed {changed} verdict(s)", flush=True)


def collect(
    module: str, tests: list[str], work: Path, env: dict[str, str], seconds: int
) -> dict[str, object]:
    """Read mutmut's verdicts for ``module`` from its scratch directory into the results."""
    meta_path = work / "mutants" / (module + ".meta")
    meta = json.loads(meta_path.read_text("utf-8"))
    # mutmut reads its configuration from the working directory.
    here = Path.cwd()
    os.chdir(work)
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant
        from mutmut.stats import status_by_exit_code

        codes: dict[str, int | None] = meta["exit_code_by_key"]
        mutants = {}
        for name, code in sorted(codes.items(), key=lambda kv: _order(kv[0])):
            status = status_by_exit_code[code]
            diff = ""
            if status not in KILLED and status != "not checked":
                diff = get_diff_for_mutant(name, path=module)
            mutants[name] = {"status": status, "diff": diff}
    finally:
        os.chdir(here)
    # The time spent on this module's mutants (the run's own time is shared by all modules).
    test_seconds = round(sum(v for v in meta.get("durations_by_key", {}).values() if v))
    result = {
        "module": module,
        "tests": tests,
        "seconds": test_seconds,
        "run_seconds": seconds,
        "run": f"{datetime.now(UTC):%Y-%m-%d}",
        "mutants": mutants,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{slug(module)}.json").write_text(json.dumps(result, indent=1), "utf-8")
    return result


def _order(name: str) -> tuple[str, int]:
    stem, _, number = name.rpartition("__mutmut_")
    return (stem, int(number) if number.isdigit() else 0)


def _matches(name: str, patterns: list[str]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(name, p) for p in patterns)


def write_report(modules: dict[str, list[str]]) -> tuple[int, int]:
    reasons = load_reasons()
    rows = []
    survivors: list[tuple[str, str, str, str]] = []  # module, name, status, diff
    total_killed = total_all = total_typed = total_unchecked = 0
    restored: list[str] = []
    for module in modules:
        path = RESULTS / f"{slug(module)}.json"
        if not path.exists():
            rows.append(f"| `{module}` | not run | | | | | | |")
            continue
        result = json.loads(path.read_text("utf-8"))
        mutants = result["mutants"]
        # A result restored from an earlier report lists only its survivors; the killed
        # mutants are counted in "unlisted" (their names were never in the report).
        unlisted = result.get("unlisted", {"total": 0, "typed": 0})
        killed = unlisted["total"] + sum(1 for m in mutants.values() if m["status"] in KILLED)
        typed = unlisted["typed"] + sum(
            1 for m in mutants.values() if m["status"] == "caught by type check"
        )
        unchecked = sum(1 for m in mutants.values() if m["status"] == "not checked")
        total = unlisted["total"] + len(mutants)
        total_killed += killed
        total_typed += typed
        total_all += total
        total_unchecked += unchecked
        run_here = total - unchecked
        rate = 100 * killed / run_here if run_here else 0.0
        note = f" ({unchecked} not run yet)" if unchecked else ""
        run = result.get("run", "")
        if "restored" in result:
            run += " *"
            restored.append(module)
        if "rechecked" in result:
            run += f", survivors rechecked {result['rechecked']}"
        rows.append(
            f"| `{module}` | {total} | {typed} | {killed - typed} | {total - killed}{note} |"
            f" {rate:.1f} % | {result['seconds'] // 60} min {result['seconds'] % 60:02d} s |"
            f" {run} |"
        )
        for name, m in mutants.items():
            if m["status"] not in KILLED and m["status"] != "not checked":
                survivors.append((module, name, m["status"], m["diff"]))
    tried = total_all - total_unchecked
    overall = 100 * total_killed / tried if tried else 0.0

    out = [
        "# Mutation report (generated)",
        "",
        "Generated by `make mutation` (`tests/mutation/run.py`, mutmut "
        f"{_mutmut_version()}) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Do not edit by hand:",
        "the reasons for the survivors live in `tests/mutation/survivors.toml`, the tests run for",
        "each module in `tests/mutation/modules.toml`. How to run it: `docs/reliability.md`.",
        "",
        "Each module's mutants are run against its own tests only, on SQLite. A mutant is",
        "*killed* when a test fails (or times out) with it in place, or when `mypy --strict`",
        "rejects it: mypy strict is a commit gate for `payments/`, so such a bug could not be",
        "committed (`payments.x__mutmut_3 = None` where a date is needed, a dropped argument).",
        "mutmut runs mypy once over all mutants first and does not test the ones it rejects.",
        "A survivor explained in survivors.toml as equivalent or not worth a test is not run",
        "again while its diff is unchanged: it is marked *(skipped)* and still counts as not",
        "killed (`--rerun-explained` runs them too).",
        "",
        f"**Overall: {total_killed} of {tried} mutants killed, {overall:.1f} %** "
        f"({total_typed} rejected by mypy, {total_killed - total_typed} killed by tests). "
        + _run_time(),
        *(
            ["", f"**{total_unchecked} mutants were not run yet** (the run was stopped)."]
            if total_unchecked
            else []
        ),
        "",
        "The time of a module is the time its mutants' tests took (two at a time, on a shared",
        "2-core machine); the whole run also spends one pass over every selected test first.",
        "",
        "| module | mutants | rejected by mypy | killed by tests | not killed | killed % | time"
        " | run |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        *(
            [
                "\\* Figures of that day's run, kept from the report it wrote (`run.py",
                "--restore`): its result files in `.mutation/` are not kept in git. The report",
                "lists only the survivors by name; a recheck reruns them with today's tests.",
                "",
            ]
            if restored
            else []
        ),
        "## Survivors",
        "",
    ]
    if not survivors:
        out.append("None.")
    groups: dict[int, list[tuple[str, str, str, str]]] = {}
    unexplained: list[tuple[str, str, str, str]] = []
    for item in survivors:
        for index, (patterns, _, _) in enumerate(reasons):
            if _matches(item[1], patterns):
                groups.setdefault(index, []).append(item)
                break
        else:
            unexplained.append(item)
    for index, items in sorted(groups.items()):
        _, verdict, reason = reasons[index]
        out += [f"### {verdict}: {len(items)} mutant(s)", "", reason, ""]
        out += _diffs(items)
    if unexplained:
        out += [f"### Not yet explained: {len(unexplained)} mutant(s)", ""]
        out += _diffs(unexplained)
    REPORT.write_text("\n".join(out).rstrip() + "\n", "utf-8")
    return total_killed, total_all


def restore_from_report(modules: dict[str, list[str]]) -> list[str]:
    """Write ``.mutation/results/`` back from the committed report for each module that has no
    results: its row's counts and its survivors with their diffs. Returns the modules restored.
    """
    text = REPORT.read_text("utf-8")
    day = re.search(r" on (\d{4}-\d{2}-\d{2}) \d{2}:\d{2} UTC", text)
    row_re = re.compile(
        r"^\| `(?P<module>[^`]+)` \| (?P<total>\d+) \| (?P<typed>\d+) \| (?P<tested>\d+) \|"
        r" (?P<left>\d+)(?: \((?P<unrun>\d+) not run yet\))? \| [\d.]+ % \|"
        r" (?P<min>\d+) min (?P<sec>\d+) s \|(?: (?P<run>[^|*]*?)(?: \*)?(?:, [^|]*)? \|)?$",
        re.M,
    )
    survivors: dict[str, dict[str, dict[str, str]]] = {}
    for m in DETAIL_RE.finditer(text):
        name = m["name"]
        owner = re.split(r"\.x[_ǁ]", name, maxsplit=1)[0]
        survivors.setdefault(owner, {})[name] = {
            "status": m["status"] or "survived",
            "diff": m["diff"],
        }
    restored = []
    for m in row_re.finditer(text):
        module = m["module"]
        path = RESULTS / f"{slug(module)}.json"
        if module not in modules or path.exists() or m["unrun"]:
            continue  # a module the run had not finished is better run again
        listed = survivors.get(slug(module), {})
        total, typed, left = int(m["total"]), int(m["typed"]), int(m["left"])
        if len(listed) != left:
            raise SystemExit(f"{module}: {left} survivors in its row, {len(listed)} listed")
        result = {
            "module": module,
            "tests": modules[module],
            "seconds": int(m["min"]) * 60 + int(m["sec"]),
            "run_seconds": 0,
            "run": (m["run"] or "").strip() or (day[1] if day else ""),
            "restored": "docs/mutation-report.md",
            "unlisted": {"total": total - left, "typed": typed},
            "mutants": listed,
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1), "utf-8")
        restored.append(module)
    return restored


def _run_time() -> str:
    path = RESULTS / "run.json"
    if not path.exists():
        return ""
    run = json.loads(path.read_text("utf-8"))
    seconds = int(run["seconds"])
    return (
        f"Last full run: {seconds // 60} min {seconds % 60:02d} s (finished {run['finished']} UTC)."
    )


def _diffs(items: list[tuple[str, str, str, str]]) -> list[str]:
    out = []
    for module, name, status, diff in items:
        note = "" if status == "survived" else f" ({status})"
        out += [f"<details><summary><code>{name}</code>{note}</summary>", "", "```diff"]
        out += [diff or f"(no diff; see `{module}`)", "```", "", "</details>", ""]
    return out


def _mutmut_version() -> str:
    from importlib.metadata import version

    return version("mutmut")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="module paths (default: all)")
    parser.add_argument("--children", type=int, default=2, help="mutants run at once")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--collect-only", action="store_true", help="reread the verdicts of a finished run"
    )
    parser.add_argument("--resume", action="store_true", help="go on with a stopped run")
    parser.add_argument("--work", help="scratch directory under .mutation/ (default: all)")
    parser.add_argument(
        "--recheck", action="store_true", help="rerun the survivors of a run with today's tests"
    )
    parser.add_argument(
        "--unexplained-only",
        action="store_true",
        help="with --recheck: skip the survivors survivors.toml explains as equivalent",
    )
    parser.add_argument(
        "--rerun-explained",
        action="store_true",
        help="run the survivors survivors.toml explains too (skipped by default if unchanged)",
    )
    parser.add_argument(
        "--restore",
        action="store_true",
        help="read the results of modules that have none back from the committed report",
    )
    args = parser.parse_args()
    modules = load_modules()
    chosen = args.modules or list(modules)
    unknown = [m for m in chosen if m not in modules]
    if unknown:
        raise SystemExit(f"not in tests/mutation/modules.toml: {unknown}")
    started = time.monotonic()
    if args.restore:
        for module in restore_from_report(modules):
            print(f"  {module}: restored from {REPORT.relative_to(ROOT)}", flush=True)
        if not args.report_only:
            return
    if not args.report_only:
        selection = {m: modules[m] for m in chosen}
        print(f"mutating {len(selection)} module(s)", flush=True)
        run_selection(
            selection,
            args.children,
            collect_only=args.collect_only,
            resume=args.resume,
            recheck=args.recheck,
            work_name=args.work,
            unexplained_only=args.unexplained_only,
            rerun_explained=args.rerun_explained,
        )
        for module in chosen:
            result = json.loads((RESULTS / f"{slug(module)}.json").read_text("utf-8"))
            mutants = result["mutants"]
            killed = sum(1 for m in mutants.values() if m["status"] in KILLED)
            print(f"  {module}: {killed}/{len(mutants)} killed", flush=True)
    killed, total = write_report(modules)
    minutes = (time.monotonic() - started) / 60
    print(
        f"overall {killed}/{total} killed ({100 * killed / max(total, 1):.1f} %);"
        f" this run {minutes:.1f} min; report: {REPORT.relative_to(ROOT)}"
    )
    sys.exit(0)


if __name__ == "__main__":
    main()
