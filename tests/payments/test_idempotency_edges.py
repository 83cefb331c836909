"""Idempotency keys at their edges, on the primitives themselves (both engines).

The charge and refund tests use keys through the use cases; these pin what the keys are made
of: which keys are accepted, what a fingerprint separates, what a claim returns before and
after its result is stored, and which records the pruning keeps.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from payments import idempotency
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    IdempotencyKeyUnanswered,
    InvalidInput,
    Refusal,
)
from payments.models import IdempotencyRecord
from payments.people.retention import Kind, Retention, prune
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork


def test_a_fingerprint_is_the_sha256_of_its_parts_each_ended_by_nul() -> None:
    expected = hashlib.sha256(b"POST\x00/api/x\x00{}\x00").hexdigest()
    assert idempotency.request_fingerprint("POST", "/api/x", b"{}") == expected
    # Text and bytes of the same characters are the same part ...
    assert idempotency.request_fingerprint("a", "b") == idempotency.request_fingerprint(b"a", b"b")
    # ... and where one part ends and the next begins matters.
    assert idempotency.request_fingerprint("ab", "c") != idempotency.request_fingerprint("a", "bc")
    assert idempotency.request_fingerprint("a") != idempotency.request_fingerprint("a", "")


@pytest.mark.parametrize("key", [None, "", "   ", "\t"])
def test_a_missing_or_blank_key_is_missing(key: str | None) -> None:
    with pytest.raises(IdempotencyKeyMissing):
        idempotency.validate_key(key)


@pytest.mark.parametrize("key", ["k" * 201, "tab\there", "new\nline", "nul\x00"])
def test_a_key_too_long_or_not_printable_is_invalid(key: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        idempotency.validate_key(key)
    assert caught.value.slug == "invalid-idempotency-key"
    assert str(caught.value) == "Idempotency-Key must be 1-200 printable characters"
    assert not isinstance(caught.value, IdempotencyKeyMissing)


@pytest.mark.parametrize("key", ["k", "k" * 200, "order 17/2027-01 ä"])
def test_a_printable_key_up_to_200_characters_is_itself(key: str) -> None:
    assert idempotency.validate_key(key) == key


async def _claim(db: Database, scope: str, key: str, body_hash: str) -> Outcome | None:
    async with UnitOfWork(db) as uow:
        replay = await idempotency.claim(
            uow.session, scope=scope, key=key, request_hash=body_hash, now=utcnow()
        )
        await uow.commit()
    return replay


async def _record(db: Database, scope: str, key: str) -> tuple[int, dict[str, Any]]:
    """What is stored under ``key``: (the stored number of what happened, the body)."""
    async with UnitOfWork(db, readonly=True) as uow:
        rec = await uow.session.get(IdempotencyRecord, (scope, key))
        assert rec is not None
        return rec.status_code, dict(rec.response)


async def test_a_claim_reserves_then_replays_what_was_stored(db: Database) -> None:
    assert await _claim(db, "provider:1", "k1", "h1") is None
    # Claimed, no result stored yet: the reservation is a placeholder (0, {}).
    assert await _record(db, "provider:1", "k1") == (0, {})
    async with UnitOfWork(db) as uow:
        await idempotency.store_result(
            uow.session,
            scope="provider:1",
            key="k1",
            outcome=Outcome(Happened.CREATED, {"id": "c-1"}),
        )
        await uow.commit()
    assert await _record(db, "provider:1", "k1") == (201, {"id": "c-1"})
    replay = await _claim(db, "provider:1", "k1", "h1")
    assert replay == Outcome(Happened.CREATED, {"id": "c-1"}, replayed=True)
    with pytest.raises(IdempotencyKeyReused):
        await _claim(db, "provider:1", "k1", "another body")
    # The same key in another scope, or another key in the same scope, is a new request.
    assert await _claim(db, "provider:2", "k1", "h1") is None
    assert await _claim(db, "provider:1", "k2", "h1") is None
    # Storing one key's result leaves every other record as it was.
    assert await _record(db, "provider:2", "k1") == (0, {})
    assert await _record(db, "provider:1", "k2") == (0, {})


@pytest.mark.parametrize(
    ("what", "stored"),
    [(Happened.DONE, 200), (Happened.CREATED, 201), (Happened.PENDING_APPROVAL, 202)],
)
async def test_each_outcome_is_stored_as_its_number_and_replays_as_itself(
    db: Database, what: Happened, stored: int
) -> None:
    assert await _claim(db, "s", "k", "h") is None
    async with UnitOfWork(db) as uow:
        await idempotency.store_result(
            uow.session, scope="s", key="k", outcome=Outcome(what, {"n": 1})
        )
        await uow.commit()
    assert await _record(db, "s", "k") == (stored, {"n": 1})
    assert await _claim(db, "s", "k", "h") == Outcome(what, {"n": 1}, replayed=True)


async def test_a_key_claimed_but_never_answered_is_refused_not_reserved_again(
    db: Database,
) -> None:
    # Claim and answer commit together, so a committed claim without an answer is a
    # half-written key. A retry under it is refused, never taken for a new request (that would
    # move the money twice) and never replayed as an empty answer.
    assert await _claim(db, "provider:1", "k1", "h1") is None
    with pytest.raises(IdempotencyKeyUnanswered) as refused:
        await _claim(db, "provider:1", "k1", "h1")
    assert refused.value.kind is Refusal.CONFLICT
    with pytest.raises(IdempotencyKeyReused):
        await _claim(db, "provider:1", "k1", "another request")
    assert await _record(db, "provider:1", "k1") == (0, {})


async def _keys(db: Database) -> set[str]:
    async with UnitOfWork(db, readonly=True) as uow:
        return set((await uow.session.execute(select(IdempotencyRecord.key))).scalars())


async def _forget(db: Database, retention: Retention | None = None) -> int:
    """The retention prune's count of idempotency keys (the one prune that forgets them)."""
    return (await prune(db, retention)).counts[Kind.IDEMPOTENCY_KEYS]


