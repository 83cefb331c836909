"""A server process freezes its heap once the app has started (``wallet_api.app.freeze_heap``):
the collector's full passes then walk only what was made since, not the 200,000 objects of the
modules, routes and engine (a 130 ms stop of every request, the charges' p99; docs/performance.md,
"The collector's pauses"). An app built in a process that builds many (the tests) is not frozen:
its cycles would never be freed. The served process's youngest generation also waits for
:data:`~wallet_api.app.YOUNG_THRESHOLD` new objects, not 700 ("The young generation's passes")."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from litestar.testing import TestClient

from wallet_api.app import YOUNG_THRESHOLD, create_app
from wallet_api.settings import Settings

# What a server process runs: the app wallet_api.asgi builds, started by its lifespan.
SERVED = """
import gc
from litestar.testing import TestClient
from wallet_api.asgi import app
before = gc.get_freeze_count()
with TestClient(app) as client:
    assert client.get("/health").status_code == 200
    print(before, gc.get_freeze_count(), gc.get_threshold()[0])
"""


def test_the_served_app_freezes_the_heap_once_it_has_started(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'wallet.sqlite3'}",
        "WALLET_SCHEDULER": "0",
    }
    env.pop("WALLET_REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SERVED], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    before, after, young = map(int, done.stdout.split()[-3:])
    assert before == 0
    # The modules, the routes and the engine: tens of thousands of objects.
    assert after > 20_000, after
    # The youngest generation's pass waits for more than a batch of charges in flight makes.
    assert young == YOUNG_THRESHOLD


# What `wallet worker` runs: the worker, served, until it has started; then it is stopped.
WORKER = """
import asyncio, gc
from wallet_api.settings import Settings
from wallet_api.worker import run_worker

async def main():
    stop = asyncio.Event()
    before = gc.get_freeze_count()

    async def started():
        while gc.get_freeze_count() == before:
            await asyncio.sleep(0.05)
        print(before, gc.get_freeze_count(), gc.get_threshold()[0])
        stop.set()

    probe = asyncio.create_task(started())
    await asyncio.wait_for(run_worker(Settings.from_env(), stop, served=True), 120)
    await probe

asyncio.run(main())
"""


def test_the_worker_freezes_its_heap_once_it_has_started(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'wallet.sqlite3'}",
    }
    env.pop("WALLET_REDIS_URL", None)
    env.pop("WALLET_WORKER_METRICS_PORT", None)
    done = subprocess.run(
        [sys.executable, "-c", WORKER], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    before, after, young = map(int, done.stdout.split()[-3:])
    assert before == 0 and after > 20_000, (before, after)
    assert young == YOUNG_THRESHOLD


def test_an_app_built_by_the_tests_leaves_the_heap_alone(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'wallet.sqlite3'}",
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
    )
    before, threshold = gc.get_freeze_count(), gc.get_threshold()
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() == before
        assert gc.get_threshold() == threshold
