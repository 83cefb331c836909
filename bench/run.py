"""One command, one run, one machine: ``python -m bench.run`` (see docs/performance.md).

Measures, in order:

(a) ``pgbench`` tpcb-like on the same PostgreSQL (scale 10, -c16 -j2 -M prepared);
(h) only with ``--hordak``: django-hordak 2.0's ``Account.transfer_to`` from 4 threads, the
    library alone without HTTP or overdraft check (``bench.hordak``), issue 21's reference;
(e) the stack's floor: pgbench's own transaction behind the app's HTTP and database stack
    (``bench.floor``), as many per second as the same load generator gets;
(b) captured charges per second through HTTP on PostgreSQL, the full charge path, from C
    keep-alive connections (closed loop); then the same with every charge to one provider (B3);
    then an open loop at a fixed rate of half the closed-loop figure, for p99 at that rate (B1);
(d) a raw ``sqlite3`` loop doing the same writes with the same durability;
(c) captured charges per second through HTTP on SQLite.

and prints the ratios (b)/(a), (e)/(a), (b)/(e), (c)/(d), hot/uniform (and (h)/(a), (b)/(h)
with ``--hordak``), with p50/p99
latencies. Results go to ``bench/results/<timestamp>.json`` (with the server logs beside
them). Everything runs on loopback, every phase is bounded in time and in count, the server
subprocess is stopped and the scratch databases are dropped, also on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from bench import floor
from bench import pg as pgmod
from bench.hordak import run_hordak
from bench.load import ChargeLoad, run_load
from bench.machine import cpu_sample, cpu_usage, machine_info
from bench.pgbench import run_pgbench
from bench.raw_sqlite import run_raw_sqlite
from bench.seed import Seeded, seed
from bench.server import DEFAULT_WALLET, HOST, Server, Worker
from bench.stats import ratio

# Live events between the web process and the worker (--worker): a database of its own.
REDIS = "redis://127.0.0.1:6379/13"
# The bench's own server answers /metrics with this token: the charge pipeline's counters,
# read at the edges of each measured window (pipeline_over_window).
METRICS_TOKEN = secrets.token_urlsafe(16)
PIPELINE_COUNTERS = (
    "wallet_charge_batches_total",
    "wallet_charge_batch_charges_total",
    "wallet_charge_batch_seconds_total",
    'wallet_charge_batch_listings_total{source="kept"}',
)

RESULTS = Path(__file__).resolve().parent / "results"
BUSY_CORES = 0.25  # CPU used by processes outside the benchmark that makes a phase suspect
PG_WALLET_DB = "wallet_bench"

# Targets of issue 8, printed beside the figures (the benchmark does not fail on them).
TARGETS = {
    "B1_pg_http_vs_pgbench": 0.4,
    "B1_p99_ms_at_half_rate": 50.0,
    "B2_sqlite_http_vs_raw": 0.25,
    "B3_hot_vs_uniform": 0.6,
    # Issue 21: at least as many charges per second through HTTP as django-hordak makes
    # library-only transfers from 4 threads, measured in the same run (``--hordak``).
    "B1_pg_http_vs_hordak": 1.0,
}


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Charges per second through HTTP versus pgbench and a raw sqlite3 loop.",
    )
    p.add_argument("--duration", type=float, default=30, help="seconds per measured phase")
    p.add_argument("--warmup", type=float, default=None, help="seconds of unmeasured load first")
    p.add_argument("--concurrency", type=int, default=24, help="HTTP connections (C)")
    p.add_argument("--engines", default="pg,sqlite", help="comma list of pg, sqlite")
    p.add_argument("--quick", action="store_true", help="5 s phases, fewer clients: a smoke run")
    p.add_argument("--clients", type=int, default=None, help="clients seeded (default 2000)")
    p.add_argument("--providers", type=int, default=20, help="providers seeded")
    p.add_argument("--workers", type=int, default=1, help="wallet serve --workers")
    p.add_argument(
        "--server",
        choices=("uvicorn", "granian"),
        default=None,
        help="wallet serve --server (default: wallet serve's own default)",
    )
    p.add_argument(
        "--worker",
        action="store_true",
        help="PostgreSQL as deployed (deploy/systemd): wallet serve --web-only, and the "
        "scheduler and the outbox dispatcher in a wallet worker beside it, live events between "
        "them through Redis (--redis); its CPU is counted as the worker's. SQLite stays one "
        "process (a one-process trial, docs/deploy.md)",
    )
    p.add_argument("--redis", default=REDIS, help="Redis for --worker (loopback only)")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run the server under py-spy record (collapsed stacks beside the results; its "
        "sampling costs server CPU, so do not compare rates of a profiled run)",
    )
    p.add_argument("--open-rate", type=float, default=None, help="open-loop rate (default: half)")
    p.add_argument("--no-open-loop", action="store_true", help="skip the fixed-rate phase")
    p.add_argument("--no-hot", action="store_true", help="skip the hot-provider phase")
    p.add_argument("--no-pgbench", action="store_true", help="skip pgbench (no B1 ratio)")
    p.add_argument("--no-floor", action="store_true", help="skip the stack's floor (bench.floor)")
    p.add_argument(
        "--hordak",
        action="store_true",
        help="after pgbench, django-hordak 2.0's transfers as a reference (bench.hordak; "
        "installs Django and hordak under ~/.cache/wallet-hordak on first use)",
    )
    p.add_argument("--hordak-threads", type=int, default=4, help="threads of the hordak phase")
    p.add_argument(
        "--floor-driver",
        choices=("sqlalchemy", "asyncpg"),
        default="sqlalchemy",
        help="the floor's database layer: the app's (default) or the driver alone",
    )
    p.add_argument("--no-check", action="store_true", help="skip the books check after a run")
    p.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each measured phase, wait up to this long for the machine to be idle",
    )
    p.add_argument("--pg", default=pgmod.PG_BASE, help="PostgreSQL server (loopback only)")
    p.add_argument("--wallet", type=Path, default=DEFAULT_WALLET, help="the wallet executable")
    p.add_argument("--workdir", type=Path, default=None, help="where SQLite files go")
    p.add_argument("--results", type=Path, default=RESULTS, help="where results are written")
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(args.engines) - {"pg", "sqlite"}
    if unknown:
        p.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    if args.hordak and "pg" not in args.engines:
        p.error("--hordak needs the pg engine (it runs on the same PostgreSQL)")
    if not 1 <= args.hordak_threads <= 64:
        p.error("--hordak-threads must be in [1, 64]")
    if args.quick:
        args.duration = 5 if args.duration == 30 else args.duration
        args.clients = args.clients or 300
        args.warmup = 1 if args.warmup is None else args.warmup
    args.clients = args.clients or 2000
    if args.warmup is None:
        args.warmup = min(5.0, max(1.0, args.duration / 10))
    if not 0 < args.duration <= 3600 or not 1 <= args.concurrency <= 256:
        p.error("duration must be in (0, 3600] s and concurrency in [1, 256]")
    pgmod.check_loopback(args.pg)
    if args.worker and urlsplit(args.redis).hostname not in ("127.0.0.1", "localhost", "::1"):
        p.error("--redis must be on loopback")
    return args


async def guarded(results: dict[str, Any], name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run one phase; on failure record the error and go on with the next phase."""
    try:
        value = await fn()
    except Exception as exc:
        log(f"{name} FAILED: {exc!r}")
        results.setdefault("errors", {})[name] = "".join(
            traceback.format_exception_only(type(exc), exc)
        ).strip()
        results["errors"][name + "_traceback"] = traceback.format_exc()[-4000:]
        return None
    results[name] = value
    return value


