"""Idempotency keys for retryable writes (money rule 5).

``claim`` inserts the key *before* the write does anything else. A concurrent duplicate waits
on the unique index (PostgreSQL) or on the write lock (SQLite), then finds the first request's
stored result and replays it. The same key with another body is refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, literal, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from payments.errors import IdempotencyKeyReused, IdempotencyKeyUnanswered, InvalidInput
from payments.models import IdempotencyRecord
from payments.results import Happened, Outcome
from payments.rows import BatchRows, PerEngine

MAX_KEY_LENGTH = 200
# How long a key is remembered is a retention setting (WALLET_RETENTION_IDEMPOTENCY_KEYS_DAYS,
# 30 days): payments.people.retention forgets older keys with the other kinds of data.


# The table keeps the numbers it has always held, so a row stored before ``Outcome`` replays
# the same: what happened, as stored (this mapping is the store's, not the web's).
_STORED: dict[Happened, int] = {
    Happened.DONE: 200,
    Happened.CREATED: 201,
    Happened.PENDING_APPROVAL: 202,
}
_HAPPENED = {code: what for what, code in _STORED.items()}


def request_fingerprint(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return h.hexdigest()


def validate_key(key: str | None) -> str:
    from payments.errors import IdempotencyKeyMissing

    if key is None or not key.strip():
        raise IdempotencyKeyMissing()
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters",
            slug="invalid-idempotency-key",
        )
    return key


_records = cast(Table, IdempotencyRecord.__table__)
_rec = _records.c


def _claim_statement(ins: Any) -> Any:
    return ins(_records).on_conflict_do_nothing(index_elements=["scope", "key"])


# Built once (see payments/ledger/transfers.py for why): one per dialect, run with bound parameters.
_CLAIM = {"postgresql": _claim_statement(pg_insert), "sqlite": _claim_statement(sqlite_insert)}


def _claim_many(dialect: Dialect) -> tuple[BatchRows, Any]:
    """The batch's claims as one ``INSERT … SELECT`` from its rows (payments.rows), in (scope,
    key) order. Not an executemany with ``RETURNING``: with rows to return in the parameters'
    order and no sentinel column, SQLAlchemy sends that as one statement, one round trip, per
    row."""
    claims = BatchRows(dialect, "claims", scope=String(), key=String(), request_hash=String())
    c = claims.table.c
    rows = (
        select(
            c.scope,
            c.key,
            c.request_hash,
            literal(0, _rec.status_code.type),
            bindparam("p_response", type_=_rec.response.type),
            bindparam("p_now", type_=_rec.created_at.type),
        )
        # SQLite: an INSERT … SELECT with an upsert clause needs a WHERE (its parser's rule).
        .where(true())
        .order_by(c.scope, c.key)
    )
    insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(_records)
        .from_select(
            ["scope", "key", "request_hash", "status_code", "response", "created_at"], rows
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
        .returning(_rec.scope, _rec.key)
    )
    return claims, stmt


_CLAIM_MANY = PerEngine(_claim_many)
_EXISTING = select(_rec.request_hash, _rec.status_code, _rec.response).where(
    _rec.scope == bindparam("p_scope"), _rec.key == bindparam("p_key")
)
_STORE = (
    update(_records)
    .where(_rec.scope == bindparam("p_scope"), _rec.key == bindparam("p_key"))
    .values(
        status_code=bindparam("p_status", type_=_rec.status_code.type),
        response=bindparam("p_body", type_=_rec.response.type),
    )
)


async def claim(
    session: AsyncSession, *, scope: str, key: str, request_hash: str, now: datetime
) -> Outcome | None:
    """Reserve ``key`` for this request, or return the first result stored under it (as
    ``replayed``)."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    result = await session.execute(
        _CLAIM["postgresql" if dialect == "postgresql" else "sqlite"],
        {
            "scope": scope,
            "key": key,
            "request_hash": request_hash,
            "status_code": 0,
            "response": {},
            "created_at": now,
        },
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return None
    existing = (await session.execute(_EXISTING, {"p_scope": scope, "p_key": key})).one()
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused()
    what = _HAPPENED.get(existing.status_code)
    if what is None:  # claimed, never answered: a half-written key, not a result to replay
        raise IdempotencyKeyUnanswered()
    return Outcome(what, dict(existing.response), replayed=True)


