"""Group commit: the charges that providers take without asking, many in one transaction.

A trusted provider's charge by phone number or wallet id (:func:`capture_charge` without the
client's code or card) is the charge that comes most often, at the door. Instead of one
transaction per charge, each process queues them in its :class:`Pipeline`: while one batch is
in the database, the charges that arrive wait, and the next batch takes all of them (at most
:data:`MAX_BATCH`). While charges come together, a batch first lets the event loop turn a few
times (:data:`GATHER_TURNS`), so that the requests this process is already reading join it. A
charge that arrives when nothing is running goes at once, alone: nothing waits for a timer, so
a quiet server answers as fast as before and a busy one commits (and fsyncs) once per batch.

A batch is one transaction of set-based statements, each the same rule as the single path's
(:mod:`payments.checkout.charges`), run for every charge of the batch at once:

1. read the providers with their listings of the day, and the wallets of the clients who trust
   each provider (one or two statements). The listings usually come from the process's copy
   (:mod:`payments.marketplace.listings_cache`), proved current by the catalogue's token that
   the wallets' read returns with them; a batch whose token differs reads them again;
2. claim the idempotency keys (one ``INSERT … ON CONFLICT DO NOTHING RETURNING``); a key that
   is someone's earlier request replays its stored answer;
3. check each charge's prices; lock the trusted rows, then read and lock the wallets'
   envelopes, each set in one order: the lock order of every money path, so two batches (two
   processes) never deadlock each other. On PostgreSQL that is one statement
   (:func:`_lock_and_read`); SQLite, with one writer and no ``FOR UPDATE``, reads the two;
4. count each charge toward its trusted provider's month, within the caps (one conditional
   ``UPDATE … FROM <the batch's rows> … RETURNING``, the rows bound as arrays:
   :mod:`payments.rows`), then debit the envelopes (one conditional
   ``UPDATE``, ``balance >= amount``);
5. write every charge, line, transfer and outbox event (one ``INSERT … SELECT`` from the
   batch's rows per table) and store the answers under their keys: on PostgreSQL one statement
   of data-modifying ``WITH`` queries, on SQLite one statement each
   (:func:`payments.rows.insert_all`); commit.

**A refusal never fails its batch.** Each charge's refusal is decided by those conditional
statements (or by the checks between them), and what a refused charge changed in the
transaction before it was refused (its key's claim, its month's count, a debit of another of its
envelopes) is put back in the same transaction, as a rollback of its own transaction would
have. Only the others commit. A batch holds each wallet and each idempotency key at most once
(a second charge of the same wallet waits for the next batch), so no row is updated twice by one
statement.

**An acknowledged charge is committed.** A request's answer is set only after its batch's
commit returned. If a batch fails as a whole (a deadlock with another kind of transaction, a
lost connection), each of its charges runs again alone; a charge whose batch did commit before
the connection broke then replays its stored answer. A request whose caller went away (a
closed connection) still completes, as the single path's transaction would.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    String,
    Table,
    Uuid,
    and_,
    bindparam,
    literal_column,
    null,
    select,
    tuple_,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from payments import idempotency
from payments.checkout import charges, lookups, trust
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    ConsentRequired,
    DomainError,
    InsufficientFunds,
    ProviderNotApproved,
)
from payments.ledger import transfers
from payments.ledger.periods import HELSINKI
from payments.marketplace.listings_cache import ListingsCache, Sellers, listings_cache_for
from payments.marketplace.prices import (
    Seller,
    catalogue_token,
    helsinki_day,
    listings_of_providers,
)
from payments.models import (
    Account,
    Charge,
    ChargeLine,
    Client,
    OutboxEvent,
    TrustedProvider,
    Wallet,
)
from payments.results import Happened, Outcome
from payments.rows import BatchRows, PerEngine, insert_all
from payments.uow import UnitOfWork
from payments.vocabulary import TransferKind

MAX_BATCH = 64
# Batches of one process in the database at once. Two on PostgreSQL measured slower than one:
# 296 against 350 charges/s in bench.run on 2026-12-04, when the second batch waited for the
# first's locks on the providers' lookup counters; and still 762/718 against 876/824 on
# 2026-12-05, when no batch holds them any longer (lookups.admit_phone_lookups), with batches
# of at most 12 so that each runner had some: two half batches cost more CPU than their
# overlap saved.
RUNNERS = 1
# Turns of the event loop a batch waits for the charges on their way to join it, while the
# pipeline is busy (the last batch had company). Without them a batch took what had reached the
# queue when the last one ended, about half of the charges in flight (12 of 24 in
# bench.charge_cpu); with 5 it takes nearly all (23), and a batch's fixed statements are
# shared by twice as many. A charge on a quiet server still goes at once.
GATHER_TURNS = 5


@dataclass(eq=False)
class Request:
    """One charge waiting in the pipeline, as :func:`capture_charge` was called."""

    provider_id: uuid.UUID
    customer: charges.Customer
    lines: list[charges.ChargeLineInput]
    idempotency_key: str
    request_hash: str
    now: datetime | None
    # Set when the number was typed at the door: the batch runs the lookup gate for it.
    looker: lookups.Looker | None = None
    future: asyncio.Future[Outcome] = field(init=False, repr=False)

    @property
    def scope(self) -> str:
        return f"charge:{self.provider_id}"


@dataclass
class Stats:
    """What this process's pipeline has done (tests and the benchmark read it)."""

    batches: int = 0
    charges: int = 0
    largest: int = 0
    retried_alone: int = 0
    # Seconds a batch of this process was in the database (its transaction, begin to commit):
    # over a window, the share of it the pipeline was busy. Near 1, charges queue behind it;
    # well below, the time goes elsewhere (the requests around it, docs/performance.md).
    busy_s: float = 0.0


