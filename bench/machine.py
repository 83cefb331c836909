"""What the figures were measured on: CPU, memory, kernel, Python, PostgreSQL settings."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _mem_total_gib(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    info["python_speed_ms"] = python_speed_ms()
    return info


def python_speed_ms() -> float:
    """Milliseconds for a fixed pure-Python loop (best of five): how fast one core runs Python
    here. Machines of the same kind have differed by 3x from one day to the next; this figure
    lets two runs' absolute rates be compared, and explains why a ratio against a C yardstick
    (pgbench, sqlite3) moves with it."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        total = 0
        for i in range(300_000):
            total += i % 7
        best = min(best, time.perf_counter() - t0)
    return round(best * 1000, 2)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


@dataclass(frozen=True)
class CpuSample:
    """Jiffies of the whole machine (busy, total, stolen) and of chosen processes, at one
    instant."""

    at: float
    busy: int
    total: int
    procs: dict[str, dict[int, int]]
    steal: int = 0


def _machine_jiffies() -> tuple[int, int, int]:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # user..steal; guest time is already inside user
    steal = values[7] if len(values) > 7 else 0  # time the hypervisor gave to other guests
    return total - idle, total, steal


def _proc_jiffies(pid: int) -> int:
    """utime + stime of a process and its waited-for children (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14-17.
    return sum(int(fields[i]) for i in (11, 12, 13, 14))


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("postgres") or comm.startswith("postmaster"):
            pids.append(int(entry.name))
    return pids


def cpu_sample(named_pids: dict[str, list[int]] | None = None) -> CpuSample:
    """Sample machine CPU and each named group of processes (``"postgres"`` is found alone)."""
    busy, total, steal = _machine_jiffies()
    groups = dict(named_pids or {})
    groups.setdefault("postgres", _postgres_pids())
    procs = {name: {p: _proc_jiffies(p) for p in pids} for name, pids in groups.items()}
    return CpuSample(at=time.monotonic(), busy=busy, total=total, procs=procs, steal=steal)


def cpu_usage(before: CpuSample, after: CpuSample) -> dict[str, Any]:
    """Cores used on average between two samples: by the machine and by each process group.

    Each process counts from the first sample (or its start) to the second; a PostgreSQL backend
    that started and ended between the samples is not counted, so ``postgres`` is a lower bound
    when connections come and go.
    """
    hz = os.sysconf("SC_CLK_TCK")
    wall = max(after.at - before.at, 1e-9)
    ncpu = os.cpu_count() or 1
    total = max(after.total - before.total, 1)
    out = {"machine_cores": round(ncpu * (after.busy - before.busy) / total, 2)}
    per_process: dict[str, list[float]] = {}
    for name, pids in after.procs.items():
        earlier = before.procs.get(name, {})
        each = [max(j - earlier.get(pid, 0), 0) for pid, j in pids.items() if j]
        out[f"{name}_cores"] = round(sum(each) / hz / wall, 2)
        if name != "postgres" and len(each) > 1:
            per_process[name] = sorted((round(u / hz / wall, 2) for u in each), reverse=True)
    # CPU time the hypervisor gave to other guests while we wanted it ("steal"): a virtual
    # machine's neighbours slow every phase, the yardstick's too, and show up nowhere else.
    out["steal_cores"] = round(ncpu * (after.steal - before.steal) / total, 2)
    # Whatever else ran on the machine meanwhile (other people's tests, say) skews a run.
    out["other_cores"] = round(
        max(out["machine_cores"] - sum(v for k, v in out.items() if k != "machine_cores"), 0), 2
    )
    result: dict[str, Any] = dict(out)
    for name, shares in per_process.items():
        result[f"{name}_per_process_cores"] = shares  # e.g. how evenly server workers share
    return result
