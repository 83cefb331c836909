"""B4, monthly funding: ``python -m bench.funding_bench`` (see docs/performance.md).

For each size (100,000 envelopes; 1,000,000 with ``--also-million``), on a scratch PostgreSQL
database that is created, migrated and dropped by the run:

1. seed one organizer (budget, expired and settlement accounts), one category and N clients,
   each with a wallet, a decision, one decision line (with its category) and an empty envelope,
   all set-based (``INSERT ... SELECT generate_series``; the use cases would take minutes);
   every tenth decision carries over up to 50.00 EUR (``capped``), every hundredth starts on the
   15th of the first month (so it is pro-rated in Python, as in production);
2. the reference: one bare ``INSERT INTO transfers ... SELECT`` of N funding rows (with dedupe
   keys like the job's) from the envelopes, their decision lines and the budget account, in one
   transaction, into the real ``transfers`` table with all its indexes; the rows are deleted
   and the table vacuumed afterwards (not timed);
3. ``fund_period`` for month 1 (every envelope funded), month 2 (every remainder expired, then
   every envelope funded) and month 2 again (must move nothing);
4. the reference again, now that ``transfers`` holds month 1 and 2 (the same table size as month
   2 saw), deleted again;
5. ``payments.check.check_books`` over everything.

B4's figure is month 1 / reference 1 (target <= 3). Every statement the job sends is timed by
kind (a SQLAlchemy cursor hook; ``--no-profile`` turns it off), so a miss shows where it goes.
Loopback only; every step is bounded; the scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import pg as pgmod
from bench.machine import cpu_sample, cpu_usage, machine_info

RESULTS = Path(__file__).resolve().parent / "results"
DB_NAME = "wallet_bench_funding"
PERIOD_1 = "2031-01"
PERIOD_2 = "2031-02"
REF_PERIOD = "2000-01"  # the reference's rows never collide with the job's dedupe keys
CARRY_CAP_CENTS = 5000
TARGET = 3.0


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from payments.budgets.funding import BATCH_SIZE

    p = argparse.ArgumentParser(prog="python -m bench.funding_bench", description=__doc__)
    p.add_argument("--envelopes", type=int, default=100_000, help="envelopes to fund")
    p.add_argument("--also-million", action="store_true", help="then the same for 1,000,000")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="fund_period batch size")
    p.add_argument("--pg", default=pgmod.PG_BASE, help="PostgreSQL server (loopback only)")
    p.add_argument("--results", type=Path, default=RESULTS, help="where results are written")
    p.add_argument("--no-profile", action="store_true", help="do not time statements by kind")
    p.add_argument("--no-check", action="store_true", help="skip check_books")
    p.add_argument("--keep", action="store_true", help="keep the scratch database")
    p.add_argument(
        "--accounts-fillfactor",
        type=int,
        default=None,
        metavar="PERCENT",
        help="experiment: this fillfactor on accounts (the schema has 70: migration 0008)",
    )
    args = p.parse_args(argv)
    if args.accounts_fillfactor is not None and not 10 <= args.accounts_fillfactor <= 100:
        p.error("fillfactor must be in [10, 100]")
    if not 1 <= args.envelopes <= 2_000_000 or not 1 <= args.batch_size <= 1_000_000:
        p.error("envelopes must be in [1, 2,000,000] and batch size in [1, 1,000,000]")
    pgmod.check_loopback(args.pg)
    return args


# --- seeding ---------------------------------------------------------------------------------

SEED_SQL = [
    # One row per client, with every id it needs, so the inserts below join on ``g``.
    """CREATE TEMP TABLE seed ON COMMIT DROP AS
       SELECT g, gen_random_uuid() AS client_id, gen_random_uuid() AS wallet_id,
              gen_random_uuid() AS decision_id, gen_random_uuid() AS line_id
       FROM generate_series(0, {n} - 1) AS g""",
    """INSERT INTO clients (id, organizer_id, first_name, last_name, phone_e164, language,
                           created_at)
       SELECT client_id, $1, 'Asiakas', 'N' || g, '+35840' || lpad((1000000 + g)::text, 7, '0'),
              'fi', now()
       FROM seed ORDER BY g""",
    """INSERT INTO wallets (id, organizer_id, client_id)
       SELECT wallet_id, $1, client_id FROM seed ORDER BY g""",
    """INSERT INTO decisions (id, organizer_id, client_id, valid_from, valid_to, carry_over,
                             carry_over_cap_cents, created_at)
       SELECT decision_id, $1, client_id,
              CASE WHEN g % 100 = 99 THEN $2::date + 14 ELSE $2::date END, NULL,
              CASE WHEN g % 10 = 0 THEN 'capped' ELSE 'none' END,
              CASE WHEN g % 10 = 0 THEN $3::bigint ELSE 0 END, now()
       FROM seed ORDER BY g""",
    """INSERT INTO decision_lines (id, decision_id, label, monthly_amount_cents)
       SELECT line_id, decision_id, 'Siivous', 10000 + (g % 50) * 1000 FROM seed ORDER BY g""",
    """INSERT INTO decision_line_categories (line_id, category_id)
       SELECT line_id, $1 FROM seed ORDER BY g""",
    """INSERT INTO accounts (organizer_id, kind, wallet_id, decision_line_id, balance_cents)
       SELECT $1, 'envelope', wallet_id, line_id, 0 FROM seed ORDER BY g""",
]


async def seed(dsn: str, n: int, fillfactor: int | None = None) -> dict[str, Any]:
    from payments.ledger.periods import first_day

    steps: dict[str, float] = {}
    started = time.monotonic()
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        if fillfactor is not None:
            # An experiment, not the schema: what a migration setting it would give (HOT
            # updates of the balance need free room on the account's page).
            await conn.execute(f"ALTER TABLE accounts SET (fillfactor = {int(fillfactor)})")
        async with conn.transaction():
            org = await conn.fetchval(
                "INSERT INTO organizers (id, slug, name, created_at) "
                "VALUES (gen_random_uuid(), 'bench-funding', 'Benchmark county', now()) "
                "RETURNING id"
            )
            await conn.execute(
                "INSERT INTO accounts (organizer_id, kind) "
                "SELECT $1, k FROM unnest($2::text[]) AS k",
                org,
                ["organizer_budget", "expired", "settlement"],
            )
            cat = await conn.fetchval(
                "INSERT INTO service_categories (id, organizer_id, code, name_fi, name_sv, "
                "name_en, unit) VALUES (gen_random_uuid(), $1, 'siivous', 'Siivous', 'Städning',"
                " 'Cleaning', 'hour') RETURNING id",
                org,
            )
            t = time.monotonic()
            await conn.execute(SEED_SQL[0].format(n=int(n)))  # no binds in CREATE TABLE AS
            for sql, name in zip(
                SEED_SQL[1:],
                ("clients", "wallets", "decisions", "decision_lines", "line_categories", "envs"),
                strict=True,
            ):
                if name == "decisions":
                    await conn.execute(sql, org, first_day(PERIOD_1), CARRY_CAP_CENTS)
                elif name == "line_categories":
                    await conn.execute(sql, cat)
                elif name == "decision_lines":
                    await conn.execute(sql)
                else:
                    await conn.execute(sql, org)
                steps[f"{name}_s"] = round(time.monotonic() - t, 2)
                t = time.monotonic()
        t = time.monotonic()
        await conn.execute("VACUUM ANALYZE")
        steps["vacuum_analyze_s"] = round(time.monotonic() - t, 2)
        envelopes = await conn.fetchval("SELECT count(*) FROM accounts WHERE kind = 'envelope'")
    finally:
        await conn.close()
    if envelopes != n:
        raise RuntimeError(f"seeded {envelopes} envelopes, expected {n}")
    return {"seconds": round(time.monotonic() - started, 2), "steps": steps}


async def account_updates(dsn: str) -> dict[str, int]:
    """Row updates of ``accounts`` so far and how many were HOT (no index entries written)."""
    await asyncio.sleep(1.0)  # backends report their statistics at most once a second
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        row = await conn.fetchrow(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'accounts'"
        )
    finally:
        await conn.close()
    return {"updates": int(row[0]), "hot": int(row[1])}


# --- the reference ---------------------------------------------------------------------------

REFERENCE_SQL = """
INSERT INTO transfers (organizer_id, debit_account_id, credit_account_id, amount_cents, kind,
                       period, dedupe_key, created_at)