class Pipeline:
    """One process's queue of charges for one database (:func:`pipeline_for`)."""

    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        # SQLite has one writer; PostgreSQL could overlap batches (RUNNERS says why it does not).
        self.max_runners = 1 if db.is_sqlite else RUNNERS
        self.stats = Stats()
        self._queue: deque[Request] = deque()
        self._runners: set[asyncio.Task[None]] = set()
        self._busy = False

    async def submit(self, request: Request) -> Outcome:
        """Queue ``request`` and wait for its answer (or its refusal, raised here)."""
        # Shielded: a caller that goes away does not cancel a charge already in a batch.
        return await asyncio.shield(self.enqueue(request))

    def enqueue(self, request: Request) -> asyncio.Future[Outcome]:
        """Queue ``request`` and return the future of its answer; start a runner unless
        enough are running. Synchronous, so that nothing runs between the queueing and the
        count of runners."""
        loop = asyncio.get_running_loop()
        request.future = loop.create_future()
        self._queue.append(request)
        if len(self._runners) < self.max_runners:
            runner = loop.create_task(self._run(), name="charge-pipeline")
            self._runners.add(runner)
            # For a runner cancelled before it ever ran; one that ran leaves in _run.
            runner.add_done_callback(self._runners.discard)
        return request.future

    async def _run(self) -> None:
        try:
            while self._queue:
                batch: list[Request] = []
                try:
                    if self._busy and len(self._queue) < self.max_batch:
                        await self._gather()
                    batch = self._take()
                    await self._settle(batch)
                except BaseException as exc:  # cancelled at shutdown: no caller waits forever
                    for r in [*batch, *self._queue]:
                        if not r.future.done():
                            r.future.set_exception(
                                exc if isinstance(exc, Exception) else RuntimeError("shut down")
                            )
                    self._queue.clear()
                    raise
        finally:
            # Leave the runners in the same step that found the queue empty. A done callback
            # runs a loop turn later: a charge queued in between saw this runner still counted,
            # started none, and waited until the next charge came (on a quiet server, for as
            # long as none came: bench.live_bench found one answered after 30 s).
            me = asyncio.current_task()
            if me is not None:
                self._runners.discard(me)

    async def _gather(self) -> None:
        """Let the charges already on their way through this process (their requests read,
        between the server and :meth:`submit`) join the next batch: a few turns of the event
        loop, not a timer, ended early by a full batch."""
        for _ in range(GATHER_TURNS):
            await asyncio.sleep(0)
            if len(self._queue) >= self.max_batch:
                return

    def _take(self) -> list[Request]:
        """The next batch: the requests at the head of the queue that share their clock (only
        tests set one), at most ``max_batch``."""
        first = self._queue.popleft()
        batch = [first]
        while self._queue and len(batch) < self.max_batch and self._queue[0].now == first.now:
            batch.append(self._queue.popleft())
        return batch

    async def _settle(self, batch: list[Request]) -> None:
        started = time.perf_counter()
        try:
            deferred = await capture_batch(self.db, batch)
        except Exception as exc:
            self.stats.busy_s += time.perf_counter() - started
            if len(batch) == 1:
                if not batch[0].future.done():
                    batch[0].future.set_exception(exc)
                return
            # The batch failed as a whole (not a refusal: those never fail it). Each charge
            # runs alone, so one charge's failure is its own.
            self.stats.retried_alone += len(batch)
            for r in batch:
                await self._settle([r])
            return
        self.stats.busy_s += time.perf_counter() - started
        # Busy: charges came together. A lone charge with nobody waiting leaves it quiet.
        self._busy = len(batch) > 1 or bool(self._queue)
        self.stats.batches += 1
        self.stats.charges += len(batch) - len(deferred)
        self.stats.largest = max(self.stats.largest, len(batch) - len(deferred))
        # A second charge of a wallet (or key) in the batch goes first in the next one.
        self._queue.extendleft(reversed(deferred))


