"""B6, the client import: ``python -m bench.import_bench`` (see docs/performance.md).

On each engine (a scratch SQLite file, and a scratch PostgreSQL database that is created,
migrated and dropped by the run), one county with the example catalogue, then a CSV of N rows
(default 10,000: N clients, every one with a one-line decision; every fifth a service voucher
by weekly hours):

1. ``parse_clients`` (read and check every row on its own);
2. the dry run: ``import_clients(dry_run=True)`` (every row against the county; nothing written);
3. the import: ``import_clients(dry_run=False)``, one transaction;
4. the same file again (every row ``unchanged``, nothing written);
5. ``check_books``.

The reference, in the same run on the same database: the same kind of client made the way the
app makes one by hand, ``create_client`` then ``create_decision`` (two transactions), for
``--reference`` clients (default 500). The figure is the import's rows a second over the
reference's clients a second. Loopback only; the scratch databases are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench import pg as pgmod
from bench.machine import machine_info

RESULTS = Path(__file__).resolve().parent / "results"
DB_NAME = "wallet_bench_import"
CATALOGUE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "catalogue.csv"
HEADER = (
    "client_ref,first_name,last_name,phone,language,decision_ref,valid_from,valid_to,label,"
    "categories,monthly_amount,voucher_value,hours_per_week\n"
)


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def client_file(rows: int, start: date) -> bytes:
    """N clients with unique references and phones, each with a one-line decision."""
    lines = [HEADER]
    for n in range(rows):
        phone = f"+35840{n:07d}"
        first = start.strftime("%Y-%m-%d")
        if n % 5 == 4:  # a service voucher: 7.5 h a week at 32.00
            line = 'Seteli,kotihoito,,"32,00","7,5"'
        else:
            line = f'Kotiapu ja siivous,kotiapu siivous,"{150 + n % 100},00",,'
        lines.append(f"B-{n},Asiakas,Numero{n},{phone},fi,BP-{n},{first},,{line}\n")
    return "".join(lines).encode()


async def _county(db: Any) -> Any:
    from payments.budgets.catalogue_import import import_catalogue, parse_catalogue
    from payments.budgets.organizers import ensure_organizer, find_organizer

    await ensure_organizer(db, slug="bench", name="Bench County")
    rows = parse_catalogue("catalogue.csv", CATALOGUE.read_bytes())
    await import_catalogue(db, organizer_slug="bench", rows=rows, source="catalogue.csv")
    return (await find_organizer(db, "bench")).organizer_id


async def run_engine(url: str, rows: int, reference: int) -> dict[str, Any]:
    from payments.books import check_books
    from payments.budgets import catalogue
    from payments.budgets.catalogue import DecisionLineInput
    from payments.budgets.client_import import import_clients, parse_clients
    from payments.db import create_database
    from wallet_api.migrate import upgrade

    db = create_database(url)
    try:
        await upgrade(db)
        organizer_id = await _county(db)
        data = client_file(rows, date.today().replace(day=1))
        out: dict[str, Any] = {"rows": rows, "bytes": len(data)}

        t0 = time.perf_counter()
        parsed = parse_clients(data)
        out["parse_s"] = time.perf_counter() - t0
        for phase, dry in (("dry_run_s", True), ("import_s", False), ("again_s", False)):
            t0 = time.perf_counter()
            result = await import_clients(
                db, organizer_id=organizer_id, rows=parsed, source="bench.csv", dry_run=dry
            )
            out[phase] = time.perf_counter() - t0
            log(f"{url.split(':')[0]} {phase}: {out[phase]:.2f} s ({result.summary()})")
        assert "0 created" in result.summary(), result.summary()

        # The reference: the same kind of client, one by one, as the app makes them.
        t0 = time.perf_counter()
        for n in range(reference):
            made = await catalogue.create_client(
                db,
                organizer_id=organizer_id,
                first_name="Viite",
                last_name=f"Numero{n}",
                phone=f"+35850{n:07d}",
            )
            await catalogue.create_decision(
                db,
                organizer_id=organizer_id,
                client_id=made.client_id,
                valid_from=date.today().replace(day=1),
                valid_to=None,
                lines=[DecisionLineInput("Kotiapu ja siivous", 15000, ("kotiapu", "siivous"))],
            )
        out["reference_clients"] = reference
        out["reference_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        report = await check_books(db)
        out["check_s"] = time.perf_counter() - t0
        out["books_ok"] = report.ok
        import_rate = rows / (out["parse_s"] + out["import_s"])
        out["import_rows_per_s"] = import_rate
        out["reference_clients_per_s"] = reference / out["reference_s"]
        out["ratio"] = import_rate / out["reference_clients_per_s"]
        return out
    finally:
        await db.dispose()


def cli(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.import_bench", description=__doc__)
    p.add_argument("--rows", type=int, default=10_000, help="rows (clients) in the file")
    p.add_argument("--reference", type=int, default=500, help="clients made one by one")
    p.add_argument("--pg", default=pgmod.PG_BASE, help="PostgreSQL server (loopback only)")
    p.add_argument("--no-pg", action="store_true", help="SQLite only")
    p.add_argument("--results", type=Path, default=RESULTS, help="where results are written")
    args = p.parse_args(argv)
    if not 1 <= args.rows <= 50_000 or not 1 <= args.reference <= 10_000:
        p.error("--rows must be in [1, 50000] and --reference in [1, 10000]")
    results: dict[str, Any] = {"machine": machine_info(), "started": datetime.now(UTC).isoformat()}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'import.sqlite3'}"
        log(f"SQLite: {args.rows} rows")
        results["sqlite"] = asyncio.run(run_engine(url, args.rows, args.reference))
    if not args.no_pg:
        pgmod.check_loopback(args.pg)
        asyncio.run(pgmod.recreate_database(args.pg, DB_NAME))
        try:
            log(f"PostgreSQL: {args.rows} rows")
            url = args.pg.replace("postgresql://", "postgresql+asyncpg://") + f"/{DB_NAME}"
            results["postgres"] = asyncio.run(run_engine(url, args.rows, args.reference))
        finally:
            asyncio.run(pgmod.drop_database(args.pg, DB_NAME))
    print(
        f"{'engine':<10} {'rows':>6} {'parse':>7} {'dry run':>8} {'import':>7} {'again':>7} "
        f"{'rows/s':>7} {'by hand/s':>9} {'ratio':>6}"
    )
    for engine in ("sqlite", "postgres"):
        r = results.get(engine)
        if r is None:
            continue
        print(
            f"{engine:<10} {r['rows']:>6} {r['parse_s']:>6.2f}s {r['dry_run_s']:>7.2f}s "
            f"{r['import_s']:>6.2f}s {r['again_s']:>6.2f}s {r['import_rows_per_s']:>7.0f} "
            f"{r['reference_clients_per_s']:>9.1f} {r['ratio']:>5.1f}x"
        )
        if not r["books_ok"]:
            print(f"{engine}: wallet check failed", file=sys.stderr)
            return 1
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.results / f"import-{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