SELECT env.organizer_id, budget.id, env.id, dl.monthly_amount_cents, 'funding', $1::text,
       'fund:' || env.id || ':' || $1::text, now()
FROM accounts AS env
JOIN decision_lines AS dl ON dl.id = env.decision_line_id
JOIN accounts AS budget ON budget.organizer_id = env.organizer_id
                       AND budget.kind = 'organizer_budget'
WHERE env.kind = 'envelope'
"""


async def reference(dsn: str, n: int) -> dict[str, Any]:
    """One bare INSERT ... SELECT of N funding rows into ``transfers``, in one transaction,
    timed from BEGIN to COMMIT; then the rows are deleted and the table vacuumed (untimed)."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        before = cpu_sample({"bench": [os.getpid()]})
        t = time.monotonic()
        async with conn.transaction():
            status = await conn.execute(REFERENCE_SQL, REF_PERIOD)
        seconds = time.monotonic() - t
        cpu = cpu_usage(before, cpu_sample({"bench": [os.getpid()]}))
        rows = int(status.split()[-1])
        if rows != n:
            raise RuntimeError(f"reference wrote {rows} rows, expected {n}")
        await conn.execute("DELETE FROM transfers WHERE period = $1", REF_PERIOD)
        await conn.execute("VACUUM ANALYZE transfers")
    finally:
        await conn.close()
    return {
        "seconds": round(seconds, 3),
        "rows": rows,
        "rows_per_s": round(rows / seconds),
        "cpu": cpu,
    }


