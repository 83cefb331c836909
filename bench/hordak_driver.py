"""The django-hordak reference load, run by ``bench.hordak`` with its own virtualenv's Python.

Not part of the wallet: this file is run only by the interpreter of ``~/.cache/wallet-hordak``
(where Django and django-hordak 2.0 are installed), never imported by the project, which has no
Django. It uses hordak's public API only, as a vendor building on hordak would:

1. configures Django in code (no settings module, ``DEBUG`` off so no query is kept) on the
   scratch database it is given, and runs hordak's migrations (its tables, its check triggers);
2. creates ``--assets`` asset accounts (the clients) and ``--incomes`` income accounts (the
   providers), all in EUR;
3. runs ``--threads`` threads, each on its own database connection, each doing transfers of
   35.00 EUR (the price of one hour in ``bench.seed``) from a random client's account to a random
   provider's with ``Account.transfer_to``: one database transaction each, writing one hordak
   ``Transaction`` and its two ``Leg`` rows; hordak's deferred trigger checks at commit that the
   legs balance. No HTTP, no balance (overdraft) check, no idempotency key, no outbox: the
   library's own cost of a two-legged transfer, which is what issue 21's "3.6x faster per
   transfer" compares;
4. after a warm-up, counts the transfers that completed in the measured window, with their
   latencies and the CPU used by this process, PostgreSQL and the rest of the machine;
5. checks the books afterwards: as many hordak transactions in the database as transfers
   completed, twice as many legs, debits equal to credits and to 35.00 EUR times the count;

and prints one JSON object on stdout (progress goes to stderr).

``bench.machine`` and ``bench.stats`` (standard library only) are imported from the repository
this file sits in, so the CPU and latency figures are computed as for every other phase.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# Run as a script, Python puts bench/ first on the path, where bench/hordak.py would shadow the
# hordak package: the repository's root instead (bench.hordak runs this with -I, which adds none).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.machine import cpu_sample, cpu_usage  # noqa: E402
from bench.stats import latency_summary_ms  # noqa: E402

AMOUNT = Decimal("35.00")


def log(msg: str) -> None:
    print(f"[hordak driver {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def configure(url: str) -> None:
    """Django settings in code: hordak and the apps it needs, on the database at ``url``."""
    import django
    from django.conf import settings

    u = urlsplit(url)
    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        SECRET_KEY="bench-hordak-not-secret",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "mptt",
            "djmoney",
            "hordak",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": u.path.lstrip("/"),
                "HOST": u.hostname or "127.0.0.1",
                "PORT": str(u.port or 5432),
                "USER": unquote(u.username or "postgres"),
                "PASSWORD": unquote(u.password or ""),
                # Each thread keeps its one connection for the whole run, as a pooled
                # application server would.
                "CONN_MAX_AGE": None,
            }
        },
        DEFAULT_CURRENCY="EUR",
        CURRENCIES=["EUR"],
        HORDAK_INTERNAL_CURRENCY="EUR",
        LOGGING_CONFIG=None,
    )
    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def create_accounts(assets: int, incomes: int) -> tuple[list[int], list[int]]:
    """Root accounts with increasing codes, so that each is appended to django-mptt's forest
    (no renumbering of the trees already there)."""
    from django.db import transaction
    from hordak.models import Account, AccountType

    with transaction.atomic():
        asset_ids = [
            Account.objects.create(
                name=f"client {i}", code=f"1{i:05d}", type=AccountType.asset, currencies=["EUR"]
            ).pk
            for i in range(assets)
        ]
        income_ids = [
            Account.objects.create(
                name=f"provider {i}", code=f"4{i:05d}", type=AccountType.income, currencies=["EUR"]
            ).pk
            for i in range(incomes)
        ]
    return asset_ids, income_ids


class Worker(threading.Thread):
    """One thread, one connection: transfers until ``stop_at``; keeps the latency and end time of
    each transfer that completed."""

    def __init__(
        self,
        index: int,
        asset_ids: list[int],
        income_ids: list[int],
        start: threading.Barrier,
        timing: dict[str, float],
    ) -> None:
        super().__init__(name=f"hordak-{index}", daemon=True)
        self.rng = random.Random(index)
        self.asset_ids = asset_ids
        self.income_ids = income_ids
        self.start_barrier = start
        self.timing = timing
        self.done: list[tuple[float, float]] = []  # (ended at, latency s)
        self.failures = 0
        self.first_error: str | None = None

    def run(self) -> None:
        from django.db import connection
        from djmoney.money import Money
        from hordak.models import Account

        try:
            # This thread's own model instances, fetched on this thread's connection.
            by_id = Account.objects.in_bulk(self.asset_ids + self.income_ids)
            assets = [by_id[i] for i in self.asset_ids]
            incomes = [by_id[i] for i in self.income_ids]
            amount = Money(AMOUNT, "EUR")
            self.start_barrier.wait()
            stop_at = self.timing["stop_at"]
            clock = time.perf_counter
            while True:
                began = clock()
                if began >= stop_at:
                    break
                client = assets[self.rng.randrange(len(assets))]
                provider = incomes[self.rng.randrange(len(incomes))]
                try:
                    client.transfer_to(provider, amount, description="bench charge")
                except Exception as exc:
                    self.failures += 1
                    self.first_error = self.first_error or repr(exc)
                    if self.failures > 100:
                        break
                    continue
                ended = clock()
                self.done.append((ended, ended - began))
        finally:
            connection.close()


def run_load(
    asset_ids: list[int], income_ids: list[int], threads: int, warmup: float, duration: float
) -> dict[str, Any]:
    timing: dict[str, float] = {}
    barrier = threading.Barrier(threads + 1)
    workers = [Worker(i, asset_ids, income_ids, barrier, timing) for i in range(threads)]
    for w in workers:
        w.start()
    # Every worker has its connection and its accounts: the clock starts now for all of them.
    t0 = time.perf_counter()
    timing["stop_at"] = t0 + warmup + duration
    barrier.wait()
    time.sleep(warmup)
    measure_from = time.perf_counter()
    before = cpu_sample({"driver": [os.getpid()]})
    time.sleep(max(0.0, timing["stop_at"] - time.perf_counter()))
    measure_to = time.perf_counter()
    after = cpu_sample({"driver": [os.getpid()]})
    for w in workers:
        w.join(timeout=60)
    window = [lat for w in workers for ended, lat in w.done if measure_from <= ended <= measure_to]
    seconds = measure_to - measure_from
    completed = sum(len(w.done) for w in workers)
    result: dict[str, Any] = {
        "transfers": len(window),
        "seconds": round(seconds, 3),
        "transfers_per_s": round(len(window) / seconds, 1) if seconds > 0 else None,
        **latency_summary_ms(window),
        "threads": threads,
        "per_thread": [
            sum(1 for e, _ in w.done if measure_from <= e <= measure_to) for w in workers
        ],
        "completed_all": completed,
        "failures": sum(w.failures for w in workers),
        "first_error": next((w.first_error for w in workers if w.first_error), None),
        "cpu": cpu_usage(before, after),
    }
    still = [w.name for w in workers if w.is_alive()]
    if still:
        result["threads_still_running"] = still
    return result


def check_books(completed: int) -> dict[str, Any]:
    """What the database holds after the load: hordak's transactions and legs, summed."""
    from django.db.models import Count, Sum
    from hordak.models import Leg, Transaction

    transactions = Transaction.objects.count()
    legs = Leg.objects.aggregate(n=Count("id"), debit=Sum("debit"), credit=Sum("credit"))
    per_txn = set(
        Transaction.objects.annotate(n=Count("legs")).values_list("n", flat=True).distinct()
    )
    expected = AMOUNT * completed
    debit = legs["debit"] or Decimal(0)
    credit = legs["credit"] or Decimal(0)
    return {
        "transactions_in_db": transactions,
        "legs_in_db": legs["n"],
        "legs_per_transaction": sorted(per_txn),
        "debits_eur": str(debit),
        "credits_eur": str(credit),
        "counts_match": transactions == completed and legs["n"] == 2 * completed,
        "sums_match": debit == credit == expected,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--db", required=True, help="postgresql://user@127.0.0.1:5432/name")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--duration", type=float, default=30)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--assets", type=int, default=2000)
    p.add_argument("--incomes", type=int, default=20)
    args = p.parse_args(argv)

    import django
    import hordak

    started = time.monotonic()
    configure(args.db)
    migrate()
    log(f"migrated in {time.monotonic() - started:.1f} s")
    t = time.monotonic()
    asset_ids, income_ids = create_accounts(args.assets, args.incomes)
    seeded_s = time.monotonic() - t
    log(f"{args.assets} asset + {args.incomes} income accounts in {seeded_s:.1f} s")
    from django.db import connection

    connection.close()
    log(f"{args.threads} threads, {args.warmup:g} s warm-up, {args.duration:g} s measured")
    result = run_load(asset_ids, income_ids, args.threads, args.warmup, args.duration)
    result["verify"] = check_books(result["completed_all"])
    result["seed"] = {"assets": args.assets, "incomes": args.incomes, "seconds": round(seeded_s, 2)}
    result["versions"] = {
        "django_hordak": getattr(hordak, "__version__", None) or _dist_version("django-hordak"),
        "django": django.get_version(),
        "psycopg": _dist_version("psycopg"),
        "python": sys.version.split()[0],
    }
    result["warmup_s"] = args.warmup
    print(json.dumps(result))
    return 0


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
