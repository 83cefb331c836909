"""The group commit (payments.checkout.pipeline), on SQLite and PostgreSQL.

Charges taken without asking queue in the process's pipeline and run many to a transaction.
These tests put many charges into one batch on purpose (``asyncio.gather`` queues them all
before the pipeline's runner first runs) and check that each charge is answered exactly as it
would be alone: a refusal refuses only its own charge and leaves nothing of it behind, and
every captured charge is in the books once. The last test races two pipelines (two processes'
worth) against one database.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout import lookups, pipeline
from payments.checkout.charges import ChargeLineInput, Customer
from payments.checkout.lookups import LIMITS, Looker, LookupKind
from payments.checkout.pipeline import pipeline_for
from payments.checkout.trust import set_trusted
from payments.clock import utcnow
from payments.db import Database, create_database
from payments.errors import (
    ConsentRequired,
    InsufficientFunds,
    PriceAboveList,
    ProviderNotApproved,
)
from payments.ledger.periods import first_day
from payments.models import AuditEvent, Charge, IdempotencyRecord, RateCounter, TrustedProvider
from payments.people import ratelimits
from payments.people.phones import to_e164
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from tests.factories import (
    World,
    add_client_with_decision,
    assert_books_ok,
    envelopes,
    row_counts,
    seed_world,
    set_provider_status,
)
from tests.support.databases import explain, statements_on
from tests.support.money import charge, cleaning, fingerprint, home_help


async def clients(db: Database, w: World, n: int, *, monthly: int = 20_000) -> list[Any]:
    """``n`` more clients of ``w``'s county, each with a cleaning + home help line of
    ``monthly`` cents, trusting both providers; funded."""
    out = []
    for i in range(n):
        out.append(
            await add_client_with_decision(
                db,
                w,
                phone=f"040 700 {i:04d}",
                lines=[DecisionLineInput("Kotiapu ja siivous", monthly, ("siivous", "kotiapu"))],
                valid_from=first_day(w.period),
            )
        )
    await fund_period(db, w.period)
    return out


def phone(i: int) -> Customer:
    return Customer(phone_e164=to_e164(f"040 700 {i:04d}"))


async def gathered(*calls: Any) -> list[Any]:
    return list(await asyncio.gather(*calls, return_exceptions=True))


async def test_one_batch_answers_each_charge_as_if_it_were_alone(db: Database):
    w = await seed_world(db)
    cs = await clients(db, w, 8)
    # Client 1 has 30 EUR left (not two hours of cleaning); client 2's per-charge cap is 50 EUR;
    # client 3 has two lines: home help of 10 EUR a month and cleaning of 200 EUR.
    await charge(db, w, cleaning(hours="4.85"), customer=phone(1))  # 169.75 of 200 EUR
    await set_trusted(
        db,
        actor_id=uuid.uuid4(),
        wallet_id=cs[2].wallet_id,
        provider_id=w.provider_id,
        per_charge_cap_cents=5000,
    )
    two_lines = await add_client_with_decision(
        db,
        w,
        phone="040 799 0000",
        lines=[
            DecisionLineInput("Siivous", 20_000, ("siivous",)),
            DecisionLineInput("Kotiapu", 1000, ("kotiapu",)),
        ],
        valid_from=first_day(w.period),
    )
    await fund_period(db, w.period)
    earlier = await charge(db, w, cleaning(), customer=phone(4), key="earlier")
    pipe = pipeline_for(db)
    before_stats = pipe.stats.batches
    before = await row_counts(db)
    balances = {e.id: e.balance_cents for e in await envelopes(db)}
    spent_before = await _spent(db)

    results = await gathered(
        charge(db, w, cleaning(), customer=phone(0)),  # 0: captured
        charge(db, w, cleaning(), customer=phone(1)),  # 1: 70 EUR > 30.25 left
        charge(db, w, cleaning(), customer=phone(2)),  # 2: above the per-charge cap
        charge(db, w, cleaning(), customer=Customer(phone_e164="+358409999999")),  # 3: nobody
        charge(db, w, cleaning(), customer=phone(4), key="earlier"),  # 4: a retry: replayed
        charge(db, w, [ChargeLineInput("siivous", Decimal(1), 9999)], customer=phone(5)),  # 5
        charge(  # 6: cleaning fits its envelope, home help does not: nothing of it stays
            db,
            w,
            [*cleaning(hours=1), *home_help(hours=1)],
            customer=Customer(phone_e164=to_e164("040 799 0000")),
        ),
        charge(db, w, home_help(), customer=phone(7)),  # 7: captured
        charge(db, w, cleaning(hours=1), customer=phone(0)),  # 8: client 0 again: next batch
        charge(db, w, cleaning(), provider_id=w.other_provider_id, customer=phone(3)),  # 9
    )

    ok = {i for i, r in enumerate(results) if isinstance(r, Outcome)}
    assert ok == {0, 4, 7, 8}, results
    assert isinstance(results[1], InsufficientFunds)
    assert isinstance(results[2], ConsentRequired)
    assert isinstance(results[3], ConsentRequired)
    assert isinstance(results[5], PriceAboveList)
    assert isinstance(results[6], InsufficientFunds)
    assert isinstance(results[9], ProviderNotApproved)  # the taxi has no cleaning price
    assert results[4].replayed and results[4].body == earlier.body
    assert all(results[i].what is Happened.CREATED and not results[i].replayed for i in (0, 7, 8))
    # The charges of one batch share their moment; client 0's second came a batch later.
    assert results[0].body["created_at"] == results[7].body["created_at"]
    assert results[8].body["created_at"] > results[0].body["created_at"]
    assert pipe.stats.batches - before_stats == 2 and pipe.stats.largest >= 9

    after = await row_counts(db)
    assert after["charges"] - before["charges"] == 3
    assert after["transfers"] - before["transfers"] == 3
    assert after["idempotency_keys"] - before["idempotency_keys"] == 3  # refused: no key kept
    assert after["outbox"] - before["outbox"] == 3
    # Only the captured charges moved money; the refused two-line charge's debit was undone.
    moved = {
        e.id: balances[e.id] - e.balance_cents
        for e in await envelopes(db)
        if e.balance_cents != balances[e.id]
    }
    assert sorted(moved.values()) == [3800, 7000 + 3500]  # client 7; client 0 twice
    spent_after = await _spent(db)
    changed = {w for (w, _), cents in spent_after.items() if cents != spent_before[(w, _)]}
    assert changed == {cs[0].wallet_id, cs[7].wallet_id}  # no refused charge's month moved
    assert two_lines.wallet_id not in changed
    keys = await _rows(db, select(func.count()).where(IdempotencyRecord.status_code == 0))
    assert keys == [(0,)]
    await assert_books_ok(db)


async def test_a_provider_refused_in_a_batch_refuses_only_its_own_charges(db: Database):
    w = await seed_world(db)
    await clients(db, w, 4)
    await set_provider_status(db, w.other_provider_id, "suspended")
    results = await gathered(
        *(charge(db, w, cleaning(hours=1), customer=phone(i)) for i in range(4)),
        charge(
            db,
            w,
            [ChargeLineInput("kuljetus", Decimal(1), 2500)],
            provider_id=w.other_provider_id,
            customer=phone(0),
        ),
    )
    assert [type(r).__name__ for r in results] == ["Outcome"] * 4 + ["ProviderNotApproved"]
    await assert_books_ok(db)


async def test_a_busy_pipeline_waits_a_few_turns_for_the_charges_on_their_way(db: Database):
    """While charges come together, a batch lets the event loop turn a few times first, so
    that a charge still on its way (its request being read) joins it; a lone charge on a quiet
    pipeline goes at once, and one two turns behind it waits for the next batch."""
    w = await seed_world(db)
    await clients(db, w, 6)
    pipe = pipeline_for(db)

    async def late(i: int) -> Any:
        for _ in range(2):
            await asyncio.sleep(0)
        return await charge(db, w, cleaning(hours=1), customer=phone(i))

    await charge(db, w, cleaning(hours=1), customer=phone(0))  # alone: the pipeline is quiet
    before = pipe.stats.batches
    quiet = await gathered(charge(db, w, cleaning(hours=1), customer=phone(1)), late(2))
    assert pipe.stats.batches - before == 2, "a quiet pipeline's batch waited for nobody"

    await gathered(*(charge(db, w, cleaning(hours=1), customer=phone(i)) for i in (3, 4)))
    before = pipe.stats.batches
    busy = await gathered(charge(db, w, cleaning(hours=1), customer=phone(5)), late(0))
    assert pipe.stats.batches - before == 1, "the charge on its way missed the busy batch"
    assert all(isinstance(r, Outcome) and r.what is Happened.CREATED for r in quiet + busy)
    await assert_books_ok(db)


async def test_a_batch_stopped_while_it_gathers_answers_its_charges(db: Database):
    """A busy batch's runner cancelled (the server shutting down) while it waits for the
    charges on their way: the charge already queued gets an answer, not a wait forever."""
    w = await seed_world(db)
    await clients(db, w, 3)
    pipe = pipeline_for(db)
    await gathered(*(charge(db, w, cleaning(hours=1), customer=phone(i)) for i in (0, 1)))
    waiting = asyncio.ensure_future(charge(db, w, cleaning(hours=1), customer=phone(2)))
    for _ in range(2):  # the charge is queued, and its runner has begun to gather
        await asyncio.sleep(0)
    assert pipe._runners and pipe._queue
    for runner in list(pipe._runners):
        runner.cancel()
    with pytest.raises(RuntimeError, match="shut down"):
        await asyncio.wait_for(waiting, 10)


async def test_a_charge_queued_as_the_runner_ends_is_answered(db: Database):
    """A charge queued in the loop turn after the runner found the queue empty, before that
    runner's task has finished in asyncio's eyes (its done callbacks run a turn later), starts a
    runner of its own. It waited for the next charge instead: on a quiet server, for as long as
    none came (bench.live_bench saw one answered after 30 s, when its caller retried)."""
    w = await seed_world(db)
    await clients(db, w, 2)
    pipe = pipeline_for(db)

    def request(i: int) -> pipeline.Request:
        lines = cleaning(hours=1)
        return pipeline.Request(
            w.provider_id, phone(i), lines, uuid.uuid4().hex, fingerprint(phone(i), lines), None
        )

    second: list[asyncio.Future[Outcome]] = []
    first = pipe.enqueue(request(0))
    # The first charge's answer is set in the runner's last step, and its callbacks run in the
    # next turn, before the runner's own: the moment a request read meanwhile is queued.
    first.add_done_callback(lambda _: second.append(pipe.enqueue(request(1))))
    assert (await asyncio.wait_for(first, 10)).what is Happened.CREATED
    await asyncio.sleep(0)
    assert len(second) == 1
    answer = await asyncio.wait_for(second[0], 10)
    assert answer.what is Happened.CREATED
    assert not pipe._runners and not pipe._queue
    await assert_books_ok(db)


async def test_batches_find_their_clients_by_number_or_wallet_with_one_sql_text(db: Database):
    """The batch's lookups of the trusting wallets, by phone number and by wallet id, find the
    same clients whatever the batch's size; on PostgreSQL with one SQL text each (the asked
    rows as one parameter), not one text, prepared again, per length of the lists."""
    w = await seed_world(db)
    cs = await clients(db, w, 5)
    with statements_on(db, "JOIN trusted_providers") as seen:
        for size in (1, 2, 4):
            results = await gathered(
                *(charge(db, w, cleaning(hours=1), customer=phone(i)) for i in range(size)),
                *(
                    charge(db, w, cleaning(hours=1), customer=Customer(wallet_id=c.wallet_id))
                    for c in cs[size : size + 1]
                ),
            )
            assert all(isinstance(r, Outcome) for r in results), results
    by_phone = {t for t in seen if "phone_e164" in t.split("FROM")[0]}
    by_wallet = set(seen) - by_phone
    assert by_phone and by_wallet
    if db.is_postgres:
        assert len(by_phone) == 1 and len(by_wallet) == 1, seen
    await assert_books_ok(db)


async def test_two_pipelines_racing_spend_exactly_what_each_envelope_holds(
    db: Database, database_url: str
):
    """Two processes' pipelines (two engines) charge twenty wallets at once; each wallet holds
    exactly five charges. Batches of both overlap in the database (PostgreSQL) or queue on
    SQLite's lock; neither deadlocks, none overspends, and every refusal is for money."""
    w = await seed_world(db)
    cs = await clients(db, w, 20, monthly=5 * 700)
    other = create_database(database_url)
    try:
        calls = [
            charge(
                db if n % 2 else other,
                w,
                [ChargeLineInput("siivous", Decimal("0.2"), 3500)],
                customer=phone(i),
            )
            for n in range(8)
            for i in range(20)
        ]
        results = await gathered(*calls)
    finally:
        stats = (pipeline_for(db).stats, pipeline_for(other).stats)
        await other.dispose()
    ok = [r for r in results if isinstance(r, Outcome)]
    refused = [r for r in results if not isinstance(r, Outcome)]
    assert len(ok) == 20 * 5
    assert all(isinstance(r, InsufficientFunds) for r in refused), refused[:3]
    assert all(s.largest > 1 for s in stats), stats
    for c in cs:
        assert [e.balance_cents for e in await envelopes(db, c.wallet_id)] == [0]
    wallets = await _rows(db, select(Charge.wallet_id, func.count()).group_by(Charge.wallet_id))
    assert sorted(n for _, n in wallets) == [5] * 20
    await assert_books_ok(db)