async def measured_load(
    server: Server,
    load: ChargeLoad,
    args: argparse.Namespace,
    *,
    rate: float | None = None,
    worker: Server | None = None,
) -> dict[str, Any]:
    """Run the load and sample CPU over exactly the measured window (and, for the app with
    one server process, its charge pipeline's counters: ``pipeline_counters``)."""
    samples: dict[str, Any] = {}
    pipeline = args.workers == 1 and server.wallet_app

    def groups() -> dict[str, list[int]]:
        found = {"server": server.pids(), "loadgen": [os.getpid()]}
        if worker is not None:
            found["worker"] = worker.pids()
        return found

    async def sampler() -> None:
        await asyncio.sleep(args.warmup)
        samples["window"] = [datetime.now(UTC)]
        samples["before"] = cpu_sample(groups())
        if pipeline:
            samples["pipeline_before"] = await asyncio.to_thread(pipeline_counters, server)
        await asyncio.sleep(args.duration)
        samples["after"] = cpu_sample(groups())
        samples["window"].append(datetime.now(UTC))
        if pipeline:
            samples["pipeline_after"] = await asyncio.to_thread(pipeline_counters, server)

    await quiet(args)
    task = asyncio.create_task(sampler())
    try:
        result = await run_load(
            load,
            concurrency=args.concurrency,
            duration=args.duration,
            warmup=args.warmup,
            rate=rate,
        )
    finally:
        # The load may end a moment before the window does; let the last sample be taken.
        await asyncio.wait({task}, timeout=5)
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if "before" in samples and "after" in samples:
        result["cpu"] = cpu_usage(samples["before"], samples["after"])
    if "pipeline_before" in samples and "pipeline_after" in samples:
        result["pipeline"] = pipeline_over_window(
            samples["pipeline_before"], samples["pipeline_after"], args.duration
        )
    if server.wallet_app and len(samples.get("window", ())) == 2:
        result["ledger"] = await batches_in_ledger(server.database_url, *samples["window"])
    return result