# --- statement profile -----------------------------------------------------------------------

_step: contextvars.ContextVar[str] = contextvars.ContextVar("funding_step", default="scan")


class Profile:
    """Time of every statement ``fund_period`` sends, by step (expiry, funding) and kind."""

    def __init__(self) -> None:
        self.statements: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
        self.steps: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def reset(self) -> None:
        self.statements.clear()
        self.steps.clear()

    @staticmethod
    def kind(sql: str) -> str:
        s = " ".join(sql.split()).upper()
        if s.startswith("WITH DUE AS"):
            return "expiry step, one statement (PostgreSQL)"
        if s.startswith("WITH UPD AS"):
            return "funding step, one statement (PostgreSQL)"
        if s.startswith("INSERT INTO TRANSFERS") and "SELECT" in s:
            return "INSERT transfers ... SELECT"
        if s.startswith("INSERT INTO TRANSFERS"):
            return "INSERT transfers (pro-rated executemany)"
        if s.startswith("INSERT INTO OUTBOX"):
            return "INSERT outbox ... SELECT"
        if s.startswith("UPDATE ACCOUNTS"):
            return "UPDATE accounts"
        if s.endswith("FOR UPDATE"):
            return "SELECT ... FOR UPDATE (lock batch)"
        if "COUNT(" in s and "FROM TRANSFERS" in s:
            return "SELECT count/sum of the step"
        if "VALID_FROM" in s and s.startswith("SELECT"):
            return "SELECT pro-rated lines"
        if s.startswith("SELECT"):
            return "SELECT batch ids / totals"
        return s[:40]

    def install(self, db: Any) -> None:
        from sqlalchemy import event

        import payments.budgets.funding as funding

        def before(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
            conn.info["bench_t"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, *a: Any) -> None:
            dt = time.perf_counter() - conn.info.pop("bench_t", time.perf_counter())
            entry = self.statements[f"{_step.get()}: {self.kind(statement)}"]
            entry[0] += 1
            entry[1] += dt

        event.listen(db.engine.sync_engine, "before_cursor_execute", before)
        event.listen(db.engine.sync_engine, "after_cursor_execute", after)

        def wrap(name: str, step: str) -> None:
            original = getattr(funding, name)

            async def timed(*args: Any, **kwargs: Any) -> Any:
                token = _step.set(step)
                t = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    entry = self.steps[step]
                    entry[0] += 1
                    entry[1] += time.perf_counter() - t
                    _step.reset(token)

            setattr(funding, name, timed)

        wrap("_expire_batch", "expiry")
        wrap("_fund_batch", "funding")
        wrap("_expire_batch_pg", "expiry")
        wrap("_fund_batch_pg", "funding")

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "steps": {k: {"calls": int(c), "s": round(s, 3)} for k, (c, s) in self.steps.items()},
            "statements": {
                k: {"calls": int(c), "s": round(s, 3)}
                for k, (c, s) in sorted(self.statements.items(), key=lambda kv: -kv[1][1])
            },
        }
        for step, (_c, total) in self.steps.items():
            inside = sum(s for k, (_n, s) in self.statements.items() if k.startswith(step + ":"))
            out["steps"][step]["outside_statements_s"] = round(total - inside, 3)
        return out