async def _spent(db: Database) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """Each trusted row's month total: {(wallet, provider): cents}."""
    rows = await _rows(
        db,
        select(
            TrustedProvider.wallet_id,
            TrustedProvider.provider_id,
            TrustedProvider.month_spent_cents,
        ),
    )
    return {(w, p): int(c) for w, p, c in rows}


async def _rows(db: Database, stmt: Any) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(stmt)).all())


async def _checkout_audit(db: Database) -> dict[str, int]:
    """How many rows of each ``checkout.*`` action the audit trail holds."""
    rows = await _rows(
        db,
        select(AuditEvent.action, func.count())
        .where(AuditEvent.action.like("checkout.%"))
        .group_by(AuditEvent.action),
    )
    return {str(action): int(n) for action, n in rows}


async def test_the_lookup_gate_holds_across_batches_and_pipelines(db: Database, database_url: str):
    """Fifty guessed numbers from one provider at once, through two pipelines (two processes'
    worth): exactly the limit's thirty run and are counted and audited as misses, the other
    twenty are refused before anything is done for them, and a client found by number in the
    same batches leaves no count behind."""
    w = await seed_world(db)
    await clients(db, w, 3)
    looker = Looker(w.provider_id, w.provider_principal, w.organizer_id)
    other = create_database(database_url)
    try:
        results = await gathered(
            *(
                charge(
                    db if i % 2 else other,
                    w,
                    cleaning(hours=1),
                    customer=Customer(phone_e164=f"+3584099{i:05d}"),
                    looker=looker,
                )
                for i in range(50)
            ),
            *(charge(db, w, cleaning(hours=1), customer=phone(i), looker=looker) for i in range(3)),
        )
    finally:
        await other.dispose()
    guesses, found = results[:50], results[50:]
    slugs = Counter(getattr(r, "slug", "captured") for r in guesses)
    limit = LIMITS[LookupKind.PHONE].per_provider
    assert slugs == {"consent-required": limit, "too-many-requests": 50 - limit}, slugs
    assert (
        sum(isinstance(r, Outcome) for r in found)
        + sum(getattr(r, "slug", "") == "too-many-requests" for r in found)
        == 3
    )
    hits = await _rows(db, select(RateCounter.hits).where(RateCounter.key == looker.key))
    assert hits == [(limit,)]
    assert await _checkout_audit(db) == {
        "checkout.phone_lookup": limit,
        "checkout.lookup_limited": 50 - limit + sum(not isinstance(r, Outcome) for r in found),
    }
    await assert_books_ok(db)


