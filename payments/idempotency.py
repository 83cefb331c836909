"""Idempotency keys for retryable writes (money rule 5).

``claim`` inserts the key *before* the write does anything else. A concurrent duplicate waits
on the unique index (PostgreSQL) or on the write lock (SQLite), then finds the first request's
stored result and replays it. The same key with another body is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.errors import IdempotencyKeyReused, InvalidInput
from payments.models import IdempotencyRecord

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: dict[str, Any]


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


async def claim(
    session: AsyncSession, *, scope: str, key: str, request_hash: str, now: datetime
) -> Replay | None:
    """Reserve ``key`` for this request, or return the first result stored under it."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        ins(IdempotencyRecord)
        .values(
            scope=scope,
            key=key,
            request_hash=request_hash,
            status_code=0,
            response={},
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["scope", "key"])
    )
    result = await session.execute(stmt)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return None
    existing = (
        await session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
    ).scalar_one()
    if existing.request_hash != request_hash:
        raise IdempotencyKeyReused()
    return Replay(status_code=existing.status_code, body=dict(existing.response))


async def store_result(
    session: AsyncSession, *, scope: str, key: str, status_code: int, body: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(status_code=status_code, response=body)
    )
