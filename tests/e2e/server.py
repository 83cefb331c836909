"""The browser suite's server: a real ``wallet serve`` on a free loopback port with a temporary
SQLite database, seeded through the payments use cases (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import asyncio
import os
import shutil
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

from sqlalchemy import update

from notifications.push import generate_vapid_keys
from payments.budgets import catalogue
from payments.db import create_database
from payments.models import Organizer, Principal, ProviderOwner
from payments.people.access import create_api_key
from payments.people.mandates import grant_mandate
from payments.uow import UnitOfWork
from tests.factories import seed_world
from tests.servers import free_port
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


@dataclass
class Seeded:
    url: str
    client_key: str
    provider_key: str
    case_manager_key: str
    carer_key: str
    admin_key: str  # a case manager with the admin right (the Staff screen)
    owner_key: str  # an owner of the provider (its Staff screen)
    wallet_id: str
    client_phone: str
    organizer_slug: str


async def _seed(database_url: str) -> dict[str, Any]:
    db = create_database(database_url)
    await upgrade(db)
    # Untrusted, so a phone-number charge becomes a payment request the client approves.
    world = await seed_world(db, monthly_cents=30_000, trusted=False)
    carer = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Kalle Virtanen"
    )
    await grant_mandate(db, carer_id=carer, client_id=world.client_id, scopes=("view", "approve"))
    # The seeded case manager and provider stay plain; an admin and an owner of their own.
    admin = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="case_manager", display_name="Helmi Hallinto"
    )
    owner = await catalogue.create_principal(
        db,
        organizer_id=world.organizer_id,
        role="provider",
        display_name="Olli Omistaja",
        provider_id=world.provider_id,
    )
    async with UnitOfWork(db) as uow:
        await uow.session.execute(update(Principal).where(Principal.id == admin).values(admin=True))
        uow.session.add(ProviderOwner(provider_id=world.provider_id, principal_id=owner))
        await uow.commit()
    keys = {
        "client_key": await create_api_key(db, world.client_principal, "e2e"),
        "provider_key": await create_api_key(db, world.provider_principal, "e2e"),
        "case_manager_key": await create_api_key(db, world.case_manager, "e2e"),
        "carer_key": await create_api_key(db, carer, "e2e"),
        "admin_key": await create_api_key(db, admin, "e2e"),
        "owner_key": await create_api_key(db, owner, "e2e"),
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


def server_env(directory: Path, port: int, **env_extra: str) -> dict[str, str]:
    """The environment of ``wallet`` commands and ``wallet serve`` for a database in
    ``directory`` served at ``http://localhost:port``."""
    database_url = f"sqlite+aiosqlite:///{directory / 'wallet.sqlite3'}"
    url = f"http://localhost:{port}"
    # Web Push on, so Settings can fetch the key and the browser can try to subscribe.
    vapid_private, vapid_public = generate_vapid_keys()
    return {
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


def wallet_command() -> str:
    return shutil.which("wallet", path=str(Path(sys.executable).parent)) or "wallet"


@contextmanager
def serve(directory: Path, **env_extra: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Seed a fresh database in ``directory`` and serve it with ``wallet serve`` (with these
    extra ``WALLET_*`` variables) until the block ends. Yields the URL and the seeded keys."""
    port = free_port()
    env = server_env(directory, port, **env_extra)
    # Playwright's sync API runs an event loop in this thread: seed in another one.
    with ThreadPoolExecutor(1) as pool:
        seeded = pool.submit(asyncio.run, _seed(env["WALLET_DATABASE_URL"])).result()
    with serving(directory, port, env) as url:
        yield url, seeded


@contextmanager
def serving(directory: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """``wallet serve`` on ``port`` with ``env`` until the block ends; yields its URL."""
    log = (directory / "server.log").open("wb")
    proc = subprocess.Popen(
        [wallet_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
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
        yield env["WALLET_ORIGIN"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