async def test_the_gate_reads_the_counters_without_waiting_and_decides_at_the_end(
    pg_db: Database,
):
    """A batch reads its providers' lookup counters without locking them: another batch that
    holds a counter (until its commit) does not stop this one from starting. Misses are counted
    at the end under the counters' locks, so when another process used the allowance up
    meanwhile, the misses past the limit are answered "too many" and audited as such, and the
    count never passes the limit."""
    w = await seed_world(pg_db)
    looker = Looker(w.provider_id, w.provider_principal, w.organizer_id)
    limit = LIMITS[LookupKind.PHONE].per_provider
    window = LIMITS[LookupKind.PHONE].window_s
    now = utcnow()
    async with UnitOfWork(pg_db) as holder:
        await ratelimits.hold_windows(holder.session, [looker.key], window_s=window, now=now)
        await holder.session.flush()
        async with UnitOfWork(pg_db) as uow:
            admitted = await asyncio.wait_for(
                lookups.admit_phone_lookups(uow.session, [looker] * 3, now), timeout=5
            )
            assert admitted == [None, None, None]
            # The holder (another process) counts all but one of the allowance and commits.
            await ratelimits.count_in(
                holder.session, {looker.key: limit - 1}, window_s=window, now=now
            )
            await holder.commit()
            kept = await lookups.keep_phone_misses(
                uow.session, [(looker, "consent-required")] * 3, now
            )
            await uow.commit()
    assert [type(v).__name__ for v in kept] == ["NoneType", "RateLimited", "RateLimited"]
    hits = await _rows(pg_db, select(RateCounter.hits).where(RateCounter.key == looker.key))
    assert hits == [(limit,)]
    assert await _checkout_audit(pg_db) == {
        "checkout.phone_lookup": 1,
        "checkout.lookup_limited": 2,
    }