# --- the job ---------------------------------------------------------------------------------


async def timed_funding(
    db: Any, period: str, batch_size: int, profile: Profile | None
) -> dict[str, Any]:
    from payments.budgets.funding import fund_period

    if profile:
        profile.reset()
    before = cpu_sample({"bench": [os.getpid()]})
    t = time.monotonic()
    summary = await fund_period(db, period, batch_size=batch_size)
    seconds = time.monotonic() - t
    out: dict[str, Any] = {
        "period": period,
        "seconds": round(seconds, 3),
        "batches": summary.batches,
        "envelopes_seen": summary.envelopes_seen,
        "funded": summary.funded_count,
        "funded_cents": summary.funded_cents,
        "expired": summary.expired_count,
        "expired_cents": summary.expired_cents,
        "transfers_per_s": round((summary.funded_count + summary.expired_count) / seconds),
        "cpu": cpu_usage(before, cpu_sample({"bench": [os.getpid()]})),
    }
    if profile:
        out["profile"] = profile.report()
    return out


async def run_size(args: argparse.Namespace, n: int) -> dict[str, Any]:
    from payments.books import check_books
    from payments.db import create_database
    from wallet_api.migrate import upgrade

    dsn = f"{args.pg}/{DB_NAME}"
    out: dict[str, Any] = {
        "envelopes": n,
        "batch_size": args.batch_size,
        "accounts_fillfactor": args.accounts_fillfactor,
    }
    await pgmod.recreate_database(args.pg, DB_NAME)
    db = create_database(dsn)
    try:
        t = time.monotonic()
        await upgrade(db)
        out["migrate_s"] = round(time.monotonic() - t, 2)
        log(f"{n}: seeding")
        out["seed"] = await seed(dsn, n, args.accounts_fillfactor)
        log(f"{n}: seeded in {out['seed']['seconds']} s; reference INSERT ... SELECT")
        out["reference_1"] = await reference(dsn, n)
        log(f"{n}: reference {out['reference_1']['seconds']} s; fund_period month 1")
        profile = None
        if not args.no_profile:
            profile = Profile()
            profile.install(db)
        m1 = out["month_1"] = await timed_funding(db, PERIOD_1, args.batch_size, profile)
        if m1["funded"] != n or m1["expired"] != 0:
            raise RuntimeError(f"month 1 funded {m1['funded']} / expired {m1['expired']}")
        m1["accounts_updates"] = await account_updates(dsn)
        log(f"{n}: month 1 {m1['seconds']} s; month 2 (expiry + funding)")
        m2 = out["month_2"] = await timed_funding(db, PERIOD_2, args.batch_size, profile)
        if m2["funded"] != n or m2["expired"] != n:
            raise RuntimeError(f"month 2 funded {m2['funded']} / expired {m2['expired']}")
        log(f"{n}: month 2 {m2['seconds']} s; rerun of month 2")
        rr = out["rerun"] = await timed_funding(db, PERIOD_2, args.batch_size, profile)
        if rr["funded"] or rr["expired"]:
            raise RuntimeError(f"rerun moved money: {rr['funded']} / {rr['expired']}")
        log(f"{n}: rerun {rr['seconds']} s; reference again (table now {3 * n} rows)")
        out["reference_2"] = await reference(dsn, n)
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            out["transfers_rows"] = await conn.fetchval("SELECT count(*) FROM transfers")
            out["outbox_rows"] = await conn.fetchval("SELECT count(*) FROM outbox")
            out["database_size"] = await conn.fetchval(
                "SELECT pg_size_pretty(pg_database_size(current_database()))"
            )
        finally:
            await conn.close()
        if not args.no_check:
            log(f"{n}: check_books")
            t = time.monotonic()
            report = await check_books(db)
            out["check_books"] = {
                "seconds": round(time.monotonic() - t, 2),
                "ok": report.ok,
                "transfers": report.transfers,
                "envelopes": report.envelopes,
                "violations": report.violations[:10],
            }
            if not report.ok:
                raise RuntimeError(f"books not OK: {report.violations[:3]}")
        r1, r2 = out["reference_1"]["seconds"], out["reference_2"]["seconds"]
        out["ratios"] = {
            "month_1_vs_reference_1": round(m1["seconds"] / r1, 2),
            "month_2_vs_reference_2": round(m2["seconds"] / r2, 2),
            "month_2_vs_2x_reference_2": round(m2["seconds"] / (2 * r2), 2),
            "rerun_vs_reference_1": round(rr["seconds"] / r1, 2),
        }
    finally:
        await db.dispose()
        if not args.keep:
            await pgmod.drop_database(args.pg, DB_NAME)
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results: dict[str, Any] = {
        "started": stamp,
        "settings": {
            "envelopes": args.envelopes,
            "also_million": args.also_million,
            "batch_size": args.batch_size,
            "profile": not args.no_profile,
        },
        "machine": machine_info(),
        "postgres": await pgmod.server_settings(args.pg),
        "runs": [],
    }
    started = time.monotonic()
    sizes = [args.envelopes] + ([1_000_000] if args.also_million else [])
    try:
        for n in sizes:
            results["runs"].append(await run_size(args, n))
    except Exception as exc:
        results["error"] = repr(exc)
        log(f"FAILED: {exc!r}")
    results["total_s"] = round(time.monotonic() - started, 1)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"funding_{stamp}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    results["_path"] = str(path)
    return results