async def test_prune_keeps_a_key_exactly_at_the_cutoff_and_counts_what_it_forgot(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments import clock

    now = utcnow()
    monkeypatch.setattr(clock, "source", lambda: now)
    kept = Retention().idempotency_keys
    for key in ("older", "at-cutoff", "newer", "fresh"):
        assert await _claim(db, "s", key, "h") is None
    ages = {
        "older": kept + timedelta(seconds=1),
        "at-cutoff": kept,
        "newer": kept - timedelta(seconds=1),
        "fresh": timedelta(0),
    }
    async with UnitOfWork(db) as uow:
        for key, age in ages.items():
            await uow.session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.key == key)
                .values(created_at=now - age)
            )
        await uow.commit()
    assert await _forget(db) == 1
    assert await _keys(db) == {"at-cutoff", "newer", "fresh"}
    # A shorter retention, given: forgets everything older than it.
    assert await _forget(db, Retention(idempotency_keys=timedelta(minutes=1))) == 2
    assert await _keys(db) == {"fresh"}
    async with UnitOfWork(db, readonly=True) as uow:
        count = (await uow.session.execute(select(func.count(IdempotencyRecord.key)))).scalar()
    assert count == 1


async def test_prune_defaults_to_the_retention_and_the_clock(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments import clock

    now = utcnow()
    assert await _claim(db, "s", "old", "h") is None
    assert await _claim(db, "s", "new", "h") is None
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "old")
            .values(created_at=now - timedelta(days=30, minutes=1))
        )
        await uow.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == "new")
            .values(created_at=now - timedelta(days=29, hours=23))
        )
        await uow.commit()
    monkeypatch.setattr(clock, "source", lambda: now)
    assert await _forget(db) == 1
    assert await _keys(db) == {"new"}