_MANY_CLIENTS = """
INSERT INTO clients (id, organizer_id, first_name, last_name, phone_e164, language, created_at)
SELECT gen_random_uuid(), :org, 'Asiakas', 'N' || i, '+35840' || lpad(i::text, 7, '0'), 'fi', now()
FROM generate_series(1, 3000) AS i
"""


async def test_a_batch_finds_its_numbers_by_the_clients_key_not_by_reading_them_all(
    pg_db: Database,
):
    """The batch's numbers are probed in the clients' (organizer, number) key, a few rows
    each, however many clients the county has. The app's connections plan with
    ``random_page_cost`` 1.1 (payments.db); at PostgreSQL's default 4 the planner read the whole
    clients table to hash-join 24 numbers, once it had a few thousand clients."""
    w = await seed_world(pg_db)
    async with UnitOfWork(pg_db) as uow:
        await uow.session.execute(text(_MANY_CLIENTS), {"org": w.organizer_id})
        await uow.session.execute(text("ANALYZE clients"))
        await uow.commit()
    async with UnitOfWork(pg_db, readonly=True) as uow:
        asked, stmt = pipeline._ASKED_BY_PHONE.of(uow.session)
    rows = [(w.organizer_id, f"+35840{i:07d}", w.provider_id) for i in range(1, 25)]
    plan = await explain(pg_db, stmt, asked.bind(rows))
    assert "Seq Scan on clients" not in plan and "uq_clients_organizer_id" in plan, plan


