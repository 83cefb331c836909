"""(e) The stack's floor: pgbench's own transaction behind the app's HTTP and database stack.

B1 compares a full charge through HTTP with ``pgbench``, which sends its five statements from C
over a binary protocol and has no HTTP, no JSON and no Python. This phase tells how much of the
gap is the stack itself and how much is the charge: a minimal Litestar app, served by uvicorn
exactly as ``wallet serve`` is (uvloop, httptools, no access log), answers the same
``POST /api/charges`` requests of the load generator by running pgbench's tpcb-like transaction
(UPDATE an account, SELECT it, UPDATE a teller, UPDATE a branch, INSERT a history row) on a
pgbench-initialised scratch database, through the app's own database layer
(``payments.db.create_database`` with its pool and driver settings, ``payments.uow.UnitOfWork``,
statements built once with bound parameters), or with ``--floor-driver asyncpg`` through the
driver alone (an asyncpg pool, no SQLAlchemy). It has no authentication, no idempotency, no
ledger, no outbox and none of the app's middleware, so it is a ceiling the charge path cannot
pass on this machine: (e)/(a) is what any handler in this stack can reach, (b)/(e) what the
charge's own work costs on top.

Run the app alone with ``FLOOR_DATABASE_URL=... uvicorn bench.floor:app``; ``bench.run`` starts
and stops it for the phase.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, get, post
from litestar.response import Response
from sqlalchemy import text

from bench.pg import drop_database
from bench.pgbench import initialise
from bench.server import HOST, Server

DB_NAME = "wallet_bench_floor"
SCALE = 10

# pgbench's tpcb-like script, statement for statement (pgbench --show-script=tpcb-like).
_UPDATE_ACCOUNT = text("UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid")
_SELECT_ACCOUNT = text("SELECT abalance FROM pgbench_accounts WHERE aid = :aid")
_UPDATE_TELLER = text("UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid")
_UPDATE_BRANCH = text("UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid")
_INSERT_HISTORY = text(
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
    "VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP)"
)
_RAW = (
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
    "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
)


class _Line(msgspec.Struct):
    category: str
    quantity: str
    unit_price_cents: int


class _Charge(msgspec.Struct):
    phone: str
    lines: list[_Line]


_decode = msgspec.json.Decoder(_Charge).decode
_state: dict[str, Any] = {}


async def _startup() -> None:
    url = os.environ["FLOOR_DATABASE_URL"]
    if os.environ.get("FLOOR_DRIVER") == "asyncpg":
        import asyncpg

        # The driver alone, as pgbench uses libpq: a pool of prepared statements, no SQLAlchemy.
        _state["pool"] = await asyncpg.create_pool(url, min_size=4, max_size=20)
    else:
        from payments.db import create_database

        _state["db"] = create_database(url)


async def _shutdown() -> None:
    db = _state.pop("db", None)
    if db is not None:
        await db.engine.dispose()
    pool = _state.pop("pool", None)
    if pool is not None:
        await pool.close()


async def _tpcb_asyncpg(params: dict[str, int]) -> int:
    async with _state["pool"].acquire() as conn, conn.transaction():
        await conn.execute(_RAW[0], params["delta"], params["aid"])
        balance = int(await conn.fetchval(_RAW[1], params["aid"]))
        await conn.execute(_RAW[2], params["delta"], params["tid"])
        await conn.execute(_RAW[3], params["delta"], params["bid"])
        await conn.execute(_RAW[4], params["tid"], params["bid"], params["aid"], params["delta"])
    return balance


async def _tpcb_sqlalchemy(params: dict[str, int]) -> int:
    from payments.uow import UnitOfWork

    async with UnitOfWork(_state["db"]) as uow:
        s = uow.session
        await s.execute(_UPDATE_ACCOUNT, params)
        balance = int((await s.execute(_SELECT_ACCOUNT, {"aid": params["aid"]})).scalar_one())
        await s.execute(_UPDATE_TELLER, params)
        await s.execute(_UPDATE_BRANCH, params)
        await s.execute(_INSERT_HISTORY, params)
        await uow.commit()
    return balance


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


@post("/api/charges")
async def tpcb(request: Request[Any, Any, Any]) -> Response[bytes]:
    """One pgbench tpcb-like transaction per request; answers like a captured charge."""
    charge = _decode(await request.body())  # parsed like a charge, then ignored
    del charge
    params = {
        "aid": random.randint(1, 100_000 * SCALE),
        "bid": random.randint(1, SCALE),
        "tid": random.randint(1, 10 * SCALE),
        "delta": random.randint(-5000, 5000),
    }
    if "pool" in _state:
        balance = await _tpcb_asyncpg(params)
    else:
        balance = await _tpcb_sqlalchemy(params)
    return Response(
        msgspec.json.encode({"status": "captured", "balance": balance}),
        status_code=201,
        media_type="application/json",
    )


app = Litestar([health, tpcb], on_startup=[_startup], on_shutdown=[_shutdown])


async def prepare(base: str) -> str:
    """A scratch database initialised by ``pgbench -i`` at the benchmark's scale; its URL."""
    await initialise(base, DB_NAME, SCALE)
    return f"{base}/{DB_NAME}"


async def drop(base: str) -> None:
    await drop_database(base, DB_NAME)


def floor_server(url: str, log_path: Path, driver: str = "sqlalchemy") -> Server:
    """uvicorn serving :data:`app` with ``wallet serve``'s settings (see wallet_api.cli);
    ``driver`` "sqlalchemy" (the app's database layer) or "asyncpg" (the driver alone)."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.floor:app",
        "--host",
        HOST,
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
    ]
    env = {"FLOOR_DATABASE_URL": url, "FLOOR_DRIVER": driver}
    return Server(url, log_path=log_path, command=command, extra_env=env)
