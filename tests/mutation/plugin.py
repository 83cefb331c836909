"""pytest plugin for mutation runs only (``-p tests.mutation.plugin``, set by run.py).

mutmut runs every mutant in a fresh ``pytest.main`` in a forked process, so each mutant would
migrate its own SQLite template database (the session fixture ``sqlite_template`` in
tests/conftest.py) before its first test. The schema does not depend on the mutated money
modules, so it is migrated once and copied after that: the first migration of the run is kept
as ``template.sqlite3`` in mutmut's working directory and every later one is a file copy.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

TEMPLATE = Path("template.sqlite3").resolve()


def pytest_configure(config: pytest.Config) -> None:
    import tests.conftest as shared

    original = getattr(shared.upgrade, "original", shared.upgrade)

    async def upgrade_once(db: Any) -> None:
        if db.is_postgres:
            await original(db)
            return
        target = Path(db.engine.url.database)
        if TEMPLATE.exists():
            shutil.copyfile(TEMPLATE, target)
            return
        await original(db)
        await db.dispose()  # writes the WAL back into the file before it is copied
        shutil.copyfile(target, TEMPLATE)

    upgrade_once.original = original  # type: ignore[attr-defined]
    shared.upgrade = upgrade_once  # type: ignore[attr-defined]


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> None:
    """mutmut runs a mutant's fastest tests first, timing only their ``call`` phase; a test
    whose fixtures start an app or seed a county would look cheap. While mutmut collects its
    stats, add the setup and teardown time too, so the ordering is by the whole cost."""
    if os.environ.get("MUTANT_UNDER_TEST") != "stats" or call.when == "call":
        return
    from mutmut.state import state

    durations = state().duration_by_test
    if item.nodeid in durations:
        durations[item.nodeid] += call.duration