async def store_result(session: AsyncSession, *, scope: str, key: str, outcome: Outcome) -> None:
    """Remember what the request under ``key`` answered, for its retries."""
    await session.execute(
        _STORE,
        {"p_scope": scope, "p_key": key, "p_status": _STORED[outcome.what], "p_body": outcome.body},
    )


async def claim_many(
    session: AsyncSession, claims: list[tuple[str, str, str]], *, now: datetime
) -> dict[tuple[str, str], Outcome | Exception | None]:
    """:func:`claim` for many keys in one statement (the group commit): ``claims`` are
    (scope, key, request hash), no (scope, key) twice. For each: None when this transaction
    now holds the key, else the first result to replay, or the error :func:`claim` would
    raise (:class:`IdempotencyKeyReused`, :class:`IdempotencyKeyUnanswered`) to answer with.

    The rows go in (scope, key) order, so two transactions claiming overlapping keys wait for
    each other in one order and never deadlock on the unique index."""
    if not claims:
        return {}
    ordered = sorted(claims)
    # One statement whatever the batch's size: compiled, and prepared, once.
    rows, stmt = _CLAIM_MANY.of(session)
    params = {**rows.bind(ordered), "p_response": {}, "p_now": now}
    won = {(str(scope), str(key)) for scope, key in (await session.execute(stmt, params)).all()}
    out: dict[tuple[str, str], Outcome | Exception | None] = {}
    for scope, key, request_hash in ordered:
        if (scope, key) in won:
            out[(scope, key)] = None
            continue
        # Someone else's key (a retry of an earlier request): rare, so one read each.
        existing = (await session.execute(_EXISTING, {"p_scope": scope, "p_key": key})).one()
        if existing.request_hash != request_hash:
            out[(scope, key)] = IdempotencyKeyReused()
            continue
        what = _HAPPENED.get(existing.status_code)
        out[(scope, key)] = (
            IdempotencyKeyUnanswered()
            if what is None
            else Outcome(what, dict(existing.response), replayed=True)
        )
    return out


def storing_many(
    session: AsyncSession, results: list[tuple[str, str, Outcome]]
) -> tuple[Any, dict[str, Any]] | None:
    """:func:`store_result` for many keys at once, as a statement and its parameters to run
    with other writes (:func:`payments.rows.insert_all`): one ``UPDATE … FROM`` the batch's rows
    (:mod:`payments.rows`), not an executemany, which PostgreSQL ran row by row. None when
    there is nothing to store."""
    if not results:
        return None
    stored, stmt = _STORE_MANY.of(session)
    return stmt, stored.bind(
        [(scope, key, _STORED[outcome.what], outcome.body) for scope, key, outcome in results]
    )


def _store_many(dialect: Dialect) -> tuple[BatchRows, Any]:
    stored = BatchRows(
        dialect,
        "stored",
        scope=String(),
        key=String(),
        status=_rec.status_code.type,
        body=_rec.response.type,
    )
    v = stored.table.c
    return stored, (
        update(_records)
        .where(_rec.scope == v.scope, _rec.key == v.key)
        .values(status_code=v.status, response=v.body)
    )


_STORE_MANY = PerEngine(_store_many)


async def release_many(session: AsyncSession, keys: list[tuple[str, str]]) -> None:
    """Give back keys claimed in this transaction for requests that were refused: a refusal
    writes nothing, as a rolled-back :func:`claim` leaves nothing (the group commit refuses
    some requests of a batch and commits the rest)."""
    if keys:
        await session.execute(_RELEASE, [{"p_scope": scope, "p_key": key} for scope, key in keys])


_RELEASE = _records.delete().where(
    _rec.scope == bindparam("p_scope"),
    _rec.key == bindparam("p_key"),
    _rec.status_code == 0,
)
