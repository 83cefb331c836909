"""``mutmut run`` with each module's mutants tested by that module's tests only.

Started by ``tests/mutation/run.py`` in a scratch directory (as a script, so that the ``tests``
package is only ever imported by pytest, from mutmut's copy). mutmut itself generates the
mutants, records which tests reach which function (its "stats" run over every selected test),
and runs each mutant against the tests that reach its function. Two changes, both here:

- After the stats run, the tests recorded for a function are narrowed to the tests listed for
  its module in ``tests/mutation/modules.toml`` (``modules.json`` in the scratch directory):
  one mutmut run serves every module, with one stats run instead of one per module, and a
  module is still judged by its own tests only.
- Mutants are run module by module (in the order of modules.toml; within a module, fastest
  first, as mutmut does), so a run cut short has whole modules done rather than a sample.
- ``MUTATION_REUSE_TYPE_CHECK``: a rerun of named survivors takes mypy's verdicts from the
  run it continues instead of running mypy over every mutant again.
- mutmut's "clean run" (every selected test once more, unmutated) is skipped: the stats run
  has just run exactly those tests and stops the run if any fails.
- ``explained.json`` (written by run.py for a whole run): survivors that survivors.toml
  explains as equivalent or not worth a test, each with the diff it had when it was explained.
  A mutant of that name whose diff is still the same is not run again (mutmut's "skipped"; the
  report still counts it as not killed). A survivor runs every test of its module that reaches
  it, so these were about a fifth of a whole run while never changing its outcome. A changed
  diff (the code moved, so the number names another mutant) is run as usual.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mutmut.__main__ as mutmut_main
import mutmut.workers.isolation as isolation
from mutmut.state import state
from mutmut.stats import save_stats
from mutmut.utils.format_utils import get_module_from_key

MODULES = json.loads(Path("modules.json").read_text("utf-8"))
TESTS_BY_MODULE: dict[str, set[str]] = {
    module.removesuffix(".py").replace("/", "."): set(tests) for module, tests in MODULES.items()
}
ORDER = {name: index for index, name in enumerate(TESTS_BY_MODULE)}


def own_tests(function_key: str, nodeids: set[str]) -> set[str]:
    """A module's tests: every test of a file it lists, and a test it lists by its node id
    (``file::test``, all of its parametrized cases)."""
    allowed = TESTS_BY_MODULE.get(get_module_from_key(function_key), set())
    return {
        nodeid
        for nodeid in nodeids
        if nodeid.split("::", 1)[0] in allowed or nodeid.split("[", 1)[0] in allowed
    }


def narrow_to_own_tests() -> None:
    table = state().tests_by_mangled_function_name
    for key in list(table):
        table[key] = own_tests(key, set(table[key]))
    save_stats()


_original_stats: Callable[..., None] = mutmut_main.run_stats_collection


def run_stats_collection(runner: Any, tests: Any = None) -> None:
    _original_stats(runner, tests)
    narrow_to_own_tests()


_original_estimate: Callable[[str], float] = mutmut_main.estimated_worst_case_time


def module_then_time(mutant_name: str) -> float:
    """mutmut sorts the mutants by this: the module's place first, then mutmut's estimate."""
    module = get_module_from_key(mutant_name.partition("__mutmut_")[0])
    return ORDER.get(module, len(ORDER)) * 1e6 + _original_estimate(mutant_name)


_original_load: Callable[[], bool] = mutmut_main.load_stats


def load_stats() -> bool:
    """Stats saved by an earlier (stopped) run, narrowed to the module lists as they are now."""
    loaded = _original_load()
    if loaded:
        narrow_to_own_tests()
    return loaded


_original_collect: Callable[..., Any] = mutmut_main.collect_source_file_mutation_data
SKIPPED = 34  # mutmut's exit code for "skipped"


def skip_explained(*, mutant_names: Any) -> Any:
    """mutmut's list of mutants, with the explained survivors marked skipped (a whole run
    only: a run of named mutants, such as a recheck, runs each of them)."""
    mutants, by_path = _original_collect(mutant_names=mutant_names)
    path = Path("explained.json")
    if mutant_names or not path.exists():
        return mutants, by_path
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    explained: dict[str, str] = json.loads(path.read_text("utf-8"))
    marked = []
    for data, name, result in mutants:
        if result is None and name in explained:
            diff = get_diff_for_mutant(name, path=str(data.path))
            if diff.strip() == explained[name].strip():
                data.exit_code_by_key[name] = SKIPPED
                data.save()
                result = SKIPPED
        marked.append((data, name, result))
    skipped = sum(1 for _, _, r in marked if r == SKIPPED)
    print(f"    {skipped} explained survivors not rerun (their diffs are unchanged)", flush=True)
    return marked, by_path


def skip_clean_run(self: Any, tests: Any) -> int:
    return 0


def earlier_type_check_verdicts() -> dict[str, object]:
    """The mutants mypy rejected in the run being continued, read back from mutmut's files
    (``--recheck``: rerunning a few survivors need not run mypy over every mutant again)."""
    caught: dict[str, object] = {}
    for meta in Path("mutants").rglob("*.meta"):
        codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
        caught.update({name: None for name, code in codes.items() if code == 37})
    return caught


if os.environ.get("MUTATION_REUSE_TYPE_CHECK"):
    mutmut_main.filter_mutants_with_type_checker = earlier_type_check_verdicts
mutmut_main.run_stats_collection = run_stats_collection
mutmut_main.estimated_worst_case_time = module_then_time
mutmut_main.load_stats = load_stats
mutmut_main.collect_source_file_mutation_data = skip_explained
for name in dir(isolation):
    cls = getattr(isolation, name)
    if isinstance(cls, type) and "run_clean_tests" in vars(cls):
        cls.run_clean_tests = skip_clean_run  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.argv[0] = "mutmut"
    mutmut_main.cli()