async def _waiting_on_a_lock(db: Database, naming: str) -> None:
    """Until a statement containing ``naming`` waits for a row lock (at most ten seconds)."""
    for _ in range(200):
        async with db.engine.connect() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "select count(*) from pg_stat_activity"
                        " where wait_event_type = 'Lock' and query like :naming"
                    ),
                    {"naming": f"%{naming}%"},
                )
            ).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no statement with {naming!r} waited for a lock")


async def _locked_by_someone(db: Database, sql: str, params: dict[str, Any]) -> bool:
    """Whether ``sql`` (a ``SELECT … FOR UPDATE NOWAIT``) finds its rows locked."""
    async with db.engine.connect() as conn:
        try:
            await conn.execute(text(sql), params)
        except Exception as exc:  # asyncpg's LockNotAvailableError, wrapped
            assert "could not obtain lock" in str(exc), exc
            return True
        finally:
            await conn.rollback()
    return False


_TRUST_ROW = (
    "select 1 from trusted_providers where wallet_id = :wallet and provider_id = :provider"
    " for update nowait"
)
_ENVELOPE_ROW = "select 1 from accounts where id = :envelope for update nowait"


async def test_a_batch_locks_its_trusted_rows_before_its_envelopes(pg_db: Database):
    """The batch's locks are one statement on PostgreSQL (pipeline._LOCKS), and still in the
    order of every money path: all its trusted rows, then its envelopes. With the client's
    envelope held by another transaction, the batch waits there holding the trusted row; with
    the trusted row held, it waits there and has not touched the envelope. Either way the
    charge goes through once the other transaction ends."""
    w = await seed_world(pg_db)
    (client,) = await clients(pg_db, w, 1)
    (env,) = await envelopes(pg_db, client.wallet_id)
    trusted = {"wallet": client.wallet_id, "provider": w.provider_id}

    for held, sql, params, other, other_params, other_locked in (
        ("envelope", _ENVELOPE_ROW, {"envelope": env.id}, _TRUST_ROW, trusted, True),
        ("trusted row", _TRUST_ROW, trusted, _ENVELOPE_ROW, {"envelope": env.id}, False),
    ):
        async with pg_db.engine.connect() as holder:
            await holder.execute(text(sql.replace(" nowait", "")), params)
            going = asyncio.create_task(charge(pg_db, w, cleaning(hours=1), customer=phone(0)))
            try:
                await _waiting_on_a_lock(pg_db, "trust_locked")
                assert await _locked_by_someone(pg_db, other, other_params) is other_locked, (
                    f"while the {held} was held"
                )
            finally:
                await holder.rollback()
            out = await asyncio.wait_for(going, 10)
        assert out.what is Happened.CREATED, (held, out)
    await assert_books_ok(pg_db)
