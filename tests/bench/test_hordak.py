"""The django-hordak reference phase (issue 21): ``bench.hordak`` and ``bench.run --hordak``.

The phase needs hordak's own virtualenv (``~/.cache/wallet-hordak``, made by the first
``python -m bench.hordak`` from PyPI, about 15 s, kept between runs). Outside CI a machine
without it skips that test; in CI, where nothing may be skipped, the test installs it. What
``bench.run`` does with the phase's figures is checked everywhere.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from bench import hordak
from bench import run as bench_run
from tests.support.databases import PG_BASE, need, pg_ready


def test_hordak_transfers_are_counted_and_in_the_database() -> None:
    """Two seconds of hordak transfers from 2 threads on 40 + 3 accounts: every transfer
    counted is a hordak transaction of two legs in the database, debits equal credits, and the
    scratch database is gone afterwards (rates of so short a run mean nothing)."""
    if not hordak.venv_ready():
        if not os.environ.get("CI"):
            pytest.skip(
                f"hordak's virtualenv is not installed ({hordak.VENV}): python -m bench.hordak"
            )
        hordak.ensure_venv(log=lambda _: None)
    if not asyncio.run(pg_ready()):
        need(f"PostgreSQL at {PG_BASE} is not reachable")
    result = asyncio.run(
        hordak.run_hordak(
            PG_BASE, duration=2, warmup=0.5, threads=2, assets=40, incomes=3, log=lambda _: None
        )
    )
    assert result["failures"] == 0 and result["transfers"] > 0
    assert result["transfers_per_s"] == pytest.approx(
        result["transfers"] / result["seconds"], rel=0.01
    )
    assert len(result["per_thread"]) == 2 and all(result["per_thread"])
    assert result["p50_ms"] and result["p99_ms"] >= result["p50_ms"]
    assert result["cpu"]["driver_cores"] > 0
    verify = result["verify"]
    assert verify["transactions_in_db"] == result["completed_all"] >= result["transfers"]
    assert verify["legs_in_db"] == 2 * result["completed_all"]
    assert verify["legs_per_transaction"] == [2]
    assert verify["counts_match"] and verify["sums_match"]
    assert result["versions"]["django_hordak"] == "2.0.0"
    assert hordak.DB_NAME not in asyncio.run(_databases())


async def _databases() -> list[str]:
    import asyncpg

    conn = await asyncpg.connect(PG_BASE + "/postgres", timeout=10)
    try:
        return [r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")]
    finally:
        await conn.close()


def test_the_hordak_option_of_bench_run() -> None:
    """Off by default; with ``--quick`` too; only with the pg engine."""
    assert not bench_run.parse_args(["--quick"]).hordak
    quick = bench_run.parse_args(["--quick", "--hordak"])
    assert quick.hordak and quick.hordak_threads == 4 and quick.duration == 5
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--hordak", "--engines", "sqlite"])


def _results(**phases: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "machine": {
            "nproc": 2,
            "cpu_model": "test",
            "memory_gib": 1,
            "kernel": "k",
            "python": "3",
            "sqlite": "3",
        },
        "settings": {
            "concurrency": 24,
            "duration_s": 20,
            "warmup_s": 2,
            "clients": 2000,
            "providers": 20,
            "server_workers": 1,
            "hordak": "hordak" in phases,
            "hordak_threads": 4 if "hordak" in phases else None,
        },
        "targets": bench_run.TARGETS,
        "total_s": 1.0,
        **phases,
    }
    r["ratios"] = bench_run.ratios(r)
    return r


def test_the_table_shows_hordak_and_its_ratios() -> None:
    r = _results(
        pgbench={"tps": 5000.0},
        hordak={
            "transfers_per_s": 1000.0,
            "p50_ms": 3.0,
            "p99_ms": 9.0,
            "completed_all": 22000,
            "verify": {
                "transactions_in_db": 22000,
                "legs_in_db": 44000,
                "counts_match": True,
                "sums_match": True,
            },
        },
        pg_http={"charges_per_s": 1500.0, "p50_ms": 10.0, "p99_ms": 30.0},
    )
    assert r["ratios"]["hordak_vs_pgbench"] == 0.2
    assert r["ratios"]["B1_pg_http_vs_hordak"] == 1.5
    table = bench_run.render(r)
    assert "Hordak 4 threads" in table and "0.200x pgbench" in table
    assert "1.500x Hordak" in table
    assert "B1 HTTP PG / Hordak 4 thr" in table and "meets" in table
    assert "hordak books after the run: 22000 transactions, 44000 legs" in table


def test_without_hordak_the_table_does_not_mention_it() -> None:
    r = _results(pgbench={"tps": 5000.0}, pg_http={"charges_per_s": 1500.0})
    assert r["ratios"]["B1_pg_http_vs_hordak"] is None
    assert "Hordak" not in bench_run.render(r)
