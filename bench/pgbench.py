"""(a) ``pgbench`` tpcb-like on the same PostgreSQL: the yardstick for the HTTP figures."""

from __future__ import annotations

import asyncio
import re
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.machine import cpu_sample, cpu_usage
from bench.pg import drop_database, recreate_database
from bench.stats import latency_summary_ms

DB_NAME = "wallet_bench_pgbench"


def _conn_args(base: str) -> list[str]:
    u = urlsplit(base)
    return [
        "-h",
        u.hostname or "127.0.0.1",
        "-p",
        str(u.port or 5432),
        "-U",
        u.username or "postgres",
    ]


def _pgbench() -> str:
    found = shutil.which("pgbench") or "/usr/bin/pgbench"
    if not Path(found).exists():
        raise SystemExit("pgbench not found (apt-get install postgresql-client)")
    return found


_TPS = re.compile(r"^tps = ([\d.]+) \(without initial connection time\)", re.M)
_LAT = re.compile(r"^latency average = ([\d.]+) ms", re.M)
_TX = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)


def parse_output(text: str) -> dict[str, Any]:
    def num(rx: re.Pattern[str], cast: type = float) -> Any:
        m = rx.search(text)
        return cast(m.group(1)) if m else None

    return {
        "tps": num(_TPS),
        "latency_avg_ms": num(_LAT),
        "transactions": num(_TX, int),
        "failed": num(_FAILED, int),
    }


def _log_latencies(log_dir: Path) -> list[float]:
    """Per-transaction latencies (seconds) from ``pgbench -l`` logs.

    Each line: client_id transaction_no time_us script_no epoch epoch_us [lag].
    """
    out: list[float] = []
    for f in sorted(log_dir.glob("pgbench_log*")):
        with f.open() as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    out.append(int(parts[2]) / 1_000_000)
    return out


def _with_client_cpu(cpu: dict[str, Any], client_s: float, wall: float) -> dict[str, Any]:
    """Count pgbench's own client process as the load generator, not as ``other``."""
    cores = round(client_s / max(wall, 1e-9), 2)
    other = cpu.pop("other_cores", 0.0)
    cpu["loadgen_cores"] = cores
    cpu["other_cores"] = round(max(other - cores, 0.0), 2)
    return cpu


async def initialise(base: str, name: str, scale: int) -> None:
    """(Re)create database ``name`` and fill it with ``pgbench -i`` at ``scale``."""
    await recreate_database(base, name)
    await asyncio.to_thread(
        subprocess.run,
        [_pgbench(), "-i", "-s", str(scale), "-q", *_conn_args(base), name],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )


async def run_pgbench(
    base: str,
    *,
    duration: int,
    clients: int = 16,
    threads: int = 2,
    scale: int = 10,
    log: Any = print,
) -> dict[str, Any]:
    exe = _pgbench()
    try:
        log(f"pgbench: initialising scale {scale} in {DB_NAME}")
        await initialise(base, DB_NAME, scale)
        with tempfile.TemporaryDirectory(prefix="wallet-pgbench-") as tmp:
            cmd = [
                exe,
                f"-c{clients}",
                f"-j{threads}",
                "-M",
                "prepared",
                "-T",
                str(duration),
                "-l",
                f"--log-prefix={tmp}/pgbench_log",
                *_conn_args(base),
                DB_NAME,
            ]
            log(f"pgbench: {' '.join(cmd[:7])} ({duration} s)")
            before = cpu_sample()
            children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            proc = await asyncio.to_thread(
                subprocess.run,
                cmd,
                check=False,
                capture_output=True,
                text=True,
                timeout=duration + 120,
            )
            after = cpu_sample()
            children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if proc.returncode != 0:
                raise RuntimeError(f"pgbench failed ({proc.returncode}): {proc.stderr[-2000:]}")
            result = parse_output(proc.stdout)
            result.update(latency_summary_ms(_log_latencies(Path(tmp))))
        result.update(
            {
                "scale": scale,
                "clients": clients,
                "threads": threads,
                "mode": "prepared",
                "duration_s": duration,
                "cpu": _with_client_cpu(
                    cpu_usage(before, after),
                    children_after.ru_utime
                    + children_after.ru_stime
                    - children_before.ru_utime
                    - children_before.ru_stime,
                    after.at - before.at,
                ),
            }
        )
        return result
    finally:
        await drop_database(base, DB_NAME)
