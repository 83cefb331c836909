"""The browser suite: a real ``wallet serve`` on a free loopback port with a temporary SQLite
database, seeded through the payments use cases, driven by Debian's Chromium through
pytest-playwright (never ``playwright install``). Outside CI a missing Chromium skips the suite
with the reason; in CI it fails (``tests.support.databases.need``). The server and its seed
are in ``server.py``, the steps the journeys share in ``helpers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, PHONE, Seeded, serve
from tests.support.databases import need


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        need(f"{CHROMIUM} is not installed (apt-get install chromium); the browser suite needs it")
    return CHROMIUM


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: str) -> Iterator[Seeded]:
    """The suite's server. The journeys sign in through the PWA's API-key form, which is served
    only with the development setting on (tests/e2e/test_dev_key_form.py checks it is absent
    without)."""
    with serve(tmp_path_factory.mktemp("e2e"), WALLET_DEV_API_KEY_FORM="1") as (url, seeded):
        yield Seeded(url=url, **seeded)


@pytest.fixture(scope="session")
def browser_type_launch_args(chromium: str) -> dict[str, Any]:
    return {"executable_path": chromium, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(server: Seeded) -> dict[str, Any]:
    return {
        "base_url": server.url,
        "viewport": PHONE,
        "locale": "fi-FI",
        "timezone_id": "Europe/Helsinki",
        "service_workers": "allow",
    }