_EXTENSION = "charge-pipeline"


def pipeline_for(db: Database) -> Pipeline:
    """The process's pipeline for ``db``, made on first use."""
    return db.extension(_EXTENSION, lambda: Pipeline(db))


def stats_of(db: Database) -> Stats:
    """What the process's pipeline for ``db`` has done (nothing yet if it has none)."""
    pipe = db.extensions.get(_EXTENSION)
    return cast(Pipeline, pipe).stats if pipe is not None else Stats()


@dataclass(eq=False)
class _Charge:
    """A request on its way through a batch."""

    request: Request
    seller: Seller | None = None
    wallet_id: uuid.UUID | None = None
    priced: list[charges.Priced] = field(default_factory=list)
    counted: str | None = None


async def capture_batch(db: Database, batch: list[Request]) -> list[Request]:
    """Run ``batch`` in one transaction (see the module's docstring) and answer each request
    whose answer is known; return the requests deferred to the next batch (a second charge of a
    wallet or key already in this one). Raises only when the transaction itself fails."""
    now = batch[0].now or utcnow()
    answers: list[tuple[Request, Outcome | Exception]] = []
    provider_ids = {r.provider_id for r in batch}
    codes = {line.category for r in batch for line in r.lines}
    day = helsinki_day(now)
    cache = listings_cache_for(db)
    async with UnitOfWork(db) as uow:
        s = uow.session
        kept = cache.get(provider_ids, codes, day)
        if kept is None:
            cache.stats.misses += 1
            sellers = await _read_listings(s, cache, provider_ids, codes, day)
        else:
            sellers, token = kept
        wallets, seen = await _trusting_wallets(s, batch, sellers)
        if kept is not None:
            if seen == token:
                cache.stats.hits += 1
            else:
                # The catalogue changed since the listings were kept (or no row told): read
                # them now, before anything is decided. A provider's county never changes, so
                # the wallets found stand.
                cache.stats.stale += 1
                sellers = await _read_listings(s, cache, provider_ids, codes, day)

        # One charge per wallet and per key in a batch; the rest wait for the next one.
        active: list[_Charge] = []
        deferred: list[Request] = []
        seen_wallets: set[uuid.UUID] = set()
        seen_keys: set[tuple[str, str]] = set()
        for r in batch:
            wallet_id = wallets.get(id(r))
            key = (r.scope, r.idempotency_key)
            if key in seen_keys or (wallet_id is not None and wallet_id in seen_wallets):
                deferred.append(r)
                continue
            seen_keys.add(key)
            if wallet_id is not None:
                seen_wallets.add(wallet_id)
            active.append(_Charge(r, sellers.get(r.provider_id, (None, {}))[0], wallet_id))

        # The lookup gate for numbers typed at the door: past the provider's limit, refused
        # before anything else is done for them.
        gated = [c for c in active if c.request.looker and c.request.customer.phone_e164]
        if gated:
            verdicts = await lookups.admit_phone_lookups(
                s, [cast(lookups.Looker, c.request.looker) for c in gated], now
            )
            limited = {id(c) for c, verdict in zip(gated, verdicts, strict=True) if verdict}
            answers.extend(
                (c.request, verdict) for c, verdict in zip(gated, verdicts, strict=True) if verdict
            )
            active = [c for c in active if id(c) not in limited]

        claims = await idempotency.claim_many(
            s,
            [(c.request.scope, c.request.idempotency_key, c.request.request_hash) for c in active],
            now=now,
        )
        claimed: list[_Charge] = []
        for c in active:
            earlier = claims[(c.request.scope, c.request.idempotency_key)]
            if earlier is None:
                claimed.append(c)
            else:
                answers.append((c.request, earlier))

        refused: list[tuple[_Charge, DomainError]] = []
        # The single path's checks, in its order: the provider, its prices, the customer.
        listed: dict[int, list[charges.Listed]] = {}
        going: list[_Charge] = []
        for c in claimed:
            try:
                if c.seller is None or c.seller.status != "approved":
                    raise ProviderNotApproved("The provider is not approved to charge")
                listed[id(c)] = charges.check_listed(
                    c.request.lines, sellers[c.request.provider_id][1]
                )
                if c.wallet_id is None:
                    raise ConsentRequired(charges.ASK_FIRST)
                going.append(c)
            except DomainError as exc:
                refused.append((c, exc))

        # Locks (trust rows, then envelopes, each in one order) and the envelopes' read.
        going, before = await _lock_and_price(s, going, listed, now, refused)

        totals = {
            (cast(uuid.UUID, c.wallet_id), c.request.provider_id): sum(
                p.amount_cents for p in c.priced
            )
            for c in going
        }
        counted = await trust.use_trust_many(s, totals, now)
        paying: list[_Charge] = []
        for c in going:
            pair = (cast(uuid.UUID, c.wallet_id), c.request.provider_id)
            if pair in counted:
                c.counted = counted[pair]
                paying.append(c)
            else:
                refused.append((c, ConsentRequired()))

        amounts: dict[int, int] = {}
        for c in paying:
            for env, amount in charges.per_envelope(c.priced).items():
                assert env not in amounts, "one wallet per batch: an envelope pays one charge"
                amounts[env] = amount
        debited = await transfers.debit_envelopes(s, amounts)
        done: list[_Charge] = []
        undo: dict[int, int] = {}
        put_back: list[trust.TrustRow] = []
        for c in paying:
            envelopes = charges.per_envelope(c.priced)
            if all(env in debited for env in envelopes):
                done.append(c)
                continue
            refused.append((c, InsufficientFunds("There is not enough money left in this budget")))
            undo.update({env: amt for env, amt in envelopes.items() if env in debited})
            put_back.append(before[(cast(uuid.UUID, c.wallet_id), c.request.provider_id)])
        await transfers.undo_debits(s, undo)
        await trust.put_back_many(s, put_back)

        results = await _write(s, done, debited, now)
        await idempotency.release_many(
            s, [(c.request.scope, c.request.idempotency_key) for c, _ in refused]
        )
        # A number that found nobody keeps its attempt, counted and audited; found ones not.
        # A miss past the limit (counted meanwhile by a concurrent batch) is answered "too
        # many" instead.
        misses = [
            i
            for i, (c, exc) in enumerate(refused)
            if c.request.looker
            and c.request.customer.phone_e164
            and lookups.is_phone_miss(exc.slug)
        ]
        verdicts = await lookups.keep_phone_misses(
            s,
            [
                (cast(lookups.Looker, refused[i][0].request.looker), refused[i][1].slug)
                for i in misses
            ],
            now,
        )
        for i, verdict in zip(misses, verdicts, strict=True):
            if verdict is not None:
                refused[i] = (refused[i][0], verdict)
        await uow.commit()
    # Answers only after the commit: an acknowledged charge is durable.
    answers.extend((c.request, out) for c, out in results)
    answers.extend((c.request, exc) for c, exc in refused)
    for request, answer in answers:
        if request.future.done():
            continue
        if isinstance(answer, Exception):
            request.future.set_exception(answer)
        else:
            request.future.set_result(answer)
    return deferred


