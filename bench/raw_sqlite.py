"""(d) A raw ``sqlite3`` loop doing the writes of one captured charge, with the app's durability.

One connection, WAL, ``synchronous=FULL``, foreign keys on, one ``BEGIN IMMEDIATE`` transaction
per charge with the same statements the charge path writes:

1. claim the idempotency key (``INSERT ... ON CONFLICT DO NOTHING``);
2. debit the envelope with a conditional ``UPDATE ... WHERE balance_cents >= :a RETURNING``;
3. insert the charge, 4. its line, 5. the transfer (envelope -> provider payable),
6. the outbox event; 7. store the response under the idempotency key; ``COMMIT``.

The tables mirror the app's (columns, CHECK constraints, foreign keys and indexes of the rows
written), on a scratch file of their own. It does none of the app's reads (authentication,
price list, finding the wallet and envelope): it is the floor a charge cannot go below.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import cpu_sample, cpu_usage
from bench.stats import latency_summary_ms

SCHEMA = """
CREATE TABLE organizers (id CHAR(32) PRIMARY KEY, name VARCHAR(200) NOT NULL);
CREATE TABLE providers (
    id CHAR(32) PRIMARY KEY, organizer_id CHAR(32) NOT NULL REFERENCES organizers(id),
    name VARCHAR(200) NOT NULL);
CREATE TABLE wallets (
    id CHAR(32) PRIMARY KEY, organizer_id CHAR(32) NOT NULL REFERENCES organizers(id));
CREATE TABLE service_categories (
    id CHAR(32) PRIMARY KEY, organizer_id CHAR(32) NOT NULL REFERENCES organizers(id),
    code VARCHAR(40) NOT NULL);
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organizer_id CHAR(32) NOT NULL REFERENCES organizers(id),
    kind VARCHAR(20) NOT NULL,
    wallet_id CHAR(32) REFERENCES wallets(id),
    provider_id CHAR(32) UNIQUE REFERENCES providers(id),
    balance_cents BIGINT,
    funded_period VARCHAR(7),
    CONSTRAINT balance_nonnegative CHECK (balance_cents IS NULL OR balance_cents >= 0));
CREATE INDEX ix_accounts_wallet ON accounts (wallet_id);
CREATE TABLE idempotency_keys (
    scope VARCHAR(80) NOT NULL, key VARCHAR(200) NOT NULL, request_hash VARCHAR(64) NOT NULL,
    status_code INTEGER NOT NULL, response JSON NOT NULL, created_at DATETIME NOT NULL,
    PRIMARY KEY (scope, key));
CREATE TABLE charges (
    id CHAR(32) PRIMARY KEY,
    organizer_id CHAR(32) NOT NULL REFERENCES organizers(id),
    provider_id CHAR(32) NOT NULL REFERENCES providers(id),
    wallet_id CHAR(32) NOT NULL REFERENCES wallets(id),
    status VARCHAR(20) NOT NULL, total_cents BIGINT NOT NULL, refunded_cents BIGINT NOT NULL,
    period VARCHAR(7) NOT NULL, created_at DATETIME NOT NULL,
    CHECK (total_cents > 0),
    CHECK (refunded_cents >= 0 AND refunded_cents <= total_cents));
CREATE INDEX ix_charges_provider_created ON charges (provider_id, created_at);
CREATE INDEX ix_charges_wallet_created ON charges (wallet_id, created_at);
CREATE TABLE charge_lines (
    id CHAR(32) PRIMARY KEY, charge_id CHAR(32) NOT NULL REFERENCES charges(id),
    position INTEGER NOT NULL,
    category_id CHAR(32) NOT NULL REFERENCES service_categories(id),
    envelope_id INTEGER NOT NULL REFERENCES accounts(id),
    quantity VARCHAR(20) NOT NULL, unit_price_cents BIGINT NOT NULL,
    amount_cents BIGINT NOT NULL, refunded_cents BIGINT NOT NULL,
    CHECK (amount_cents > 0), CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents));
