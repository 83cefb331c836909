"""``wallet worker`` (issue 16): funds and dispatches without HTTP, stops on SIGTERM; and
``wallet serve --web-only`` runs neither."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from payments.db import Database
from payments.models import OutboxEvent
from payments.vocabulary import TransferKind
from tests.factories import seed_world, transfers
from tests.servers import WALLET
from wallet_api import cli
from wallet_api.settings import Settings


async def _undelivered(db: Database) -> int:
    async with db.engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(OutboxEvent.delivered_at.is_(None))
                )
            ).scalar_one()
        )


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen([WALLET, "worker"], env=env, stdout=out, stderr=out)


async def test_worker_funds_dispatches_and_stops_on_sigterm(db: Database, tmp_path: Path):
    await seed_world(db, fund=False)
    assert await transfers(db, kind=TransferKind.FUNDING) == []
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "WALLET_DATABASE_URL": db.url.replace("postgresql+asyncpg://", "postgresql://"),
        # The worker runs both whatever these say (one environment for every process).
        "WALLET_SCHEDULER": "0",
        "WALLET_DISPATCHER": "0",
    }
    env.pop("WALLET_REDIS_URL", None)
    proc = _start_worker(env, log)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            funded = await transfers(db, kind=TransferKind.FUNDING)
            if funded and await _undelivered(db) == 0:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"the worker neither funded nor dispatched:\n{log.read_text()}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert "worker stopped" in text
    assert "Traceback" not in text


def test_serve_web_only_turns_off_scheduler_and_dispatcher(monkeypatch):
    # `serve --web-only` writes both into os.environ (so server worker processes inherit
    # them): set each first, so monkeypatch records its value and restores it afterwards. A
    # plain delenv of an unset name records nothing, and the "0"s leaked into every server
    # that later tests start (their live events stopped).
    for name in ("WALLET_SCHEDULER", "WALLET_DISPATCHER"):
        monkeypatch.setenv(name, "1")
        monkeypatch.delenv(name)
    served: list[tuple[str, int]] = []
    monkeypatch.setattr(cli, "_serve", lambda host, port, *a, **k: served.append((host, port)))
    assert Settings.from_env().scheduler and Settings.from_env().dispatcher
    result = CliRunner().invoke(cli.main, ["serve", "--web-only", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served == [("127.0.0.1", 8123)]
    settings = Settings.from_env()
    assert not settings.scheduler and not settings.dispatcher


def test_version():
    result = CliRunner().invoke(cli.main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("wallet, version ")
