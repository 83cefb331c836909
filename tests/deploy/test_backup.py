"""``wallet backup`` while money moves, then ``wallet restore`` into a fresh database: every
charge acknowledged before the backup started is there, and the books balance (issue 16).

The backup runs as the real command in its own process on the live database while this test
keeps charging through the domain's charge path; nothing is paused for it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select

from payments.db import Database, create_database
from payments.models import Charge
from tests.factories import seed_world
from tests.support.databases import PG_BASE, worker_suffix
from tests.support.money import charged, exactly

WALLET = str(Path(sys.executable).with_name("wallet"))


async def _wallet(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``wallet ARGS`` on the database at ``url``: (exit code, stdout + stderr)."""
    proc = await asyncio.create_subprocess_exec(
        WALLET,
        *args,
        env={**os.environ, "WALLET_DATABASE_URL": url, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def _fresh_database(engine_name: str, tmp_path: Path) -> str:
    """An empty database to restore into: no SQLite file yet, or a new PostgreSQL database."""
    if engine_name == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    name = f"wallet_restore_{worker_suffix()}"
    conn = await asyncpg.connect(PG_BASE + "/postgres")
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return f"{PG_BASE}/{name}"


async def _drop(url: str) -> None:
    if url.startswith("postgresql"):
        conn = await asyncpg.connect(PG_BASE + "/postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        await conn.close()


async def _charge_ids(url: str) -> set[uuid.UUID]:
    restored = create_database(url)
    try:
        async with restored.engine.connect() as conn:
            return set((await conn.execute(select(Charge.id))).scalars())
    finally:
        await restored.dispose()


async def test_backup_while_charging_restores_every_acknowledged_charge(
    db: Database, engine_name: str, tmp_path: Path
) -> None:
    world = await seed_world(db, monthly_cents=5_000_000)
    acked: list[tuple[float, uuid.UUID]] = []  # (monotonic time acknowledged, charge id)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def keep_charging() -> None:
        while not stop.is_set():
            acked.append((loop.time(), await charged(db, world, exactly(100))))

    chargers = [asyncio.create_task(keep_charging()) for _ in range(3)]
    # Some money moves before the backup starts. Wait for it rather than for a fixed time: on a
    # loaded CI machine the first PostgreSQL connections alone can take longer than half a second.
    deadline = loop.time() + 60
    while len(acked) < 5:
        assert loop.time() < deadline, f"only {len(acked)} charges in 60 s"
        assert not any(t.done() for t in chargers), [t.exception() for t in chargers if t.done()]
        await asyncio.sleep(0.05)
    target = tmp_path / ("wallet.dump" if engine_name == "postgres" else "wallet.sqlite3.bak")
    started = loop.time()
    code, out = await _wallet(db.url, "backup", str(target))
    finished = loop.time()
    stop.set()
    await asyncio.gather(*chargers)
    assert code == 0, out
    assert f"Backup written to {target}" in out
    assert target.stat().st_mode & 0o777 == 0o600
    before = {cid for t, cid in acked if t < started}
    during = [cid for t, cid in acked if started <= t <= finished]
    assert during, "no charge was acknowledged while the backup ran"

    fresh = await _fresh_database(engine_name, tmp_path)
    try:
        code, out = await _wallet(fresh, "restore", str(target))
        assert code == 0, out
        code, out = await _wallet(fresh, "db", "upgrade")
        assert code == 0, out
        code, out = await _wallet(fresh, "check")
        assert code == 0 and "OK: the books balance" in out, out
        restored = await _charge_ids(fresh)
        assert before <= restored, f"{len(before - restored)} acknowledged charges are missing"
        assert restored <= {cid for _, cid in acked}  # and nothing that was never made
        # A second restore into the same (now full) database is refused, writing nothing.
        code, out = await _wallet(fresh, "restore", str(target))
        assert code == 1, out
        assert await _charge_ids(fresh) == restored
    finally:
        await _drop(fresh)


@pytest.mark.parametrize("engine_name", ["sqlite"])
async def test_an_unwritable_path_says_so_in_one_line(database_url: str, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for path in (a_file / "wallet.bak", tmp_path / "missing" / "wallet.bak", tmp_path):
        code, out = await _wallet(database_url, "backup", str(path))
        assert code == 1, out
        assert out.startswith("Error: Cannot write the backup to") and out.count("\n") == 1, out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "wallet.sqlite3"]  # noqa: ASYNC240


async def test_pg_dump_missing_says_what_to_install(tmp_path: Path) -> None:
    # No database needed: the tool is looked for before anything is connected to.
    code, out = await _wallet(
        "postgresql://wallet:secret@db.invalid/wallet",
        "backup",
        str(tmp_path / "wallet.dump"),
        env={"PATH": str(tmp_path)},
    )
    assert code == 1, out
    assert "pg_dump is not installed" in out and "postgresql-client" in out, out
    assert out.count("\n") == 1 and "secret" not in out
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240