async def _read_listings(
    s: AsyncSession,
    cache: ListingsCache,
    provider_ids: set[uuid.UUID],
    codes: set[str],
    day: date,
) -> Sellers:
    """The batch's providers and their listings of ``day``, read now, and kept."""
    sellers, token = await listings_of_providers(s, provider_ids=provider_ids, codes=codes, day=day)
    cache.keep(sellers, codes, day, token)
    return sellers


async def _lock_and_price(
    s: AsyncSession,
    going: list[_Charge],
    listed: dict[int, list[charges.Listed]],
    now: datetime,
    refused: list[tuple[_Charge, DomainError]],
) -> tuple[list[_Charge], dict[tuple[uuid.UUID, uuid.UUID], trust.TrustRow]]:
    """Lock the charges' trusted rows and their wallets' envelopes (:func:`_lock_and_read`),
    then put each charge's lines on its envelopes, split at their vouchers; ``not-in-budget``
    when a service has no envelope. Returns the charges priced, and the trusted rows' months
    as they stood (to put back those of a charge refused later)."""
    if not going:
        return [], {}
    pairs = {(cast(uuid.UUID, c.wallet_id), c.request.provider_id) for c in going}
    before, rows = await _lock_and_read(
        s,
        pairs,
        {wallet_id for wallet_id, _ in pairs},
        {x.category_id for c in going for x in listed[id(c)]},
        now.astimezone(HELSINKI).date(),
    )
    by_wallet: dict[uuid.UUID, list[tuple[uuid.UUID, int, int | None]]] = defaultdict(list)
    for wallet_id, cat_id, acc_id, voucher in rows:
        by_wallet[wallet_id].append((cat_id, acc_id, voucher))
    priced: list[_Charge] = []
    for c in going:
        pricing = charges.Pricing(listed[id(c)])
        wanted = pricing.category_ids
        try:
            envelopes, vouchers = charges.pick_envelopes(
                [row for row in by_wallet[cast(uuid.UUID, c.wallet_id)] if row[0] in wanted],
                wanted,
            )
            c.priced = pricing.split(envelopes, vouchers)
        except DomainError as exc:
            refused.append((c, exc))
            continue
        priced.append(c)
    return priced, before


