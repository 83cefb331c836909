"""The browser suite: a real ``wallet serve`` on a free loopback port with a temporary SQLite
database, seeded through the payments use cases, driven by Debian's Chromium through
pytest-playwright (never ``playwright install``). Outside CI a missing Chromium skips the suite
with the reason; in CI it fails (``tests.conftest.need``).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notifications.push import generate_vapid_keys
from payments.budgets import catalogue
from payments.db import create_database
from payments.models import Organizer
from payments.people.access import create_api_key
from payments.people.mandates import grant_mandate
from payments.uow import UnitOfWork
from tests.conftest import need
from tests.factories import seed_world
from wallet_api.migrate import upgrade

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"


@dataclass
class Seeded:
    url: str
    client_key: str
    provider_key: str
    case_manager_key: str
    carer_key: str
    wallet_id: str
    client_phone: str
    organizer_slug: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _seed(database_url: str) -> dict[str, Any]:
    db = create_database(database_url)
    await upgrade(db)
    # Untrusted, so a phone-number charge becomes a payment request the client approves.
    world = await seed_world(db, monthly_cents=30_000, trusted=False)
    carer = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Kalle Virtanen"
    )
    await grant_mandate(db, carer_id=carer, client_id=world.client_id, scopes=("view", "approve"))
    keys = {
        "client_key": await create_api_key(db, world.client_principal, "e2e"),
        "provider_key": await create_api_key(db, world.provider_principal, "e2e"),
        "case_manager_key": await create_api_key(db, world.case_manager, "e2e"),
        "carer_key": await create_api_key(db, carer, "e2e"),
    }
    async with UnitOfWork(db, readonly=True) as uow:
        organizer = await uow.session.get(Organizer, world.organizer_id)
        assert organizer is not None
        slug = organizer.slug
    await db.dispose()
    return {
        **keys,
        "wallet_id": str(world.wallet_id),
        "client_phone": world.phone,
        "organizer_slug": slug,
    }


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        need(f"{CHROMIUM} is not installed (apt-get install chromium); the browser suite needs it")
    return CHROMIUM


@contextmanager
def serve(directory: Path, **env_extra: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Seed a fresh database in ``directory`` and serve it with ``wallet serve`` (with these
    extra ``WALLET_*`` variables) until the block ends. Yields the URL and the seeded keys."""
    path = directory / "wallet.sqlite3"
    database_url = f"sqlite+aiosqlite:///{path}"
    # Playwright's sync API runs an event loop in this thread: seed in another one.
    with ThreadPoolExecutor(1) as pool:
        seeded = pool.submit(asyncio.run, _seed(database_url)).result()
    port = _free_port()
    url = f"http://localhost:{port}"
    # Web Push on, so Settings can fetch the key and the browser can try to subscribe.
    vapid_private, vapid_public = generate_vapid_keys()
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": database_url,
        "WALLET_ORIGIN": url,
        "WALLET_RP_ID": "localhost",
        "WALLET_VAPID_PRIVATE_KEY": vapid_private,
        "WALLET_VAPID_PUBLIC_KEY": vapid_public,
        # Every person in the suite signs in from 127.0.0.1; in a county each has an address
        # of their own. The limits themselves are proven in tests/identity.
        "WALLET_RATE_ANONYMOUS": "2000",
        "WALLET_RATE_CEREMONIES": "2000",
        **env_extra,
    }
    wallet = shutil.which("wallet", path=str(Path(sys.executable).parent)) or "wallet"
    log = (directory / "server.log").open("wb")
    proc = subprocess.Popen(
        [wallet, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "wallet serve did not start:\n" + (directory / "server.log").read_text()
                    ) from None
                time.sleep(0.2)
        yield url, seeded
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
