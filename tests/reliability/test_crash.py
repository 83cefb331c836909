"""The crash test: a real ``wallet serve`` on PostgreSQL, killed with SIGKILL under load and
restarted, while clients send charges and retry each with its own idempotency key until it is
acknowledged. The long version (``WALLET_LONG=1``) kills it 20 times and also restarts
PostgreSQL itself a few times.

Afterwards: every acknowledged charge is in the ledger exactly once and under the id the client
was given; no key is left half-written and no charge lacks its transfers, lines or outbox event;
``wallet check`` exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import func, select

from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.db import Database
from payments.ledger.periods import first_day
from payments.models import Charge, ChargeLine, IdempotencyRecord, OutboxEvent, Transfer
from payments.outbox import CHARGE_CAPTURED
from tests.factories import add_client_with_decision, api_key_for, seed_world
from tests.reliability.bounds import LONG, LONG_TIMEOUT, pick
from tests.servers import WALLET, Server

pytestmark = [pytest.mark.postgres]

KILLS = int(pick(4, 20))
PG_RESTARTS = int(pick(0, 3))
CLIENTS = int(pick(4, 8))
PRICE = 100
PG_RESTART_CMD = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"]


@pytest.fixture
def engine_name() -> str:
    return "postgres"  # a server process and the test share one database


@pytest.fixture
def server(db: Database) -> Iterator[Server]:
    s = Server(db.url)
    yield s
    s.stop()


@dataclass
class Log:
    acked: dict[str, str] = field(default_factory=dict)  # idempotency key -> charge id
    statuses: Counter[str] = field(default_factory=Counter)
    stop: bool = False


async def _client(base: str, key: str, phone: str, log: Log, n: int) -> None:
    """Send ``n`` charges one after another; retry each with its key until acknowledged."""
    body = {
        "phone": phone,
        "lines": [{"category": "siivous", "quantity": "1", "unit_price_cents": PRICE}],
    }
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10)) as c:
        for _ in range(n):
            if log.stop:
                return
            idem = str(uuid.uuid4())
            for _attempt in range(2000):
                try:
                    r = await c.post(
                        "/api/charges",
                        json=body,
                        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": idem},
                    )
                except httpx.HTTPError as exc:
                    log.statuses[type(exc).__name__] += 1
                    await asyncio.sleep(0.05)
                    continue
                log.statuses[str(r.status_code)] += 1
                if r.status_code == 201:
                    log.acked[idem] = str(r.json()["id"])
                    if r.headers.get("Idempotent-Replayed") == "true":
                        log.statuses["201 replayed"] += 1
                    break
                # 5xx and 503 while the database restarts are retried; a 4xx is a bug here.
                assert r.status_code >= 500, r.text
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"charge {idem} never acknowledged")


async def _restart_postgres() -> None:
    proc = await asyncio.create_subprocess_exec(
        *PG_RESTART_CMD, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()


@pytest.mark.timeout(LONG_TIMEOUT)
@pytest.mark.parametrize("wallets", ["one wallet", "a wallet each"])
async def test_kill_9_under_load_loses_and_duplicates_nothing(
    db: Database, server: Server, wallets: str
):
    """With one wallet every charge is a batch of its own (the group commit takes one charge
    per wallet in a batch); with a wallet for each client, the charges in flight share
    batches, and a kill lands in the middle of one."""
    if PG_RESTARTS and int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        # A restart drops every connection to the cluster: the other workers' tests would fail.
        pytest.fail("the long run restarts PostgreSQL: run it without -n (make reliability)")
    w = await seed_world(db, monthly_cents=5_000_000)
    phones = [w.phone] * CLIENTS
    if wallets == "a wallet each":
        phones = [w.phone] + [f"040 700 {i:04d}" for i in range(1, CLIENTS)]
        for number in phones[1:]:
            await add_client_with_decision(
                db,
                w,
                phone=number,
                lines=[DecisionLineInput("Siivous", 5_000_000, ("siivous",))],
                valid_from=first_day(w.period),
            )
        await fund_period(db, w.period)
    key = await api_key_for(db, w.provider_principal)
    await db.dispose()  # the test's pool must not hold connections across PostgreSQL restarts
    server.start()
    await server.ready()
    log = Log()
    per_client = int(pick(40, 150))
    clients = asyncio.gather(
        *(_client(server.base, key, number, log, per_client) for number in phones)
    )
    restarts_at = {KILLS * (i + 1) // (PG_RESTARTS + 1) for i in range(PG_RESTARTS)}
    started = time.monotonic()
    try:
        for i in range(KILLS):
            before = len(log.acked)
            # Kill while charges are in flight: wait until some got through since the restart.
            for _ in range(200):
                if len(log.acked) > before + 2 or clients.done():
                    break
                await asyncio.sleep(0.02)
            server.kill()
            if i in restarts_at:
                await _restart_postgres()
                print(f"\nPostgreSQL restarted at {time.strftime('%H:%M:%S')}", flush=True)
            server.start()
            await server.ready()
        await asyncio.wait_for(clients, pick(120, 600))
    finally:
        log.stop = True
        if not clients.done():
            clients.cancel()
        with contextlib.suppress(BaseException):
            await clients
    assert server.starts == KILLS + 1
    assert len(log.acked) == CLIENTS * per_client
    assert len(set(log.acked.values())) == len(log.acked), "two keys got the same charge"

    async with db.engine.connect() as conn:
        charges = dict((await conn.execute(select(Charge.id, Charge.total_cents))).all())
        moments = (await conn.execute(select(func.count(Charge.created_at.distinct())))).scalar()
        records = (
            await conn.execute(
                select(
                    IdempotencyRecord.key, IdempotencyRecord.status_code, IdempotencyRecord.response
                ).where(IdempotencyRecord.scope == f"charge:{w.provider_id}")
            )
        ).all()
        charged = dict(
            (
                await conn.execute(
                    select(Transfer.charge_id, func.sum(Transfer.amount_cents))
                    .where(Transfer.kind == "charge")
                    .group_by(Transfer.charge_id)
                )
            ).all()
        )
        lines = dict(
            (
                await conn.execute(
                    select(ChargeLine.charge_id, func.count()).group_by(ChargeLine.charge_id)
                )
            ).all()
        )
        events = Counter(
            payload["charge_id"]
            for (payload,) in (
                await conn.execute(
                    select(OutboxEvent.payload).where(OutboxEvent.type == CHARGE_CAPTURED)
                )
            ).all()
        )
    # Every acknowledged charge exactly once, under the id the client was told.
    assert {str(c) for c in charges} == set(log.acked.values())
    assert {k: str(r["id"]) for k, s, r in records} == log.acked
    # Nothing half-written: every key finished, every charge has its money, line and event.
    assert all(s == 201 for _, s, _ in records)
    assert all(charged.get(cid) == total == PRICE for cid, total in charges.items())
    assert all(lines.get(cid) == 1 for cid in charges)
    assert all(events[str(cid)] == 1 for cid in charges) and len(events) == len(charges)
    if wallets == "a wallet each":  # charges of one batch share their moment
        assert moments is not None and moments < len(charges), "no batch held two charges"

    # Events committed but not yet published when a kill came are delivered after the restart.
    undelivered = -1
    for _ in range(300):
        async with db.engine.connect() as conn:
            undelivered = (
                await conn.execute(select(func.count()).where(OutboxEvent.delivered_at.is_(None)))
            ).scalar_one()
        if undelivered == 0:
            break
        await asyncio.sleep(0.1)
    assert undelivered == 0, f"{undelivered} outbox events never delivered"

    check = await asyncio.create_subprocess_exec(
        WALLET,
        "check",
        env=server.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(check.communicate(), 120)
    assert check.returncode == 0, out.decode()
    print(
        f"\ncrash test: {KILLS} kills, {PG_RESTARTS} PostgreSQL restarts, "
        f"{len(log.acked)} charges in {time.monotonic() - started:.1f}s; "
        f"answers {dict(log.statuses)}; long={LONG}"
    )