async def _lock_and_read(
    s: AsyncSession,
    pairs: set[tuple[uuid.UUID, uuid.UUID]],
    wallet_ids: set[uuid.UUID],
    category_ids: set[uuid.UUID],
    today: date,
) -> tuple[dict[tuple[uuid.UUID, uuid.UUID], trust.TrustRow], list[Any]]:
    """Lock the batch's trusted rows in the pairs' order, then read its wallets' envelopes for
    the services asked (:func:`charges.envelope_rows`, in envelope order), locking them in id
    order: the lock order of every money path, so two batches never deadlock each other.

    On PostgreSQL this is one statement (:data:`_LOCKS`), where it was three (the envelopes'
    read, the trust lock, the lock of the envelopes picked): the envelopes locked are all those
    the read found, a few more than the charges pick, all of the batch's own wallets. On SQLite,
    which has one writer (this batch) and no ``FOR UPDATE``, the same two reads, unlocked."""
    if s.get_bind().dialect.name == "sqlite":
        before = await trust.lock_many(s, pairs)
        return before, await charges.envelope_rows(s, wallet_ids, category_ids, today)
    (asked_pairs, wallets, categories), stmt = _LOCKS.of(s)
    params = {
        **asked_pairs.bind(sorted(pairs)),
        **wallets.bind_each(sorted(wallet_ids)),
        **categories.bind_each(sorted(category_ids)),
        "today": today,
    }
    locked: dict[tuple[uuid.UUID, uuid.UUID], trust.TrustRow] = {}
    envelopes: list[tuple[uuid.UUID, uuid.UUID, int, int | None]] = []
    for part, wallet_id, provider_id, spent, month, cat_id, acc_id, voucher in (
        await s.execute(stmt, params)
    ).all():
        if part == _TRUST_PART:
            locked[(wallet_id, provider_id)] = trust.TrustRow(
                wallet_id, provider_id, int(spent), month
            )
        else:
            envelopes.append((wallet_id, cat_id, int(acc_id), voucher))
    # Envelope order, as charges.envelope_rows gives it (the oldest envelope of a service wins).
    envelopes.sort(key=lambda row: row[2])
    return locked, envelopes


