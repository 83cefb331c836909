"""QR cards and their PINs on the use cases themselves (both engines): what a PIN may be, what
issuing revokes, the audit trail, and each refusal of ``verify_card`` in its order."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import pytest
from sqlalchemy import select

from payments.checkout import cards
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    CardInvalid,
    CardLocked,
    Forbidden,
    InvalidInput,
    NotFound,
    ProviderNotApproved,
)
from payments.models import AuditEvent, QrCard
from payments.uow import UnitOfWork
from tests.factories import World, add_funded_client, seed_world, set_provider_status


async def _card(db: Database, card_id: uuid.UUID) -> QrCard:
    async with UnitOfWork(db, readonly=True) as uow:
        card = await uow.session.get(QrCard, card_id)
        assert card is not None
        return card


async def _audit(db: Database) -> list[AuditEvent]:
    async with UnitOfWork(db, readonly=True) as uow:
        rows = (await uow.session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars()
        return [r for r in rows if r.action.startswith("card.")]


async def _issue(db: Database, w: World, pin: str | None = "2468") -> cards.CardView:
    return await cards.issue_card(
        db, actor_id=w.case_manager, organizer_id=w.organizer_id, wallet_id=w.wallet_id, pin=pin
    )


async def _verify(db: Database, w: World, number: str, pin: str, **kw):
    return await cards.verify_card(
        db,
        organizer_id=w.organizer_id,
        provider_id=kw.pop("provider_id", w.provider_id),
        card_number=number,
        pin=pin,
        **kw,
    )


@pytest.mark.parametrize("pin", ["123", "1234567", "12a4", "\u0661\u0662\u0663\u0664", "", 1234])
async def test_a_pin_is_four_to_six_ascii_digits(db: Database, pin):
    w = await seed_world(db)
    with pytest.raises(InvalidInput) as caught:
        await _issue(db, w, pin=pin)
    assert caught.value.slug == "invalid-pin" and str(caught.value) == "The PIN is 4-6 digits"
    card = await _issue(db, w, pin=None)
    with pytest.raises(InvalidInput):
        await cards.set_pin(db, actor_id=w.client_principal, card_id=card.id, pin=pin)


@pytest.mark.parametrize("pin", ["1234", "123456"])
async def test_four_and_six_digits_are_pins(db: Database, pin: str):
    w = await seed_world(db)
    card = await _issue(db, w, pin=pin)
    assert card.has_pin
    assert await _verify(db, w, card.card_number, pin) == w.wallet_id


async def test_issuing_revokes_earlier_cards_and_is_audited(db: Database):
    w = await seed_world(db)
    first = await _issue(db, w)
    assert first.card_number.startswith("HBK-") and len(first.card_number) == 4 + 20
    assert first.card_number[4:] == first.card_number[4:].upper()
    int(first.card_number[4:], 16)
    assert (first.wallet_id, first.status, first.has_pin, first.failed_attempts) == (
        w.wallet_id,
        "active",
        True,
        0,
    )
    assert (first.first_name, first.organizer_name, first.help_phone) == ("Aino", "Kainuu", None)
    second = await _issue(db, w, pin=None)
    assert second.has_pin is False and second.card_number != first.card_number
    old = await _card(db, first.id)
    assert old.status == "revoked" and old.revoked_at is not None
    new = await _card(db, second.id)
    assert new.status == "active" and new.revoked_at is None and new.pin_hash is None
    assert new.issued_by == w.case_manager and new.organizer_id == w.organizer_id
    assert new.failed_attempts == 0 and new.pin_salt and len(new.pin_salt) == 32
    audit = await _audit(db)
    assert [(a.action, a.detail, a.actor_id, a.subject_client_id) for a in audit] == [
        ("card.issued", f"card {first.card_number}", w.case_manager, w.client_id),
        ("card.issued", f"card {second.card_number}", w.case_manager, w.client_id),
    ]
    assert {a.organizer_id for a in audit} == {w.organizer_id}
    # The revoked card is not accepted any more, even with its right PIN.
    with pytest.raises(CardInvalid):
        await _verify(db, w, first.card_number, "2468")


async def test_a_card_only_for_a_wallet_of_the_organizer(db: Database):
    w = await seed_world(db)
    other = await seed_world(db)
    with pytest.raises(NotFound, match=r"^No such wallet$"):
        await cards.issue_card(
            db, actor_id=w.case_manager, organizer_id=w.organizer_id, wallet_id=other.wallet_id
        )
    with pytest.raises(NotFound, match=r"^No such wallet$"):
        await cards.issue_card(
            db, actor_id=w.case_manager, organizer_id=w.organizer_id, wallet_id=uuid.uuid4()
        )
    assert await _audit(db) == []


async def test_lookups_of_a_card(db: Database):
    w = await seed_world(db)
    card = await _issue(db, w)
    assert await cards.card_wallet(db, card.id) == (w.organizer_id, w.wallet_id)
    assert await cards.card_wallet(db, uuid.uuid4()) is None
    assert await cards.get_card(db, card.id) == card
    with pytest.raises(NotFound, match=r"^No such card$"):
        await cards.get_card(db, uuid.uuid4())


async def test_set_pin_replaces_the_pin_clears_the_count_and_is_audited(db: Database):
    w = await seed_world(db)
    card = await _issue(db, w)
    for _ in range(2):
        with pytest.raises(CardInvalid):
            await _verify(db, w, card.card_number, "0000")
    old_salt = (await _card(db, card.id)).pin_salt
    view = await cards.set_pin(db, actor_id=w.client_principal, card_id=card.id, pin="97531")
    assert view.failed_attempts == 0 and view.has_pin
    new_salt = (await _card(db, card.id)).pin_salt
    # A fresh 16-byte salt with every PIN.
    assert new_salt is not None and len(new_salt) == 32 and new_salt != old_salt
    assert (await _card(db, card.id)).failed_attempts == 0
    with pytest.raises(CardInvalid) as caught:
        await _verify(db, w, card.card_number, "2468")
    assert caught.value.extra == {"attempts_left": 4}
    assert await _verify(db, w, card.card_number, "97531") == w.wallet_id
    pin_set = [a for a in await _audit(db) if a.action == "card.pin_set"]
    # Under the client whose card it is, like the issue: the client's page of the trail.
    assert [(a.actor_id, a.detail, a.organizer_id, a.subject_client_id) for a in pin_set] == [
        (w.client_principal, f"card {card.card_number}", w.organizer_id, w.client_id)
    ]
    assert pin_set[0].created_at is not None
    with pytest.raises(NotFound, match=r"^No such card$"):
        await cards.set_pin(db, actor_id=w.client_principal, card_id=uuid.uuid4(), pin="1234")
    await cards.set_status(db, actor_id=w.case_manager, card_id=card.id, action="revoke")
    with pytest.raises(Forbidden, match=r"^This card has been revoked$"):
        await cards.set_pin(db, actor_id=w.client_principal, card_id=card.id, pin="1234")


async def test_five_wrong_pins_lock_the_card_until_a_case_manager_unlocks_it(db: Database):
    w = await seed_world(db)
    card = await _issue(db, w)
    now = utcnow()
    for left in (4, 3, 2, 1):
        with pytest.raises(CardInvalid) as caught:
            await _verify(db, w, card.card_number, "1111", now=now)
        assert caught.value.extra == {"attempts_left": left}
        assert (await _card(db, card.id)).locked_at is None
    with pytest.raises(CardLocked):
        await _verify(db, w, card.card_number, "1111", now=now)
    locked = await _card(db, card.id)
    assert (locked.status, locked.failed_attempts) == ("locked", 5)
    assert locked.locked_at is not None
    assert abs(locked.locked_at.astimezone(UTC) - now) < timedelta(milliseconds=1)
    # Locked: even the right PIN is refused, and counts nothing more.
    with pytest.raises(CardLocked):
        await _verify(db, w, card.card_number, "2468")
    assert (await _card(db, card.id)).failed_attempts == 5
    view = await cards.set_status(db, actor_id=w.case_manager, card_id=card.id, action="unlock")
    assert (view.status, view.failed_attempts) == ("active", 0)
    assert (await _card(db, card.id)).locked_at is None
    assert await _verify(db, w, card.card_number, "2468") == w.wallet_id
    unlock = [a for a in await _audit(db) if a.action == "card.unlock"]
    assert [(a.actor_id, a.detail, a.subject_client_id) for a in unlock] == [
        (w.case_manager, f"card {card.card_number}", w.client_id)
    ]


async def test_set_status_revokes_refuses_unknown_actions_and_revoked_cards(db: Database):
    w = await seed_world(db)
    card = await _issue(db, w)
    with pytest.raises(InvalidInput, match=r"^action is unlock or revoke$"):
        await cards.set_status(db, actor_id=w.case_manager, card_id=card.id, action="lock")
    assert (await _card(db, card.id)).status == "active"
    with pytest.raises(NotFound, match=r"^No such card$"):
        await cards.set_status(db, actor_id=w.case_manager, card_id=uuid.uuid4(), action="revoke")
    view = await cards.set_status(db, actor_id=w.case_manager, card_id=card.id, action="revoke")
    assert view.status == "revoked"
    assert (await _card(db, card.id)).revoked_at is not None
    with pytest.raises(Forbidden, match=r"^This card has been revoked; issue a new one$"):
        await cards.set_status(db, actor_id=w.case_manager, card_id=card.id, action="unlock")
    revoke = [a for a in await _audit(db) if a.action == "card.revoke"]
    assert [(a.actor_id, a.detail, a.organizer_id, a.subject_client_id) for a in revoke] == [
        (w.case_manager, f"card {card.card_number}", w.organizer_id, w.client_id)
    ]


async def test_verify_card_refusals_in_their_order(db: Database):
    w = await seed_world(db)
    other = await seed_world(db)
    card = await _issue(db, w)
    # A PIN that cannot be one is refused before anything is looked up (and counts nothing).
    for bad in ("12", "1234567", "12a4"):
        with pytest.raises(CardInvalid) as caught:
            await _verify(db, w, card.card_number, bad, provider_id=uuid.uuid4())
        assert caught.value.extra == {}
    # Only an approved provider of this organizer may try a PIN.
    for provider in (uuid.uuid4(), other.provider_id):
        with pytest.raises(ProviderNotApproved, match=r"^The provider is not approved to charge$"):
            await _verify(db, w, card.card_number, "2468", provider_id=provider)
    await set_provider_status(db, w.other_provider_id, "suspended")
    with pytest.raises(ProviderNotApproved):
        await _verify(db, w, card.card_number, "2468", provider_id=w.other_provider_id)
    assert (await _card(db, card.id)).failed_attempts == 0
    # The number as typed: case and surrounding blanks do not matter.
    typed = "  " + card.card_number.lower() + " "
    assert await _verify(db, w, typed, "2468") == w.wallet_id
    # Another organizer's card, an unknown card, a card without a PIN: card-invalid.
    with pytest.raises(CardInvalid):
        await cards.verify_card(
            db,
            organizer_id=other.organizer_id,
            provider_id=other.provider_id,
            card_number=card.card_number,
            pin="2468",
        )
    with pytest.raises(CardInvalid):
        await _verify(db, w, "HBK-0000", "2468")
    no_pin = await _issue(db, w, pin=None)
    with pytest.raises(CardInvalid) as caught:
        await _verify(db, w, no_pin.card_number, "2468")
    assert caught.value.extra == {}


async def test_a_card_and_its_pin_tries_are_its_own(db: Database):
    from payments.models import Organizer

    w = await seed_world(db)
    async with UnitOfWork(db) as uow:
        org = await uow.session.get(Organizer, w.organizer_id)
        assert org is not None
        org.help_phone = "+358800123456"
        await uow.commit()
    second_wallet = await add_funded_client(db, w)
    gone = await _issue(db, w)
    mine = await _issue(db, w)  # revokes `gone`
    revoked_at = (await _card(db, gone.id)).revoked_at
    theirs = await cards.issue_card(
        db,
        actor_id=w.case_manager,
        organizer_id=w.organizer_id,
        wallet_id=second_wallet,
        pin="1357",
    )
    assert theirs.help_phone == "+358800123456" and theirs.first_name == "Eino"
    # Issuing for another wallet revokes nothing here, and a reissue leaves a card that was
    # revoked earlier as it was.
    assert (await _card(db, mine.id)).status == "active"
    await _issue(db, w)
    assert (await _card(db, gone.id)).revoked_at == revoked_at
    assert (await _card(db, theirs.id)).status == "active"
    # Wrong and right PINs count on their own card only.
    with pytest.raises(CardInvalid):
        await _verify(db, w, theirs.card_number, "0000")
    third = await _issue(db, w)
    for _ in range(2):
        with pytest.raises(CardInvalid):
            await _verify(db, w, third.card_number, "0000")
    assert (await _card(db, theirs.id)).failed_attempts == 1
    assert await _verify(db, w, third.card_number, "2468") == w.wallet_id
    assert (await _card(db, theirs.id)).failed_attempts == 1
    assert (await _card(db, third.id)).failed_attempts == 0