CREATE INDEX ix_charge_lines_charge_id ON charge_lines (charge_id);
CREATE TABLE transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organizer_id CHAR(32) NOT NULL REFERENCES organizers(id),
    debit_account_id INTEGER NOT NULL REFERENCES accounts(id),
    credit_account_id INTEGER NOT NULL REFERENCES accounts(id),
    amount_cents BIGINT NOT NULL, kind VARCHAR(20) NOT NULL, period VARCHAR(7) NOT NULL,
    charge_id CHAR(32), dedupe_key VARCHAR(120) UNIQUE, created_at DATETIME NOT NULL,
    CHECK (amount_cents > 0), CHECK (debit_account_id <> credit_account_id));
CREATE INDEX ix_transfers_debit ON transfers (debit_account_id, id);
CREATE INDEX ix_transfers_credit ON transfers (credit_account_id, id);
CREATE INDEX ix_transfers_charge ON transfers (charge_id);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    organizer_id CHAR(32) NOT NULL REFERENCES organizers(id),
    wallet_id CHAR(32), provider_id CHAR(32), type VARCHAR(40) NOT NULL, transfer_id BIGINT,
    payload JSON, created_at DATETIME NOT NULL, delivered_at DATETIME);
CREATE INDEX ix_outbox_undelivered ON outbox (delivered_at, id);
"""


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # we issue BEGIN/COMMIT ourselves
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _setup(conn: sqlite3.Connection, clients: int, providers: int) -> dict[str, Any]:
    conn.executescript(SCHEMA)
    org = uuid.uuid4().hex
    cat = uuid.uuid4().hex
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO organizers VALUES (?, 'Bench')", (org,))
    conn.execute("INSERT INTO service_categories VALUES (?, ?, 'siivous')", (cat, org))
    provs = []
    for i in range(providers):
        pid = uuid.uuid4().hex
        conn.execute("INSERT INTO providers VALUES (?, ?, ?)", (pid, org, f"Provider {i}"))
        acc = conn.execute(
            "INSERT INTO accounts (organizer_id, kind, provider_id)"
            " VALUES (?, 'provider_payable', ?) RETURNING id",
            (org, pid),
        ).fetchone()[0]
        provs.append((pid, acc, f"Provider {i}"))
    envelopes = []
    for _ in range(clients):
        wid = uuid.uuid4().hex
        conn.execute("INSERT INTO wallets VALUES (?, ?)", (wid, org))
        acc = conn.execute(
            "INSERT INTO accounts (organizer_id, kind, wallet_id, balance_cents, funded_period)"
            " VALUES (?, 'envelope', ?, 10000000, '2000-01') RETURNING id",
            (org, wid),
        ).fetchone()[0]
        envelopes.append((wid, acc))
    conn.execute("COMMIT")
    return {"org": org, "cat": cat, "providers": provs, "envelopes": envelopes}


def _charge(conn: sqlite3.Connection, w: dict[str, Any], rng: random.Random, period: str) -> bool:
    org, cat = w["org"], w["cat"]
    provider_id, payable, provider_name = rng.choice(w["providers"])
    wallet_id, envelope = rng.choice(w["envelopes"])
    amount = 3500
    now = datetime.now(UTC).isoformat()
    scope = f"charge:{provider_id}"
    key = str(uuid.uuid4())
    charge_id = uuid.uuid4().hex
    conn.execute("BEGIN IMMEDIATE")
    try:
        claimed = conn.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status_code, response,"
            " created_at) VALUES (?, ?, ?, 0, '{}', ?) ON CONFLICT (scope, key) DO NOTHING",
            (scope, key, uuid.uuid4().hex * 2, now),
        ).rowcount
        if claimed != 1:
            raise RuntimeError("idempotency key collision")
        row = conn.execute(
            "UPDATE accounts SET balance_cents = balance_cents - ?"
            " WHERE id = ? AND balance_cents >= ? RETURNING balance_cents",
            (amount, envelope, amount),
        ).fetchone()
        if row is None:
            conn.execute("ROLLBACK")
            return False
        conn.execute(
            "INSERT INTO charges (id, organizer_id, provider_id, wallet_id, status, total_cents,"
            " refunded_cents, period, created_at) VALUES (?, ?, ?, ?, 'captured', ?, 0, ?, ?)",
            (charge_id, org, provider_id, wallet_id, amount, period, now),
        )
        conn.execute(
            "INSERT INTO charge_lines (id, charge_id, position, category_id, envelope_id,"
            " quantity, unit_price_cents, amount_cents, refunded_cents)"
            " VALUES (?, ?, 0, ?, ?, '1', ?, ?, 0)",
            (uuid.uuid4().hex, charge_id, cat, envelope, amount, amount),
        )
        conn.execute(
            "INSERT INTO transfers (organizer_id, debit_account_id, credit_account_id,"
            " amount_cents, kind, period, charge_id, created_at)"
            " VALUES (?, ?, ?, ?, 'charge', ?, ?, ?)",
            (org, envelope, payable, amount, period, charge_id, now),
        )
        conn.execute(
            "INSERT INTO outbox (organizer_id, wallet_id, provider_id, type, payload, created_at)"
            " VALUES (?, ?, ?, 'charge.captured', ?, ?)",
            (
                org,
                wallet_id,
                provider_id,
                json.dumps(
                    {
                        "charge_id": str(uuid.UUID(charge_id)),
                        "provider_name": provider_name,
                        "total_cents": amount,
                        "balances": {str(envelope): row[0]},
                    }
                ),
                now,
            ),
        )
        body = {
            "id": str(uuid.UUID(charge_id)),
            "status": "captured",
            "provider_id": str(uuid.UUID(provider_id)),
            "provider_name": provider_name,
            "wallet_id": str(uuid.UUID(wallet_id)),
            "total_cents": amount,
            "refunded_cents": 0,
            "period": period,
            "created_at": now,
            "lines": [
                {
                    "category": "siivous",
                    "quantity": "1",
                    "unit_price_cents": amount,
                    "amount_cents": amount,
                }
            ],
        }
        conn.execute(
            "UPDATE idempotency_keys SET status_code = 201, response = ?"
            " WHERE scope = ? AND key = ?",
            (json.dumps(body), scope, key),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def run_raw_sqlite(
    workdir: Path,
    *,
    duration: float,
    clients: int = 2000,
    providers: int = 20,
    warmup: float = 1.0,
    max_charges: int = 5_000_000,
    log: Any = print,
) -> dict[str, Any]:
    """Charges per second of the raw loop for ``duration`` seconds (after ``warmup``)."""
    path = workdir / "raw_sqlite.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = _connect(path)
    try:
        w = _setup(conn, clients, providers)
        rng = random.Random(42)
        period = datetime.now(UTC).strftime("%Y-%m")
        log(f"raw sqlite3: {duration:g} s of one-transaction charges on {path}")
        deadline = time.monotonic() + warmup
        for _ in range(max_charges):
            if time.monotonic() >= deadline:
                break
            _charge(conn, w, rng, period)
        latencies: list[float] = []
        declined = 0
        cpu0 = time.process_time()
        before = cpu_sample({"loop": [os.getpid()]})
        start = time.monotonic()
        end = start + duration
        now = start
        while now < end and len(latencies) < max_charges:
            ok = _charge(conn, w, rng, period)
            t = time.monotonic()
            if ok:
                latencies.append(t - now)
            else:
                declined += 1
            now = t
        elapsed = now - start
        cpu = time.process_time() - cpu0
        after = cpu_sample({"loop": [os.getpid()]})
        written = conn.execute("SELECT count(*) FROM transfers").fetchone()[0]
        result: dict[str, Any] = {
            "writes_per_s": round(len(latencies) / elapsed, 1),
            "charges": len(latencies),
            "declined": declined,
            "elapsed_s": round(elapsed, 2),
            "transfers_in_db": written,
            "statements_per_charge": 7,
            "loop_cpu_cores": round(cpu / elapsed, 2),
            "cpu": cpu_usage(before, after),
            "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": conn.execute("PRAGMA synchronous").fetchone()[0],
        }
        result.update(latency_summary_ms(latencies))
        return result
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