async def _write(
    s: AsyncSession, done: list[_Charge], debited: dict[int, tuple[int, str]], now: datetime
) -> list[tuple[_Charge, Outcome]]:
    """The captured charges' transfers, charges, lines and events (one INSERT per table), and
    their answers stored under their keys: :func:`payments.rows.insert_all`."""
    if not done:
        return []
    transfer_rows: list[dict[str, Any]] = []
    charge_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    out: list[tuple[_Charge, Outcome]] = []
    for c in done:
        seller = cast(Seller, c.seller)
        payable = await transfers.provider_payable_account(s, seller.id)
        charge_id = uuid.uuid4()
        envelopes = charges.per_envelope(c.priced)
        for env in sorted(envelopes):
            transfer_rows.append(
                {
                    "organizer_id": seller.organizer_id,
                    "debit_account_id": env,
                    "credit_account_id": payable,
                    "amount_cents": envelopes[env],
                    "kind": TransferKind.CHARGE,
                    "period": debited[env][1],
                    "charge_id": charge_id,
                    "dedupe_key": None,
                    "created_at": now,
                }
            )
        charge, lines, body, event = charges.charge_record(
            charge_id=charge_id,
            provider=seller,
            wallet_id=cast(uuid.UUID, c.wallet_id),
            items=[p.item(debited[p.envelope_id][1]) for p in c.priced],
            now=now,
            balances={env: debited[env][0] for env in envelopes},
            trust_period=c.counted,
        )
        charge_rows.append(charge)
        line_rows.extend(lines)
        events.append(event)
        out.append((c, Outcome(Happened.CREATED, body)))
    # The charges first: their lines name them (checked at the statement's end
    # on PostgreSQL, where these four and the answers' store are one statement).
    await insert_all(
        s,
        [
            (_CHARGES, charge_rows),
            (_CHARGE_LINES, line_rows),
            transfers.moved(transfer_rows),
            (_OUTBOX, events),
        ],
        then=idempotency.storing_many(
            s, [(c.request.scope, c.request.idempotency_key, outcome) for c, outcome in out]
        ),
    )
    return out