def render(results: dict[str, Any]) -> str:
    lines = []
    for r in results["runs"]:
        ratios, m1, m2, rr = r["ratios"], r["month_1"], r["month_2"], r["rerun"]
        ref1, ref2 = r["reference_1"], r["reference_2"]
        verdict = "meets" if ratios["month_1_vs_reference_1"] <= TARGET else "MISSES"
        lines += [
            f"B4 monthly funding, {r['envelopes']:,} envelopes, batch size {r['batch_size']}",
            f"  reference INSERT ... SELECT (empty table)   {ref1['seconds']:8.2f} s "
            f"{ref1['rows_per_s']:>9,} rows/s",
            f"  fund_period month 1 (funding)                {m1['seconds']:8.2f} s "
            f"{m1['transfers_per_s']:>9,} transfers/s  ratio {ratios['month_1_vs_reference_1']}"
            f"  ({verdict} the <= {TARGET:g}x target)",
            f"  reference INSERT ... SELECT ({3 * r['envelopes']:,} rows in table) "
            f"{ref2['seconds']:.2f} s",
            f"  fund_period month 2 (expiry + funding)       {m2['seconds']:8.2f} s "
            f"{m2['transfers_per_s']:>9,} transfers/s  ratio {ratios['month_2_vs_reference_2']}"
            f" ({ratios['month_2_vs_2x_reference_2']} per row written)",
            f"  rerun of month 2 (moves nothing)             {rr['seconds']:8.2f} s "
            f"ratio {ratios['rerun_vs_reference_1']}",
        ]
        cb = r.get("check_books")
        if cb:
            lines.append(
                f"  check_books: ok={cb['ok']} over {cb['transfers']:,} transfers in "
                f"{cb['seconds']} s"
            )
        lines.append(
            f"  seed {r['seed']['seconds']} s; outbox rows {r['outbox_rows']:,}; "
            f"database {r['database_size']}"
        )
        prof = m1.get("profile")
        if prof:
            lines.append("  month 1, time by statement kind:")
            for k, v in list(prof["statements"].items())[:8]:
                lines.append(f"    {v['s']:8.2f} s {v['calls']:5d}x  {k}")
            for k, v in prof["steps"].items():
                lines.append(
                    f"    {k}: {v['s']} s, of it outside statements (commit, Python) "
                    f"{v['outside_statements_s']} s"
                )
    m, pgs = results["machine"], results["postgres"]
    lines.append(
        f"machine: {m['nproc']} cores, {m['cpu_model']}, {m['memory_gib']} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}, load at start {m.get('loadavg_at_start')}"
    )
    lines.append(
        f"PostgreSQL {pgs.get('server_version')}: shared_buffers {pgs.get('shared_buffers')}, "
        f"fsync {pgs.get('fsync')}, synchronous_commit {pgs.get('synchronous_commit')}"
    )
    if results.get("error"):
        lines.append(f"ERROR: {results['error']}")
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(main(args))
    print(render(results))
    print(f"\nresults: {results['_path']}")
    return 1 if results.get("error") else 0


if __name__ == "__main__":
    raise SystemExit(cli())
