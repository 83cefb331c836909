"""Reference phase: django-hordak 2.0 doing two-legged transfers on the same PostgreSQL (issue 21).

Issue 21 compares the wallet with what a county's vendor could build on django-hordak, a
double-entry library for Django, and sets the target "B1 >= 1.0x Hordak's 4-thread rate,
measured in the same run". This phase measures that rate: ``bench/hordak_driver.py`` (our code,
hordak's public API) makes one ``Account.transfer_to`` per database transaction from N threads
(4 by default) for a fixed time after a warm-up, on a scratch database ``wallet_bench_hordak``
that this phase creates and drops. Library only: no HTTP, no overdraft check, no idempotency,
no outbox, so it is a floor for what such a vendor's charge would cost, not a like-for-like
charge.

Django and hordak are not the wallet's dependencies and must not become them: on first use
they are installed, pinned by ``bench/hordak-requirements.txt``, into a virtualenv of their own
under ``~/.cache/wallet-hordak`` (``WALLET_HORDAK_VENV`` to move it), as ``bench.first_screen``
installs Lighthouse under ``~/.cache``. That first install needs PyPI; later runs do not.

Alone: ``.venv/bin/python -m bench.hordak [--duration 30] [--threads 4] [--pg URL]`` prints the
driver's JSON; ``python -m bench.run --hordak`` runs it after pgbench and puts it in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import pg as pgmod

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "hordak_driver.py"
REQUIREMENTS = HERE / "hordak-requirements.txt"
VENV = Path(os.environ.get("WALLET_HORDAK_VENV", Path.home() / ".cache" / "wallet-hordak"))
DB_NAME = "wallet_bench_hordak"
STAMP = ".wallet-requirements.sha256"


def venv_python(venv: Path = VENV) -> Path:
    return venv / "bin" / "python"


def _wanted() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_ready(venv: Path = VENV) -> bool:
    """The virtualenv exists and holds exactly what ``hordak-requirements.txt`` pins now."""
    stamp = venv / STAMP
    return venv_python(venv).exists() and stamp.exists() and stamp.read_text().strip() == _wanted()


def ensure_venv(venv: Path = VENV, log: Callable[[str], None] = print) -> Path:
    """Create (or bring up to date) hordak's own virtualenv; return its Python.

    Reinstalls only when the pins change (a hash of the requirements file is kept beside it).
    """
    if venv_ready(venv):
        return venv_python(venv)
    log(f"hordak: installing {REQUIREMENTS.name} into {venv} (first use)")
    if not venv_python(venv).exists():
        shutil.rmtree(venv, ignore_errors=True)
        # The project's own Python version (a venv made from a venv is based on the same
        # interpreter), which the pins were resolved for.
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    done = subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode:
        raise RuntimeError(f"installing hordak failed:\n{done.stderr[-2000:]}")
    (venv / STAMP).write_text(_wanted() + "\n")
    return venv_python(venv)


async def run_hordak(
    base: str,
    *,
    duration: float,
    warmup: float = 3.0,
    threads: int = 4,
    assets: int = 2000,
    incomes: int = 20,
    log: Callable[[str], None] = print,
    stderr_path: Path | None = None,
) -> dict[str, Any]:
    """Install if needed, recreate the scratch database, run the driver, drop the database.

    Returns the driver's JSON with ``transfers_per_s`` as the rate; raises if the driver failed,
    a transfer failed, or the database does not hold exactly the transfers counted.
    """
    pgmod.check_loopback(base)
    python = await asyncio.to_thread(ensure_venv, VENV, log)
    await pgmod.recreate_database(base, DB_NAME)
    try:
        cmd = [
            str(python),
            "-I",  # isolated: no PYTHONPATH, no user site, not bench/ itself on the path
            str(DRIVER),
            "--db",
            f"{base}/{DB_NAME}",
            "--threads",
            str(threads),
            "--duration",
            str(duration),
            "--warmup",
            str(warmup),
            "--assets",
            str(assets),
            "--incomes",
            str(incomes),
        ]
        log(f"hordak: {threads} threads, Account.transfer_to, {duration:g} s after {warmup:g} s")
        done = await asyncio.to_thread(
            subprocess.run,
            cmd,
            capture_output=True,
            text=True,
            timeout=duration + warmup + 600,
            env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"},
        )
        if stderr_path is not None:
            await asyncio.to_thread(stderr_path.write_text, done.stderr)
        if done.returncode:
            raise RuntimeError(f"hordak driver failed ({done.returncode}): {done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        await pgmod.drop_database(base, DB_NAME)
    verify = result["verify"]
    if result["failures"] or not (verify["counts_match"] and verify["sums_match"]):
        raise RuntimeError(
            f"hordak: {result['failures']} failed transfers ({result['first_error']}); "
            f"books {verify}"
        )
    log(
        f"hordak: {result['transfers_per_s']:.0f} transfers/s, p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms, cpu {result['cpu']}; {verify['transactions_in_db']} "
        f"transactions in the database for {result['completed_all']} completed"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hordak", description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=30, help="seconds measured")
    p.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured load first")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--assets", type=int, default=2000, help="asset (client) accounts")
    p.add_argument("--incomes", type=int, default=20, help="income (provider) accounts")
    p.add_argument("--pg", default=pgmod.PG_BASE, help="PostgreSQL server (loopback only)")
    args = p.parse_args(argv)
    if not 0 < args.duration <= 3600 or not 1 <= args.threads <= 64:
        p.error("duration must be in (0, 3600] s and threads in [1, 64]")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    result = asyncio.run(
        run_hordak(
            args.pg,
            duration=args.duration,
            warmup=args.warmup,
            threads=args.threads,
            assets=args.assets,
            incomes=args.incomes,
            log=log,
        )
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