async def _trusting_wallets(
    s: AsyncSession, batch: list[Request], sellers: dict[uuid.UUID, tuple[Seller, Any]]
) -> tuple[dict[int, uuid.UUID], int | None]:
    """{id(request): wallet} for each request whose phone number or wallet id finds a client
    of the provider's organizer who trusts that provider and whose account is open: the single
    path's ``_TRUSTING_WALLET_BY_*`` for the whole batch, in one statement per way of naming
    the customer. With it, the catalogue's token as the first of those statements read it
    (None if none found a row): what proves kept listings current (listings_cache)."""
    out: dict[int, uuid.UUID] = {}
    tokens: list[int | None] = []
    organizer = {pid: seller.organizer_id for pid, (seller, _) in sellers.items()}
    on_postgres = s.get_bind().dialect.name == "postgresql"
    named_by: tuple[tuple[Any, PerEngine[tuple[BatchRows, Any]], Callable[..., Any]], ...] = (
        (_BY_PHONE, _ASKED_BY_PHONE, lambda customer: customer.phone_e164),
        (_BY_WALLET, _ASKED_BY_WALLET, lambda customer: customer.wallet_id),
    )
    for stmt, asked_by, name_of in named_by:
        # (number or wallet, provider) pairs, not numbers x providers: every client may trust
        # every provider of the batch, and the cross product's rows cost more than the query.
        pairs = sorted(
            {
                (name_of(r.customer), r.provider_id)
                for r in batch
                if name_of(r.customer) and r.provider_id in organizer
            }
        )
        if not pairs:
            continue
        params: dict[str, Any]
        if on_postgres:
            asked, stmt = asked_by.of(s)
            params = asked.bind([(organizer[pid], name, pid) for name, pid in pairs])
        else:
            params = {
                "pairs": pairs,
                "names": sorted({name for name, _ in pairs}),
                "provider_ids": sorted({pid for _, pid in pairs}),
            }
        rows = (await s.execute(stmt, params)).all()
        found = {(org, name, pid): w for w, org, name, pid, _ in rows}
        if rows:
            tokens.append(rows[0][4])
        for r in batch:
            name = name_of(r.customer)
            if name and r.provider_id in organizer:
                w = found.get((organizer[r.provider_id], name, r.provider_id))
                if w is not None:
                    out[id(r)] = w
    # The first statement's: the snapshot the listings' read would have had (on PostgreSQL
    # the second statement may see a later one).
    return out, (tokens[0] if tokens else None)


