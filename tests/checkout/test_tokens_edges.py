"""Payment tokens on the primitives: what ``consume`` accepts, once, and what the purge keeps
(both engines). The HTTP tests show a token charged at the door; these pin its edges."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select, update

from payments import clock
from payments.checkout import tokens
from payments.clock import utcnow
from payments.db import Database
from payments.errors import InvalidInput, NotFound, TokenInvalid
from payments.models import PaymentToken
from payments.uow import UnitOfWork
from tests.factories import seed_world


async def _consume(db: Database, organizer_id: uuid.UUID, *, token=None, code=None, now=None):
    async with UnitOfWork(db) as uow:
        wallet = await tokens.consume(
            uow.session, organizer_id=organizer_id, token=token, code=code, now=now or utcnow()
        )
        await uow.commit()
    return wallet


async def test_an_issued_token_is_stored_only_as_hashes_and_lives_its_ttl(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await seed_world(db)
    now = utcnow()
    monkeypatch.setattr(clock, "source", lambda: now)
    issued = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    assert issued.token.startswith("hbp_") and len(issued.token) == 4 + 32
    assert len(issued.code) == 8 and issued.code.isdigit()
    assert issued.wallet_id == w.wallet_id
    assert issued.expires_at == now + timedelta(seconds=120)
    async with UnitOfWork(db, readonly=True) as uow:
        row = (await uow.session.execute(select(PaymentToken))).scalar_one()
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    code_text = f"code:{w.organizer_id}:{issued.code}"
    assert row.code_hash == hashlib.sha256(code_text.encode()).hexdigest()
    assert row.wallet_id == w.wallet_id and row.organizer_id == w.organizer_id
    assert row.created_by == w.client_principal and row.used_at is None
    assert row.expires_at.astimezone(UTC) == now + timedelta(seconds=120)
    short = await tokens.issue_token(
        db, wallet_id=w.wallet_id, created_by=w.client_principal, ttl_s=30
    )
    assert short.expires_at == now + timedelta(seconds=30)


async def test_a_token_for_no_wallet_is_not_found_and_the_refusal_names_the_limits(db: Database):
    w = await seed_world(db)
    with pytest.raises(NotFound, match=r"^No such wallet$"):
        await tokens.issue_token(db, wallet_id=uuid.uuid4(), created_by=w.client_principal)
    with pytest.raises(InvalidInput, match=r"^A payment code lives 10-120 seconds$"):
        await tokens.issue_token(
            db, wallet_id=w.wallet_id, created_by=w.client_principal, ttl_s=121
        )


@pytest.mark.parametrize(
    ("typed", "digits"),
    [("12345678", "12345678"), ("1234 5678", "12345678"), ("12-34-56-78", "12345678")],
)
def test_a_code_may_be_typed_with_spaces_and_dashes(typed: str, digits: str) -> None:
    assert tokens.normalise_code(typed) == digits


@pytest.mark.parametrize(
    "typed", ["1234567", "123456789", "1234567a", "1234_5678", "1234X5678", ""]
)
def test_a_code_of_other_length_or_characters_is_invalid(typed: str) -> None:
    with pytest.raises(TokenInvalid):
        tokens.normalise_code(typed)


async def test_a_token_is_used_once_by_its_token_or_its_code(db: Database) -> None:
    w = await seed_world(db)
    first = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    second = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    assert await _consume(db, w.organizer_id, token=first.token) == w.wallet_id
    with pytest.raises(TokenInvalid):
        await _consume(db, w.organizer_id, token=first.token)
    with pytest.raises(TokenInvalid):
        await _consume(db, w.organizer_id, code=first.code)
    spaced = second.code[:4] + " " + second.code[4:]
    assert await _consume(db, w.organizer_id, code=spaced) == w.wallet_id
    with pytest.raises(TokenInvalid):
        await _consume(db, w.organizer_id, token=second.token)
    with pytest.raises(TokenInvalid):
        await _consume(db, w.organizer_id)


async def test_a_token_expires_at_its_instant_not_a_moment_later(db: Database) -> None:
    w = await seed_world(db)
    a = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    b = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    with pytest.raises(TokenInvalid):
        await _consume(db, w.organizer_id, token=a.token, now=a.expires_at)
    just_before = b.expires_at - timedelta(milliseconds=1)
    assert await _consume(db, w.organizer_id, token=b.token, now=just_before) == w.wallet_id
    # The refused one was not used up by the refusal: it works before its time.
    before_a = a.expires_at - timedelta(milliseconds=1)
    assert await _consume(db, w.organizer_id, token=a.token, now=before_a) == w.wallet_id


async def test_a_token_is_only_good_at_its_own_organizer(db: Database) -> None:
    home = await seed_world(db)
    away = await seed_world(db)
    issued = await tokens.issue_token(
        db, wallet_id=home.wallet_id, created_by=home.client_principal
    )
    with pytest.raises(TokenInvalid):
        await _consume(db, away.organizer_id, token=issued.token)
    with pytest.raises(TokenInvalid):
        await _consume(db, away.organizer_id, code=issued.code)
    assert await _consume(db, home.organizer_id, code=issued.code) == home.wallet_id


async def test_two_live_tokens_with_the_same_code_are_both_refused(db: Database) -> None:
    w = await seed_world(db)
    a = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    b = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(PaymentToken)
            .where(PaymentToken.token_hash == hashlib.sha256(b.token.encode()).hexdigest())
            .values(code_hash=tokens._code_hash(w.organizer_id, a.code))
        )
        await uow.commit()
    with pytest.raises(TokenInvalid):
        await _consume(db, w.organizer_id, code=a.code)
    # Neither was used by the ambiguous try.
    assert await _consume(db, w.organizer_id, token=a.token) == w.wallet_id
    assert await _consume(db, w.organizer_id, token=b.token) == w.wallet_id


async def test_purge_forgets_tokens_expired_or_used_before_the_cutoff(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await seed_world(db)
    now = utcnow()
    issued = [
        await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
        for _ in range(5)
    ]
    day = timedelta(days=1)
    second = timedelta(seconds=1)
    shapes = [
        (now - day - second, None),  # expired more than a day ago: forgotten
        (now - day + second, None),  # expired less than a day ago: kept
        (now + day, now - day - second),  # used more than a day ago: forgotten
        (now + day, now - day + second),  # used less than a day ago: kept
        (now + day, None),  # live: kept
    ]
    async with UnitOfWork(db) as uow:
        for token, (expires_at, used_at) in zip(issued, shapes, strict=True):
            await uow.session.execute(
                update(PaymentToken)
                .where(PaymentToken.token_hash == hashlib.sha256(token.token.encode()).hexdigest())
                .values(expires_at=expires_at, used_at=used_at)
            )
        await uow.commit()
    monkeypatch.setattr(clock, "source", lambda: now)
    assert await tokens.purge_tokens(db) == 2
    async with UnitOfWork(db, readonly=True) as uow:
        left = set((await uow.session.execute(select(PaymentToken.token_hash))).scalars())
    kept = {hashlib.sha256(issued[i].token.encode()).hexdigest() for i in (1, 3, 4)}
    assert left == kept
    assert await tokens.purge_tokens(db, older_than=timedelta(0)) == 2


async def test_codes_are_drawn_from_all_eight_digits(db: Database) -> None:
    w = await seed_world(db)
    codes = [
        (await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)).code
        for _ in range(6)
    ]
    # Six codes all below 10^6 would happen once in 10^12 runs: they use the whole range.
    assert any(int(code) >= 10**6 for code in codes)
    assert len(set(codes)) == 6


async def test_purge_keeps_a_token_that_expired_or_was_used_exactly_at_the_cutoff(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await seed_world(db)
    now = utcnow()
    a = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    b = await tokens.issue_token(db, wallet_id=w.wallet_id, created_by=w.client_principal)
    cutoff = now - timedelta(days=1)
    async with UnitOfWork(db) as uow:
        for token, values in (
            (a, {"expires_at": cutoff}),
            (b, {"expires_at": now + timedelta(days=1), "used_at": cutoff}),
        ):
            await uow.session.execute(
                update(PaymentToken)
                .where(PaymentToken.token_hash == hashlib.sha256(token.token.encode()).hexdigest())
                .values(**values)
            )
        await uow.commit()
    monkeypatch.setattr(clock, "source", lambda: now)
    assert await tokens.purge_tokens(db) == 0