async def batches_in_ledger(url: str, start: datetime, end: datetime) -> dict[str, float]:
    """The charges created in the window and the transactions that wrote them, counted in the
    ledger: the charges of one batch share their ``created_at`` (the batch's clock,
    payments.checkout.pipeline). Unlike ``pipeline`` (one process's /metrics), this counts
    every server process's batches, so it shows how ``--workers N`` splits them."""
    from sqlalchemy import distinct, func, select

    from payments.db import create_database
    from payments.models import Charge
    from payments.uow import UnitOfWork

    db = create_database(url)
    try:
        async with UnitOfWork(db, readonly=True) as uow:
            in_window = (Charge.created_at >= start) & (Charge.created_at < end)
            charges, batches = (
                await uow.session.execute(
                    select(func.count(), func.count(distinct(Charge.created_at))).where(in_window)
                )
            ).one()
    finally:
        await db.dispose()
    return {
        "charges": charges,
        "batches": batches,
        "charges_per_batch": round(charges / batches, 1) if batches else 0.0,
    }


def pipeline_counters(server: Server) -> dict[str, float]:
    """The charge pipeline's counters from the server's /metrics (loopback, bench token)."""
    request = Request(
        f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    with urlopen(request, timeout=10) as answer:  # our own server, on loopback
        text = answer.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in PIPELINE_COUNTERS:
            found[name] = float(value)
    return found


def pipeline_over_window(
    before: dict[str, float], after: dict[str, float], seconds: float
) -> dict[str, float]:
    """What the pipeline did in the window: its transactions, the charges each carried, the
    share of the window it had one open (``busy``; the rest of a cycle is the requests around
    it: docs/performance.md), and the share of them that took their providers' listings from
    the process's copy (``listings_kept``: payments.marketplace.listings_cache)."""

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("wallet_charge_batches_total")
    return {
        "batches": batches,
        "charges_per_batch": round(delta("wallet_charge_batch_charges_total") / batches, 1)
        if batches
        else 0.0,
        "busy": round(delta("wallet_charge_batch_seconds_total") / seconds, 3),
        # The share of batches whose providers' listings were kept in the process.
        "listings_kept": round(
            delta('wallet_charge_batch_listings_total{source="kept"}') / batches, 3
        )
        if batches
        else 0.0,
    }


async def verify(url: str, expected_charges: int, check: bool) -> dict[str, Any]:
    """After the server has stopped: the ledger holds exactly the charges answered 201."""
    from sqlalchemy import func, select

    from payments.books import check_books
    from payments.db import create_database
    from payments.models import Charge, OutboxEvent, Transfer
    from payments.uow import UnitOfWork

    db = create_database(url)
    try:
        async with UnitOfWork(db, readonly=True) as uow:
            s = uow.session
            charges = (await s.execute(select(func.count()).select_from(Charge))).scalar_one()
            transfers = (
                await s.execute(
                    select(func.count()).select_from(Transfer).where(Transfer.kind == "charge")
                )
            ).scalar_one()
            events = (
                await s.execute(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(OutboxEvent.type == "charge.captured")
                )
            ).scalar_one()
            # The dispatcher's backlog when the server stopped (in the worker with --worker):
            # whether it kept up with the charges.
            undelivered = (
                await s.execute(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(OutboxEvent.delivered_at.is_(None))
                )
            ).scalar_one()
        out: dict[str, Any] = {
            "charges_answered_201": expected_charges,
            "events_undelivered_at_stop": undelivered,
            "charges_in_db": charges,
            "charge_transfers_in_db": transfers,
            "charge_events_in_outbox": events,
            "counts_match": charges == transfers == events == expected_charges,
        }
        if check:
            t = time.monotonic()
            report = await check_books(db)
            out["books_ok"] = report.ok
            out["books_violations"] = report.violations[:10]
            out["books_check_s"] = round(time.monotonic() - t, 2)
        return out
    finally:
        await db.dispose()


async def http_phases(
    engine: str,
    url: str,
    args: argparse.Namespace,
    stamp: str,
    results: dict[str, Any],
) -> None:
    """Seed, serve, load (uniform; hot provider; open loop), stop, verify."""
    seeded: Seeded = await seed(url, clients=args.clients, providers=args.providers, log=log)
    results[f"{engine}_seed"] = {
        "clients": args.clients,
        "providers": args.providers,
        "seconds": seeded.seconds,
        **seeded.steps,
    }
    log_path = args.results / f"{stamp}-server-{engine}.log"
    answered = 0
    serve_args = ["--server", args.server] if args.server else []
    # The deployed shape (--worker): the web process only answers requests. PostgreSQL's only:
    # SQLite is a one-process trial (docs/deploy.md), and a second process would be a second
    # writer.
    deployed = args.worker and engine == "pg"
    shape_env = {"WALLET_REDIS_URL": args.redis} if deployed else {}
    server_env = {**shape_env, "WALLET_METRICS_TOKEN": METRICS_TOKEN}
    if deployed:
        serve_args.append("--web-only")
    wrapper: list[str] = []
    if args.profile:
        spy = Path(sys.executable).parent / "py-spy"
        profile = args.results / f"{stamp}-server-{engine}.pyspy.txt"
        wrapper = [str(spy), "record", "--format", "raw", "--rate", "250", "--subprocesses"]
        wrapper += ["--output", str(profile), "--"]
        results[f"{engine}_profile"] = str(profile)
    worker: Worker | None = None
    if deployed:
        worker = Worker(
            url,
            log_path=args.results / f"{stamp}-worker-{engine}.log",
            wallet=args.wallet,
            extra_env=shape_env,
        )
    with (
        Server(
            url,
            log_path=log_path,
            wallet=args.wallet,
            workers=args.workers,
            serve_args=serve_args,
            wrapper=wrapper,
            extra_env=server_env,
        ) as server,
        worker or contextlib.nullcontext(),
    ):
        shape = f", wallet worker beside it (pids {worker.pids()})" if worker else ""
        log(f"{engine}: wallet serve on {server.base_url} (pids {server.pids()}){shape}")

        def load(hot: bool = False, seed: int = 1) -> ChargeLoad:
            return ChargeLoad(
                host=HOST,
                port=server.port,
                provider_keys=seeded.provider_keys,
                phones=seeded.phones,
                hot_provider=hot,
                seed=seed,
            )

        async def pg_checkpoint() -> None:
            if engine == "pg":
                import asyncpg

                conn = await asyncpg.connect(url, timeout=10)
                try:
                    await conn.execute("CHECKPOINT")
                finally:
                    await conn.close()

        await pg_checkpoint()
        log(f"{engine}: closed loop, C={args.concurrency}, {args.duration:g} s, uniform providers")
        uniform = await guarded(
            results, f"{engine}_http", lambda: measured_load(server, load(), args, worker=worker)
        )
        answered += (uniform or {}).get("all_captured", 0)
        if uniform:
            _show_phase(f"{engine} HTTP uniform", uniform)

        if engine == "pg" and not args.no_hot:
            await pg_checkpoint()
            log(f"{engine}: closed loop, every charge to one provider")
            hot = await guarded(
                results,
                f"{engine}_http_hot",
                lambda: measured_load(server, load(hot=True, seed=2), args, worker=worker),
            )
            answered += (hot or {}).get("all_captured", 0)
            if hot:
                _show_phase(f"{engine} HTTP hot provider", hot)

        if engine == "pg" and not args.no_open_loop:
            rate = args.open_rate or (round(uniform["charges_per_s"] / 2, 1) if uniform else None)
            if rate:
                await pg_checkpoint()
                log(f"{engine}: open loop at {rate:g} charges/s")
                opened = await guarded(
                    results,
                    f"{engine}_http_open",
                    lambda: measured_load(server, load(seed=3), args, rate=rate, worker=worker),
                )
                answered += (opened or {}).get("all_captured", 0)
                if opened:
                    _show_phase(f"{engine} HTTP open loop", opened)
        server_pids = server.pids()
    code = server.exit_code
    results[f"{engine}_server"] = {
        "log": str(log_path),
        "workers": args.workers,
        "pids_at_end": server_pids,
        "exit_code": code,
    }
    log(f"{engine}: server stopped; verifying the ledger")
    await guarded(results, f"{engine}_verify", lambda: verify(url, answered, not args.no_check))


def _show_phase(name: str, r: dict[str, Any]) -> None:
    pipeline = f", pipeline {r['pipeline']}" if "pipeline" in r else ""
    ledger = f", in the ledger {r['ledger']}" if "ledger" in r else ""
    log(
        f"{name}: {r['charges_per_s']:.0f} charges/s, p50 {r['p50_ms']} ms, "
        f"p99 {r['p99_ms']} ms, statuses {r['statuses']}, cpu {r.get('cpu')}{pipeline}{ledger}"
    )


async def floor_phase(args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    """(e) pgbench's transaction behind the app's stack, closed loop like (b)."""
    url = await floor.prepare(args.pg)
    try:
        log_path = args.results / f"{stamp}-server-floor.log"
        with floor.floor_server(url, log_path, args.floor_driver) as server:
            log(f"floor ({args.floor_driver}): pgbench's transaction on {server.base_url}")
            load = ChargeLoad(
                host=HOST, port=server.port, provider_keys=["-"], phones=["+358401000000"]
            )
            result = await measured_load(server, load, args)
        result["driver"] = args.floor_driver
        _show_phase("floor", result)
        return result
    finally:
        await floor.drop(args.pg)


async def hordak_phase(args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    """(h) issue 21's reference: hordak's transfers on as many accounts as the HTTP phases seed
    (clients as asset accounts, providers as income accounts), for as long as each phase."""
    return await run_hordak(
        args.pg,
        duration=args.duration,
        warmup=args.warmup,
        threads=args.hordak_threads,
        assets=args.clients,
        incomes=args.providers,
        log=log,
        stderr_path=args.results / f"{stamp}-hordak.log",
    )


async def pg_http(args: argparse.Namespace, stamp: str, results: dict[str, Any]) -> None:
    url = f"{args.pg}/{PG_WALLET_DB}"
    await pgmod.recreate_database(args.pg, PG_WALLET_DB)
    try:
        await http_phases("pg", url, args, stamp, results)
    finally:
        await pgmod.drop_database(args.pg, PG_WALLET_DB)


async def sqlite_http(
    args: argparse.Namespace, stamp: str, workdir: Path, results: dict[str, Any]
) -> None:
    path = workdir / "wallet_bench.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    try:
        await http_phases("sqlite", url, args, stamp, results)
    finally:
        _remove_sqlite(path)


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.results.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="wallet-bench-", dir=args.workdir))
    results: dict[str, Any] = {
        "started_at": stamp,
        "command": " ".join([Path(sys.executable).name, "-m", "bench.run", *sys.argv[1:]]),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "engines": args.engines,
            "clients": args.clients,
            "providers": args.providers,
            "server_workers": args.workers,
            # wallet serve --web-only and a wallet worker beside it, as deployed.
            "worker_process": args.worker,
            "server": args.server or "default",
            "profiled": args.profile,
            "quick": args.quick,
            "hordak": args.hordak,
            "hordak_threads": args.hordak_threads if args.hordak else None,
            "sqlite_workdir": str(workdir),
        },
        "machine": machine_info(),
        "targets": TARGETS,
    }
    started = time.monotonic()
    try:
        if "pg" in args.engines:
            await guarded(results, "postgres_settings", lambda: pgmod.server_settings(args.pg))
            if not args.no_pgbench:
                await quiet(args)
                await guarded(
                    results,
                    "pgbench",
                    lambda: run_pgbench(args.pg, duration=max(1, round(args.duration)), log=log),
                )
            if args.hordak:
                await quiet(args)
                await guarded(results, "hordak", lambda: hordak_phase(args, stamp))
            if not args.no_floor:
                await guarded(results, "floor", lambda: floor_phase(args, stamp))
            await guarded(results, "pg_phases", lambda: pg_http(args, stamp, results))
        if "sqlite" in args.engines:
            await quiet(args)
            await guarded(
                results,
                "sqlite_raw",
                lambda: asyncio.to_thread(
                    run_raw_sqlite,
                    workdir,
                    duration=args.duration,
                    clients=args.clients,
                    providers=args.providers,
                    warmup=args.warmup,
                    log=log,
                ),
            )
            await guarded(
                results, "sqlite_phases", lambda: sqlite_http(args, stamp, workdir, results)
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results.pop("pg_phases", None)
    results.pop("sqlite_phases", None)
    results["total_s"] = round(time.monotonic() - started, 1)
    results["ratios"] = ratios(results)
    out = args.results / f"{stamp}.json"
    out.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    results["_path"] = str(out)
    return results


async def quiet(args: argparse.Namespace) -> None:
    if args.wait_quiet > 0:
        await wait_quiet(args.wait_quiet)


async def wait_quiet(limit_s: float, window_s: float = 3.0) -> float:
    """Wait (at most ``limit_s``) until the machine is nearly idle; return the last busy figure."""
    deadline = time.monotonic() + limit_s
    rounds = 0
    while True:
        rounds += 1
        before = cpu_sample({})
        await asyncio.sleep(window_s)
        busy = float(cpu_usage(before, cpu_sample({}))["machine_cores"])
        if busy < BUSY_CORES:
            log(f"machine quiet ({busy} cores busy)")
            return busy
        if time.monotonic() >= deadline:
            log(f"machine still busy ({busy} cores) after {limit_s:g} s; starting anyway")
            return busy
        if rounds % 10 == 1:
            log(f"waiting for a quiet machine: {busy} cores busy")


def ratios(r: dict[str, Any]) -> dict[str, float | None]:
    def get(phase: str, key: str) -> Any:
        return (r.get(phase) or {}).get(key)

    return {
        "B1_pg_http_vs_pgbench": ratio(get("pg_http", "charges_per_s"), get("pgbench", "tps")),
        "B1_p99_ms_at_half_rate": get("pg_http_open", "p99_ms"),
        "floor_vs_pgbench": ratio(get("floor", "charges_per_s"), get("pgbench", "tps")),
        "hordak_vs_pgbench": ratio(get("hordak", "transfers_per_s"), get("pgbench", "tps")),
        "B1_pg_http_vs_hordak": ratio(
            get("pg_http", "charges_per_s"), get("hordak", "transfers_per_s")
        ),
        "B1_pg_http_vs_floor": ratio(
            get("pg_http", "charges_per_s"), get("floor", "charges_per_s")
        ),
        "B2_sqlite_http_vs_raw": ratio(
            get("sqlite_http", "charges_per_s"), get("sqlite_raw", "writes_per_s")
        ),
        "B3_hot_vs_uniform": ratio(
            get("pg_http_hot", "charges_per_s"), get("pg_http", "charges_per_s")
        ),
    }


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}{unit}" if abs(v) < 100 else f"{v:,.0f}{unit}"
    return f"{v}{unit}"


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    pgs = r.get("postgres_settings") or {}
    s = r["settings"]
    rows: list[tuple[str, str, str, str, str, str]] = []

    def add(name: str, phase: str, rate_key: str, vs: str = "", cpu_key: str = "cpu") -> None:
        p = r.get(phase)
        if not p:
            err = (r.get("errors") or {}).get(phase)
            if err:
                rows.append((name, "FAILED", "", "", "", err.splitlines()[-1][:60]))
            return
        cpu = p.get(cpu_key) or {}
        cpu_txt = " ".join(
            f"{k.removesuffix('_cores')} {v}" for k, v in cpu.items() if not isinstance(v, list)
        )
        rows.append(
            (
                name,
                _fmt(p.get(rate_key), "/s"),
                vs,
                _fmt(p.get("p50_ms"), " ms"),
                _fmt(p.get("p99_ms"), " ms"),
                cpu_txt,
            )
        )

    rat = r["ratios"]

    def x(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}x"

    add("pgbench tpcb-like (c16 j2 prepared)", "pgbench", "tps", "1x")
    add(
        f"Hordak {s.get('hordak_threads') or 4} threads (transfer_to, library only)",
        "hordak",
        "transfers_per_s",
        x(rat.get("hordak_vs_pgbench")) + " pgbench",
    )
    add(
        f"stack floor: pgbench's txn via HTTP, C={s['concurrency']}",
        "floor",
        "charges_per_s",
        x(rat.get("floor_vs_pgbench")) + " pgbench",
    )
    add(
        f"HTTP charges, PostgreSQL, C={s['concurrency']}",
        "pg_http",
        "charges_per_s",
        x(rat["B1_pg_http_vs_pgbench"])
        + " pgbench, "
        + x(rat.get("B1_pg_http_vs_floor"))
        + " floor"
        + (f", {x(rat['B1_pg_http_vs_hordak'])} Hordak" if rat.get("B1_pg_http_vs_hordak") else ""),
    )
    add(
        "  same, every charge to one provider",
        "pg_http_hot",
        "charges_per_s",
        x(rat["B3_hot_vs_uniform"]) + " uniform",
    )
    open_phase = r.get("pg_http_open") or {}
    add(
        f"  open loop at {_fmt(open_phase.get('target_rate'))}/s (half)",
        "pg_http_open",
        "charges_per_s",
    )
    add("raw sqlite3 loop (WAL, sync=FULL)", "sqlite_raw", "writes_per_s", "1x")
    add(
        f"HTTP charges, SQLite, C={s['concurrency']}",
        "sqlite_http",
        "charges_per_s",
        x(rat["B2_sqlite_http_vs_raw"]) + " raw",
    )
    head = ("", "rate", "ratio", "p50", "p99", "CPU cores used")
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(6)]
    lines = [
        "  ".join(
            str(c).ljust(widths[i]) if i in (0, 5) else str(c).rjust(widths[i])
            for i, c in enumerate(row)
        ).rstrip()
        for row in [head, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    t = r["targets"]
    verdicts = [
        ("B1 HTTP PG / pgbench", rat["B1_pg_http_vs_pgbench"], t["B1_pg_http_vs_pgbench"], ">="),
        (
            "B1 p99 at half rate (ms)",
            rat["B1_p99_ms_at_half_rate"],
            t["B1_p99_ms_at_half_rate"],
            "<=",
        ),
        ("B2 HTTP SQLite / raw", rat["B2_sqlite_http_vs_raw"], t["B2_sqlite_http_vs_raw"], ">="),
        ("B3 hot / uniform", rat["B3_hot_vs_uniform"], t["B3_hot_vs_uniform"], ">="),
    ]
    if s.get("hordak"):
        verdicts.append(
            (
                f"B1 HTTP PG / Hordak {s.get('hordak_threads')} thr",
                rat.get("B1_pg_http_vs_hordak"),
                t.get("B1_pg_http_vs_hordak", 1.0),
                ">=",
            )
        )
    lines.append("")
    for name, got, want, op in verdicts:
        if got is None:
            mark = "not measured"
        else:
            ok = got >= want if op == ">=" else got <= want
            mark = "meets" if ok else "SHORT"
        lines.append(f"{name:28} {_fmt(got):>8}   target {op} {want:<6} {mark}")
    hv = (r.get("hordak") or {}).get("verify")
    if hv:
        lines.append(
            f"hordak books after the run: {hv['transactions_in_db']} transactions, "
            f"{hv['legs_in_db']} legs for {r['hordak']['completed_all']} transfers completed, "
            f"counts match: {hv['counts_match']}, debits = credits: {hv['sums_match']}"
        )
    for eng in ("pg", "sqlite"):
        v = r.get(f"{eng}_verify")
        if v:
            lines.append(
                f"{eng} ledger after the run: {v['charges_in_db']} charges for "
                f"{v['charges_answered_201']} answered 201, counts match: {v['counts_match']}"
                + (f", books ok: {v['books_ok']}" if "books_ok" in v else "")
                + f", events not yet dispatched at stop: {v.get('events_undelivered_at_stop')}"
            )
    lines.append("")
    lines.append(
        f"machine: {m['nproc']} cores, {m['cpu_model']}, {m['memory_gib']} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}, SQLite {m['sqlite']}; "
        f"Python speed {m.get('python_speed_ms')} ms (bench.machine.python_speed_ms)"
    )
    if pgs:
        lines.append(
            f"PostgreSQL {pgs.get('server_version')}: shared_buffers {pgs.get('shared_buffers')}, "
            f"fsync {pgs.get('fsync')}, synchronous_commit {pgs.get('synchronous_commit')}, "
            f"other client connections at start {pgs.get('active_connections_at_start')}"
        )
    lines.append(
        f"phases {s['duration_s']:g} s after {s['warmup_s']:g} s warm-up; "
        f"{s['clients']} clients, {s['providers']} providers; server workers "
        f"{s['server_workers']}"
        + (
            ", PostgreSQL's web-only with a wallet worker beside it"
            if s.get("worker_process")
            else ""
        )
        + f"; total {r['total_s']} s"
    )
    busy = [
        f"{name} {p['cpu']['other_cores']}"
        for name, p in r.items()
        if isinstance(p, dict) and (p.get("cpu") or {}).get("other_cores", 0) > BUSY_CORES
    ]
    if busy:
        lines.append(
            "WARNING: other processes used CPU during: "
            + ", ".join(busy)
            + " (cores); those figures are skewed, rerun on a quiet machine"
        )
    for name, err in (r.get("errors") or {}).items():
        if not name.endswith("_traceback"):
            err_lines = [ln for ln in err.splitlines() if ln.strip()]
            shown = err_lines[0] if len(err_lines) == 1 else f"{err_lines[0]} ... {err_lines[-1]}"
            lines.append(f"ERROR in {name}: {shown}")
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop comes with litestar[standard]
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        results = runner.run(main(args))
    print(render(results))
    print(f"\nresults: {results['_path']}")
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    raise SystemExit(cli())
