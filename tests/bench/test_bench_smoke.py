"""``make bench`` keeps working: a short run of every phase of ``bench.run``, for real.

Rates from so short a run mean nothing; what is checked is that each phase ran (pgbench, the
stack's floor, the HTTP charge load on PostgreSQL with its hot-provider and open-loop phases,
the raw sqlite3 loop and the HTTP load on SQLite), that every charge answered 201 is in the
ledger exactly once, that the books check passed afterwards, and that the command printed the
table and wrote the JSON it points to; then PostgreSQL once more in the deployed shape
(``--worker``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench import run as bench_run
from bench.server import DEFAULT_WALLET
from tests.support.databases import PG_BASE, need, pg_ready


def _quick(
    results_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[str, Path, dict[str, Any]]:
    """A short ``bench.run`` of a small county into ``results_dir``: (what it printed, the JSON
    it wrote, its contents), once it has exited 0."""
    code = bench_run.cli(
        [
            *("--quick", "--duration", "2", "--warmup", "0.5"),
            *("--clients", "40", "--providers", "3", "--concurrency", "4"),
            *("--pg", PG_BASE, "--results", str(results_dir)),
            *extra,
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    [written] = results_dir.glob("*Z.json")
    return printed, written, json.loads(written.read_text())


def test_every_phase_of_the_benchmark_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not asyncio.run(pg_ready()):
        need(f"PostgreSQL at {PG_BASE} is not reachable")
    if shutil.which("pgbench") is None and not Path("/usr/bin/pgbench").exists():
        need("pgbench is not installed (postgresql-client)")
    if not DEFAULT_WALLET.exists():
        need("the wallet executable is not installed in .venv (make install)")
    printed, written, results = _quick(tmp_path, capsys)

    assert not results.get("errors"), results.get("errors")
    for phase in ("pgbench", "floor", "pg_http_hot", "pg_http_open", "sqlite_raw"):
        assert results[phase], phase
    assert results["floor"]["captured"] > 0
    for engine in ("pg", "sqlite"):
        http = results[f"{engine}_http"]
        assert http["captured"] > 0 and set(http["statuses"]) == {"201"}, http
        verified = results[f"{engine}_verify"]
        assert verified["counts_match"] and verified["books_ok"], verified
        # The pipeline's own counters over the window (from the server's /metrics): every
        # charge of this closed loop went through it, some together.
        pipeline = http["pipeline"]
        assert pipeline["batches"] > 0 and pipeline["charges_per_batch"] >= 1, pipeline
        assert 0 < pipeline["busy"] < 1.5, pipeline
        # The same batches counted in the ledger, by the clock each batch gives its charges.
        ledger = http["ledger"]
        assert ledger["charges"] > 0 and ledger["batches"] > 0, ledger
        assert 1 <= ledger["charges_per_batch"] <= 4, ledger  # C=4: at most 4 a batch
    assert "pipeline" not in results["floor"]  # another app: no pipeline to read
    ratios = results["ratios"]
    assert ratios["B1_pg_http_vs_pgbench"] and ratios["B1_pg_http_vs_floor"]
    assert ratios["B2_sqlite_http_vs_raw"]
    assert "stack floor" in printed and f"results: {written}" in printed
    deployed = tmp_path / "deployed"
    deployed.mkdir()
    _the_deployed_shape_runs(deployed, capsys)


def _the_deployed_shape_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--worker``: PostgreSQL served as deployed (deploy/systemd), two web processes
    (``wallet serve --web-only --workers 2``) and a ``wallet worker`` beside them with Redis
    between them. The worker's CPU is counted on its own, the batches of both web processes are
    counted in the ledger, and every charge answered 201 is in the ledger once. (Part of the
    test above: both use the benchmark's one scratch database, so they must not run at once.)"""
    printed, _, results = _quick(
        tmp_path,
        capsys,
        "--engines",
        "pg",
        "--no-pgbench",
        "--no-floor",
        "--no-hot",
        "--no-open-loop",
        "--worker",
        *("--workers", "2"),
    )
    assert not results.get("errors"), results.get("errors")
    assert results["settings"]["worker_process"] is True
    http = results["pg_http"]
    assert http["captured"] > 0 and set(http["statuses"]) == {"201"}, http
    assert "worker_cores" in http["cpu"], http["cpu"]
    # Two processes: no one /metrics has every batch, the ledger has.
    assert "pipeline" not in http
    assert http["ledger"]["batches"] > 0 and http["ledger"]["charges_per_batch"] >= 1, http
    verified = results["pg_verify"]
    assert verified["counts_match"] and verified["books_ok"], verified
    assert "web-only with a wallet worker beside it" in printed
    assert "--web-only" in next(tmp_path.glob("*-server-pg.log")).read_text()
    assert "worker running" in next(tmp_path.glob("*-worker-pg.log")).read_text()


def test_the_import_benchmark_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """B6 with 40 rows on both engines: every phase ran, the books check passed, and the
    table and JSON are written (the rates of so small a run mean nothing)."""
    from bench import import_bench

    if not asyncio.run(pg_ready()):
        need(f"PostgreSQL at {PG_BASE} is not reachable")
    code = import_bench.cli(
        ["--rows", "40", "--reference", "3", "--pg", PG_BASE, "--results", str(tmp_path)]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    [written] = tmp_path.glob("import-*.json")
    results = json.loads(written.read_text())
    for engine in ("sqlite", "postgres"):
        assert results[engine]["books_ok"] is True
        assert results[engine]["rows"] == 40
    assert "sqlite         40" in printed and "postgres       40" in printed


@pytest.mark.redis
@pytest.mark.postgres
def test_the_live_benchmark_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """B5 in the deployed shape at 20 charges a second for 2 s: every charge answered 201 on
    the first attempt of its lean keep-alive client, every event reached its SSE stream, and
    the result says who used the machine's CPU meanwhile (the latencies of so short a run mean
    nothing)."""
    import redis

    from bench import live_bench

    if not asyncio.run(pg_ready()):
        need(f"PostgreSQL at {PG_BASE} is not reachable")
    try:
        redis.Redis.from_url(live_bench.REDIS, socket_timeout=2).ping()
    except redis.RedisError:
        need(f"Redis is not reachable at {live_bench.REDIS}")
    if not live_bench.WALLET.exists():
        need("the wallet executable is not installed in .venv (make install)")
    monkeypatch.setattr(live_bench, "RESULTS", tmp_path)
    asyncio.run(
        live_bench.main(
            [
                *("--rate", "20", "--seconds", "2", "--clients", "20"),
                *("--streams", "20", "--hold", "0.5", "--worker"),
            ]
        )
    )
    [written] = tmp_path.glob("live_2*.json")
    latency = json.loads(written.read_text())["latency"]
    assert latency["charges_ok"] == latency["charges_sent"] == 40, latency
    assert latency["events_received"] == 40 and latency["errors"] == 0, latency
    assert latency["failures"] == {}, latency
    cpu = latency["cpu"]
    assert cpu["web_a_cores"] > 0 and cpu["loadgen_cores"] > 0, cpu
    assert "worker_cores" in cpu, cpu
    # The charges' events and the month's funding of the 20 clients, all delivered.
    assert "dispatcher stopped: 60 events delivered" in (tmp_path / "live_worker.log").read_text()
