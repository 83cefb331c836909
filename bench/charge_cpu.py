"""CPU per charge inside the application, without an HTTP server: ``python -m bench.charge_cpu``.

On a shared 2-core machine the closed-loop rate of ``bench.run`` moves with whatever else runs;
the CPU time the application spends per charge moves much less. This seeds a scratch database
(as ``bench.run`` does), starts the real ASGI app in this process (its lifespan: scheduler and
outbox dispatcher included), and sends ``--charges`` ``POST /api/charges`` straight to the ASGI
callable from ``--concurrency`` tasks. It reports this process's CPU milliseconds per charge
(``time.process_time``; on PostgreSQL the database's own CPU is not in it) and the wall rate,
plus the database statements per charge (a SQLAlchemy cursor hook, round trips without
``BEGIN``/``COMMIT``).

    python -m bench.charge_cpu --engine pg --charges 2000
    py-spy record --format raw -o out.txt -- python -m bench.charge_cpu --engine sqlite

Loopback PostgreSQL only; the scratch database (or SQLite file) is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import pg as pgmod
from bench.seed import seed

DB_NAME = "wallet_bench_cpu"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.charge_cpu", description=__doc__)
    p.add_argument("--engine", choices=("pg", "sqlite"), default="pg")
    p.add_argument("--charges", type=int, default=2000, help="charges measured")
    p.add_argument("--warmup", type=int, default=200, help="charges sent first, not measured")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--clients", type=int, default=500)
    p.add_argument("--providers", type=int, default=20)
    p.add_argument("--pg", default=pgmod.PG_BASE, help="PostgreSQL server (loopback only)")
    args = p.parse_args(argv)
    if not 1 <= args.charges <= 200_000 or not 1 <= args.concurrency <= 256:
        p.error("charges must be in [1, 200000] and concurrency in [1, 256]")
    pgmod.check_loopback(args.pg)
    return args


class AsgiClient:
    """Just enough of an ASGI server to call the app: lifespan, one HTTP request at a time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._lifespan: asyncio.Task[None] | None = None
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def start(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._lifespan = asyncio.create_task(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        msg = await asyncio.wait_for(self._from_app.get(), 60)
        if msg["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"app start-up failed: {msg}")

    async def stop(self) -> None:
        await self._to_app.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self._from_app.get(), 60)
        if self._lifespan is not None:
            await asyncio.wait_for(self._lifespan, 60)

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        status = 0
        chunks: list[bytes] = []

        async def send(msg: dict[str, Any]) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = int(msg["status"])
            elif msg["type"] == "http.response.body":
                chunks.append(msg.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from sqlalchemy import event

    seeded = await seed(url, clients=args.clients, providers=args.providers, log=lambda m: None)
    os.environ["WALLET_DATABASE_URL"] = url
    from payments.checkout.pipeline import pipeline_for
    from wallet_api.app import create_app
    from wallet_api.settings import Settings

    app = create_app(Settings.from_env(), served=True)  # as wallet_api.asgi builds it
    client = AsgiClient(app)
    await client.start()
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    db = app.state.db
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    rng = random.Random(1)
    statuses: dict[int, int] = {}

    async def one() -> None:
        body = json.dumps(
            {
                "phone": rng.choice(seeded.phones),
                "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": 3500}],
            }
        ).encode()
        status, _ = await client.post(
            "/api/charges",
            {
                "authorization": f"Bearer {rng.choice(seeded.provider_keys)}",
                "idempotency-key": str(uuid.uuid4()),
                "content-type": "application/json",
                "content-length": str(len(body)),
            },
            body,
        )
        statuses[status] = statuses.get(status, 0) + 1

    async def run(n: int) -> None:
        todo = iter(range(n))

        async def worker() -> None:
            for _ in todo:
                await one()

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))

    try:
        await run(args.warmup)
        statuses.clear()
        statements = 0
        batched = pipeline_for(db).stats
        batches, in_batches = batched.batches, batched.charges
        cpu, wall = time.process_time(), time.monotonic()
        await run(args.charges)
        cpu, wall = time.process_time() - cpu, time.monotonic() - wall
        batches, in_batches = batched.batches - batches, batched.charges - in_batches
    finally:
        await client.stop()
    return {
        "engine": args.engine,
        "charges": args.charges,
        "concurrency": args.concurrency,
        "statuses": statuses,
        "cpu_ms_per_charge": round(1000 * cpu / args.charges, 3),
        "wall_charges_per_s": round(args.charges / wall, 1),
        "statements_per_charge": round(statements / args.charges, 2),
        # The charge pipeline's batches (payments.checkout.pipeline): how many charges each
        # transaction carried on average.
        "charges_per_batch": round(in_batches / batches, 2) if batches else None,
        "api_key_cache_s": os.environ.get("WALLET_API_KEY_CACHE_SECONDS", "default"),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.engine == "pg":
        url = f"{args.pg}/{DB_NAME}"
        await pgmod.recreate_database(args.pg, DB_NAME)
        try:
            return await measure(args, url)
        finally:
            await pgmod.drop_database(args.pg, DB_NAME)
    workdir = Path(tempfile.mkdtemp(prefix="wallet-cpu-"))
    path = workdir / "cpu.sqlite3"
    try:
        return await measure(args, f"sqlite+aiosqlite:///{path}")
    finally:
        _remove(workdir, path)


def _remove(workdir: Path, path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    workdir.rmdir()


if __name__ == "__main__":
    out = asyncio.run(main(parse_args()))
    print(json.dumps(out), file=sys.stdout)
