"""Live-events benchmark: commit-to-SSE latency across two processes through Redis, and the
memory of one process holding many idle SSE streams.

    .venv/bin/python -m bench.live_bench [--rate 200] [--seconds 20] [--streams 10000]

Everything runs on loopback: PostgreSQL at 127.0.0.1:5432 (a scratch database is created and
dropped), Redis at 127.0.0.1:6379, two ``wallet serve`` processes. Process A takes the
charges (and dispatches their outbox rows); process B holds the SSE streams, so every event
crosses processes through Redis. ``--worker``: as deployed, both started ``--web-only`` and a
``wallet worker`` beside them dispatches every event.

Latency is measured per event as SSE arrival at the reader minus the event's ``created_at``,
which the use case stamps *before* its transaction; the figure therefore includes the charge's
own transaction and is an upper bound on commit-to-delivery. The time from sending the POST to
the SSE arrival is reported beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.load import ChargeLoad, Connection, HttpError
from bench.machine import cpu_sample, cpu_usage, machine_info
from bench.pg import PG_BASE, drop_database, recreate_database
from bench.server import Worker, descendants, free_port

REPO = Path(__file__).resolve().parent.parent
WALLET = REPO / ".venv" / "bin" / "wallet"
RESULTS = REPO / "bench" / "results"
DB_NAME = "wallet_live_bench"
REDIS = "redis://127.0.0.1:6379/14"


def log(msg: str) -> None:
    print(f"[live-bench] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def seed(url: str, clients: int) -> dict[str, Any]:
    """A county, one provider, ``clients`` funded clients; API keys for all of them."""
    from payments.budgets import catalogue
    from payments.budgets.catalogue import DecisionLineInput
    from payments.budgets.funding import fund_period
    from payments.checkout.trust import set_trusted
    from payments.db import create_database
    from payments.ledger.periods import current_period, first_day
    from payments.marketplace import providers
    from payments.people.access import create_api_key
    from wallet_api.migrate import upgrade

    db = create_database(url)
    await upgrade(db)
    org = await catalogue.create_organizer(db, slug="bench", name="Bench")
    await catalogue.add_category(
        db, organizer_id=org, code="siivous", names={"fi": "Siivous"}, unit="hour"
    )
    prov, prov_principal = await providers.create_provider(
        db, organizer_id=org, name="Bench Oy", business_id="1234567-1", prices={"siivous": 3500}
    )
    period = current_period()
    phones, keys = [], []
    for i in range(clients):
        phone = f"040{i:07d}"
        c = await catalogue.create_client(
            db, organizer_id=org, first_name="B", last_name=str(i), phone=phone
        )
        await catalogue.create_decision(
            db,
            organizer_id=org,
            client_id=c.client_id,
            valid_from=first_day(period),
            valid_to=None,
            lines=[DecisionLineInput("Siivous", 5_000_000, ("siivous",))],
        )
        # The client trusts the provider, so a charge by phone number is captured at once
        # (without trust it would be a payment request waiting for approval).
        await set_trusted(
            db,
            actor_id=c.principal_id,
            wallet_id=c.wallet_id,
            provider_id=prov,
            per_charge_cap_cents=10_000,
        )
        phones.append(phone)
        keys.append(await create_api_key(db, c.principal_id, "bench"))
    await fund_period(db, period)
    provider_key = await create_api_key(db, prov_principal, "bench")
    await db.dispose()
    return {"phones": phones, "client_keys": keys, "provider_key": provider_key}


class Serve:
    def __init__(
        self, url: str, name: str, env: dict[str, str], serve_args: tuple[str, ...] = ()
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.log = open(RESULTS / f"live_{name}.log", "w")
        self.proc = subprocess.Popen(
            [str(WALLET), "serve", "--port", str(self.port), *serve_args],
            env={**os.environ, "WALLET_DATABASE_URL": url, "WALLET_SCHEDULER": "0", **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.base) as c:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise SystemExit(f"server exited; see {self.log.name}")
                try:
                    if (await c.get("/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.05)
        raise SystemExit("server did not start")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class Pool:
    """Keep-alive connections to one server, made as charges need them: :mod:`bench.load`'s
    lean HTTP/1.1 client rather than httpx, whose CPU (this process also reads the 200 SSE
    streams) is taken from the two cores the servers, the worker and PostgreSQL share.

    A connection idle for :data:`KEEPALIVE_S` is closed rather than reused, as httpx does: the
    server closes its end after 5 s (uvicorn's keep-alive), and a charge sent on such a
    connection fails and is sent again."""

    KEEPALIVE_S = 4.0

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[Connection, float]] = []

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        conn = None
        while self.idle and conn is None:
            conn, since = self.idle.pop()
            if time.monotonic() - since > self.KEEPALIVE_S:
                await conn.close()
                conn = None
        conn = conn or Connection("127.0.0.1", self.port)
        try:
            return await conn.request(head, body)
        finally:
            # After an error or a timeout it has closed itself, and reconnects on its next
            # request.
            self.idle.append((conn, time.monotonic()))

    async def close(self) -> None:
        for conn, _ in self.idle:
            await conn.close()
        self.idle.clear()


async def open_stream(port: int, key: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw SSE connection (cheaper than an HTTP client per stream); returns once subscribed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    buf = b""
    while b": connected" not in buf:
        chunk = await reader.read(4096)
        if not chunk:
            raise ConnectionError("stream closed before it was connected")
        buf += chunk
    return reader, writer


async def read_events(
    reader: asyncio.StreamReader,
    arrivals: dict[int, tuple[float, str]],
    stop: asyncio.Event,
    by_charge: dict[str, float] | None = None,
) -> None:
    """Record (arrival wall time, created_at) per event id. The body is chunked and SSE lines
    end in CRLF, so only complete ``data: {...}`` lines are looked at."""
    buf = b""
    by_charge = {} if by_charge is None else by_charge
    while not stop.is_set():
        chunk = await reader.read(65536)
        if not chunk:
            return
        now = time.time()
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.startswith(b"data: {"):
                d = json.loads(line[6:].rstrip(b"\r"))
                arrivals.setdefault(int(d["id"]), (now, d["created_at"]))
                charge_id = (d.get("data") or {}).get("charge_id")
                if charge_id:
                    by_charge[charge_id] = now


async def latency(
    a: Serve,
    b: Serve,
    data: dict[str, Any],
    rate: int,
    seconds: int,
    *,
    both: bool,
    worker: Worker | None = None,
) -> dict[str, Any]:
    keys, phones = data["client_keys"], data["phone"] if "phone" in data else data["phones"]
    arrivals: dict[int, tuple[float, str]] = {}
    stop = asyncio.Event()
    streams = [await open_stream(b.port, k) for k in keys]
    by_charge: dict[str, float] = {}
    readers = [asyncio.create_task(read_events(r, arrivals, stop, by_charge)) for r, _ in streams]
    sent: dict[str, float] = {}
    responded: dict[str, float] = {}
    errors = 0
    # Attempts that failed (retried with the same key), and answers other than 201.
    failures: Counter[str] = Counter()
    to_a, to_b = Pool(a.port), Pool(b.port)

    # One request maker per server, as B1's load has: a random client's phone, the one
    # provider's key, a fresh idempotency key each time.
    loads = {
        pool: ChargeLoad("127.0.0.1", pool.port, [data["provider_key"]], phones, seed=n)
        for n, pool in enumerate((to_a, to_b))
    }

    async def one(i: int) -> None:
        nonlocal errors
        pool = to_b if both and i % 2 else to_a
        head, body = loads[pool].next_request()
        t0 = time.time()
        for _attempt in range(3):
            try:
                # Same key on retry: an idempotent replay, never a second charge.
                status, payload = await pool.request(head, body)
                break
            except (OSError, asyncio.IncompleteReadError, HttpError, ValueError) as exc:
                failures[type(exc).__name__] += 1
                await asyncio.sleep(0.01)  # a keep-alive connection closed under us
        else:
            errors += 1
            return
        if status != 201:
            errors += 1
            failures[str(status)] += 1
            if errors == 1:  # say why once, instead of a silent rate of zero
                log(f"charge refused: {status} {payload[:300]!r}")
            return
        charge_id = json.loads(payload)["id"]
        sent[charge_id] = t0
        responded[charge_id] = time.time()

    # Who used the two cores while the charges were sent: the load generator (this
    # process, its HTTP client and the SSE readers) competes with what it measures.
    groups = {
        "web_a": descendants(a.proc.pid),
        "web_b": descendants(b.proc.pid),
        "worker": worker.pids() if worker else [],
        "loadgen": [os.getpid()],
    }
    before = cpu_sample(groups)
    start = time.monotonic()
    tasks = []
    total = rate * seconds
    for i in range(total):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - start
    cpu = cpu_usage(before, cpu_sample(groups))
    for pool in (to_a, to_b):
        await pool.close()
    await asyncio.sleep(2)  # let the last events arrive
    stop.set()
    for t in readers:
        t.cancel()
    for _, w in streams:
        w.close()
    lat = [
        (arr - datetime.fromisoformat(created).timestamp()) * 1000
        for arr, created in arrivals.values()
    ]
    after_response = [(by_charge[c] - responded[c]) * 1000 for c in responded if c in by_charge]
    after_send = [(by_charge[c] - sent[c]) * 1000 for c in sent if c in by_charge]
    return {
        "latency_ms_response_to_sse": {
            "p50": round(pct(after_response, 50), 1),
            "p99": round(pct(after_response, 99), 1),
        },
        "latency_ms_post_sent_to_sse": {
            "p50": round(pct(after_send, 50), 1),
            "p99": round(pct(after_send, 99), 1),
        },
        "charges_sent": total,
        "charges_ok": len(sent),
        "errors": errors,
        "failures": dict(failures),
        "achieved_rate_per_s": round(len(sent) / elapsed, 1),
        "events_received": len(arrivals),
        "sse_streams": len(streams),
        "cpu": cpu,
        "latency_ms_created_to_sse": {
            "p50": round(pct(lat, 50), 1),
            "p90": round(pct(lat, 90), 1),
            "p99": round(pct(lat, 99), 1),
            "max": round(max(lat), 1) if lat else None,
            "mean": round(statistics.fmean(lat), 1) if lat else None,
        },
    }


async def idle_streams(b: Serve, keys: list[str], n: int, hold_s: float) -> dict[str, Any]:
    before = b.rss_mib()
    conns: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    sem = asyncio.Semaphore(200)
    failures = 0

    async def connect(i: int) -> None:
        nonlocal failures
        async with sem:
            try:
                conns.append(await open_stream(b.port, keys[i % len(keys)]))
            except OSError:
                failures += 1

    t0 = time.monotonic()
    await asyncio.gather(*(connect(i) for i in range(n)))
    connect_s = time.monotonic() - t0
    # Drain heartbeats so the server's send buffers stay empty, as with a live browser.
    stop = asyncio.Event()
    drains = [asyncio.create_task(read_events(r, {}, stop)) for r, _ in conns]
    peak = b.rss_mib()
    deadline = time.monotonic() + hold_s
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        peak = max(peak, b.rss_mib())
    stop.set()
    for t in drains:
        t.cancel()
    for _, w in conns:
        w.close()
    return {
        "streams_open": len(conns),
        "connect_failures": failures,
        "connect_seconds": round(connect_s, 1),
        "held_seconds": hold_s,
        "rss_mib_before": round(before, 1),
        "rss_mib_peak": round(peak, 1),
        "rss_kib_per_stream": round((peak - before) * 1024 / max(1, len(conns)), 1),
    }


async def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--streams", type=int, default=10_000)
    ap.add_argument("--hold", type=float, default=20.0)
    ap.add_argument(
        "--ingest",
        choices=("a", "ab"),
        default="ab",
        help="post charges to A only, or alternately to A and B (streams are on B either way; "
        "every event goes through Redis)",
    )
    ap.add_argument(
        "--worker",
        action="store_true",
        help="as deployed (deploy/systemd): A and B started --web-only, and a wallet worker "
        "dispatching the outbox beside them",
    )
    args = ap.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    url = f"{PG_BASE}/{DB_NAME}"
    await recreate_database(PG_BASE, DB_NAME)
    results: dict[str, Any] = {"machine": machine_info(), "args": vars(args)}
    servers: list[Serve] = []
    worker: Worker | None = None
    stops: list[Callable[[], object]] = []
    try:
        log(f"seeding {args.clients} clients")
        data = await seed(url, args.clients)
        env = {"WALLET_REDIS_URL": REDIS}
        shape: tuple[str, ...] = ("--web-only",) if args.worker else ()
        a, b = Serve(url, "a", env, shape), Serve(url, "b", env, shape)
        servers += [a, b]
        if args.worker:
            # The deployed shape's dispatcher; started (and waited for) before the web processes
            # answer, stopped with them.
            quiet = {**env, "WALLET_SCHEDULER": "0"}
            worker = Worker(url, log_path=RESULTS / "live_worker.log", extra_env=quiet)
            await asyncio.to_thread(worker.start)
            stops.append(worker.stop)
        for server in servers:
            await server.ready()
        log(f"latency: {args.rate}/s for {args.seconds}s, charges to {args.ingest}, SSE on B")
        results["latency"] = await latency(
            a, b, data, args.rate, args.seconds, both=args.ingest == "ab", worker=worker
        )
        log(json.dumps(results["latency"]))
        log(f"memory: {args.streams} idle streams on B for {args.hold}s")
        results["idle_streams"] = await idle_streams(
            b, data["client_keys"], args.streams, args.hold
        )
        log(json.dumps(results["idle_streams"]))
    finally:
        for s in servers:
            s.stop()
        for stop in stops:
            stop()
        await drop_database(PG_BASE, DB_NAME)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"live_{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    log(f"written to {out}")


if __name__ == "__main__":
    asyncio.run(main())
