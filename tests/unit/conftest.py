"""The unit tier holds pure logic only: a test here that asks for a database, an app client or a
server is refused at collection, so ``make unit`` stays a matter of seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

HEAVY = {
    "db",
    "database_url",
    "engine_name",
    "postgres_url",
    "sqlite_template",
    "client",
    "world",
    "keys",
    "live",
    "server",
    "page",
}
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    heavy = [
        f"{item.nodeid} uses {sorted(HEAVY & set(getattr(item, 'fixturenames', ())))}"
        for item in items
        if HERE in item.path.parents and HEAVY & set(getattr(item, "fixturenames", ()))
    ]
    if heavy:
        raise pytest.UsageError("tests/unit is for pure logic:\n" + "\n".join(heavy))