_CHARGES = cast(Table, Charge.__table__)
_CHARGE_LINES = cast(Table, ChargeLine.__table__)
_OUTBOX = cast(Table, OutboxEvent.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
_W = cast(Table, Wallet.__table__)
_C = cast(Table, Client.__table__)
_T = cast(Table, TrustedProvider.__table__)
# Each: (wallet, organizer, what named the customer, provider) for the pairs asked. On SQLite
# these two keep expanding lists, not one parameter (payments.rows): with the lists as a
# subquery, SQLite (with no statistics) went through every open client instead of the wallets'
# key. On PostgreSQL the lists' lengths made a new SQL text, which its driver prepared again, in
# nearly every batch: there the asked rows drive the join (_ASKED_BY_*), one text, each row
# found by the clients' (organizer, number) key or the wallet's id.
_BY_PHONE = (
    select(_W.c.id, _C.c.organizer_id, _C.c.phone_e164, _T.c.provider_id, catalogue_token())
    .join(_C, _C.c.id == _W.c.client_id)
    .join(_T, _T.c.wallet_id == _W.c.id)
    .where(
        # The single columns let SQLite use its indexes; the pairs keep the rows few.
        _C.c.phone_e164.in_(bindparam("names", expanding=True)),
        _T.c.provider_id.in_(bindparam("provider_ids", expanding=True)),
        tuple_(_C.c.phone_e164, _T.c.provider_id).in_(bindparam("pairs", expanding=True)),
        _C.c.closed_at.is_(None),
    )
)
_BY_WALLET = (
    select(_W.c.id, _W.c.organizer_id, _W.c.id.label("named"), _T.c.provider_id, catalogue_token())
    .join(_C, _C.c.id == _W.c.client_id)
    .join(_T, _T.c.wallet_id == _W.c.id)
    .where(
        _W.c.id.in_(bindparam("names", expanding=True)),
        _T.c.provider_id.in_(bindparam("provider_ids", expanding=True)),
        tuple_(_W.c.id, _T.c.provider_id).in_(bindparam("pairs", expanding=True)),
        _C.c.closed_at.is_(None),
    )
)


def _asked_by_phone(dialect: Dialect) -> tuple[BatchRows, Any]:
    asked = BatchRows(dialect, "asked", organizer_id=Uuid(), named=String(), provider_id=Uuid())
    a = asked.table.c
    return asked, (
        select(_W.c.id, _C.c.organizer_id, _C.c.phone_e164, _T.c.provider_id, catalogue_token())
        .select_from(asked.table)
        .join(_C, and_(_C.c.organizer_id == a.organizer_id, _C.c.phone_e164 == a.named))
        .join(_W, _W.c.client_id == _C.c.id)
        .join(_T, and_(_T.c.wallet_id == _W.c.id, _T.c.provider_id == a.provider_id))
        .where(_C.c.closed_at.is_(None))
    )


def _asked_by_wallet(dialect: Dialect) -> tuple[BatchRows, Any]:
    asked = BatchRows(dialect, "asked", organizer_id=Uuid(), named=Uuid(), provider_id=Uuid())
    a = asked.table.c
    return asked, (
        select(
            _W.c.id, _W.c.organizer_id, _W.c.id.label("named"), _T.c.provider_id, catalogue_token()
        )
        .select_from(asked.table)
        .join(_W, and_(_W.c.id == a.named, _W.c.organizer_id == a.organizer_id))
        .join(_C, _C.c.id == _W.c.client_id)
        .join(_T, and_(_T.c.wallet_id == _W.c.id, _T.c.provider_id == a.provider_id))
        .where(_C.c.closed_at.is_(None))
    )


_ASKED_BY_PHONE = PerEngine(_asked_by_phone)
_ASKED_BY_WALLET = PerEngine(_asked_by_wallet)


_TRUST_PART = 1
_ENVELOPE_PART = 2


def _locks_statement(dialect: Dialect) -> tuple[tuple[BatchRows, BatchRows, BatchRows], Any]:
    """PostgreSQL: the trust lock (:func:`trust.lock_many_statement`) and the envelopes' read
    (:func:`charges.envelopes_for_statement`) with ``FOR UPDATE OF accounts``, each in a
    ``WITH`` query of its own, and their rows one after the other (``UNION ALL``, told apart
    by ``part``). PostgreSQL runs a ``UNION ALL``'s branches in order, each to its end, and a
    query with ``FOR UPDATE`` is never run in parallel: every trusted row is locked before the
    first envelope is (``tests/payments/test_pipeline.py`` holds a lock to show it). Both
    ``WITH`` queries are ``MATERIALIZED``, so that each keeps its own ``ORDER BY … FOR
    UPDATE``: the rows are locked in that order."""
    pairs, trusted = trust.lock_many_statement(dialect)
    (wallets, categories), envelopes = charges.envelopes_for_statement(dialect)
    t = trusted.cte("trust_locked").prefix_with("MATERIALIZED")
    e = envelopes.with_for_update(of=_ACCOUNTS).cte("envelopes_locked").prefix_with("MATERIALIZED")
    no_uuid, no_int = sql_cast(null(), Uuid()), sql_cast(null(), BigInteger())
    return (pairs, wallets, categories), union_all(
        select(
            literal_column(str(_TRUST_PART)).label("part"),
            t.c.wallet_id,
            t.c.provider_id,
            t.c.month_spent_cents,
            t.c.month_period,
            no_uuid.label("category_id"),
            no_int.label("envelope_id"),
            no_int.label("voucher_value_cents"),
        ),
        select(
            literal_column(str(_ENVELOPE_PART)),
            e.c.wallet_id,
            no_uuid,
            no_int,
            sql_cast(null(), String()),
            e.c.category_id,
            e.c.id,
            e.c.voucher_value_cents,
        ),
    )


_LOCKS = PerEngine(_locks_statement)
