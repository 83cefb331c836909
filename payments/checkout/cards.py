"""QR cards with a PIN, for clients without a smartphone (issue 4).

The card carries a static, unguessable card number (as a QR); the PIN is 4-6 digits, stored as
scrypt with a per-card salt. A lost card is useless without the PIN, and five wrong PINs lock
it until a case manager unlocks it. Wrong tries are counted in their **own** transaction,
before and apart from the charge, so a refused or rolled-back charge cannot undo the count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select, update

from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    CardInvalid,
    CardLocked,
    ClientClosed,
    Forbidden,
    InvalidInput,
    NotFound,
    ProviderNotApproved,
)
from payments.models import AuditEvent, Client, Organizer, Provider, QrCard, Wallet
from payments.uow import UnitOfWork

MAX_PIN_FAILURES = 5
CARD_PREFIX = "HBK-"
# scrypt cost: about 50 ms and 16 MiB per check; slow for a guesser, fine at the door.
_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class CardView:
    id: uuid.UUID
    card_number: str
    wallet_id: uuid.UUID
    status: str
    has_pin: bool
    failed_attempts: int
    first_name: str
    help_phone: str | None
    organizer_name: str


def _check_pin(pin: str) -> None:
    if (
        not isinstance(pin, str)
        or not (4 <= len(pin) <= 6)
        or not pin.isdigit()
        or not pin.isascii()
    ):
        raise InvalidInput("The PIN is 4-6 digits", slug="invalid-pin")


def _scrypt(pin: str, salt_hex: str) -> str:
    return hashlib.scrypt(
        pin.encode(), salt=bytes.fromhex(salt_hex), n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024
    ).hex()


async def _view(uow: UnitOfWork, card: QrCard) -> CardView:
    row = (
        await uow.session.execute(
            select(Client.first_name, Organizer.help_phone, Organizer.name)
            .join(Wallet, Wallet.client_id == Client.id)
            .join(Organizer, Organizer.id == Client.organizer_id)
            .where(Wallet.id == card.wallet_id)
        )
    ).one()
    return CardView(
        card.id,
        card.card_number,
        card.wallet_id,
        card.status,
        card.pin_hash is not None,
        card.failed_attempts,
        row[0],
        row[1],
        row[2],
    )


async def issue_card(
    db: Database,
    *,
    actor_id: uuid.UUID,
    organizer_id: uuid.UUID,
    wallet_id: uuid.UUID,
    pin: str | None = None,
) -> CardView:
    """Issue a new card for a wallet (a case manager); earlier active cards are revoked, so a
    reissue makes a lost card useless at once."""
    if pin is not None:
        _check_pin(pin)
    now = utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        wallet = await s.get(Wallet, wallet_id)
        if wallet is None or wallet.organizer_id != organizer_id:
            raise NotFound("No such wallet")
        closed = await s.scalar(select(Client.closed_at).where(Client.id == wallet.client_id))
        if closed is not None:  # a closed account pays with nothing (payments.budgets.closing)
            raise ClientClosed()
        await s.execute(
            update(QrCard)
            .execution_options(synchronize_session=False)
            .where(QrCard.wallet_id == wallet_id, QrCard.status != "revoked")
            .values(status="revoked", revoked_at=now)
        )
        salt = secrets.token_hex(16)
        card = QrCard(
            organizer_id=organizer_id,
            wallet_id=wallet_id,
            card_number=CARD_PREFIX + secrets.token_hex(10).upper(),
            status="active",
            pin_salt=salt,
            pin_hash=_scrypt(pin, salt) if pin is not None else None,
            failed_attempts=0,
            issued_by=actor_id,
            created_at=now,
        )
        s.add(card)
        s.add(
            AuditEvent(
                organizer_id=organizer_id,
                actor_id=actor_id,
                action="card.issued",
                subject_client_id=wallet.client_id,
                detail=f"card {card.card_number}",
                created_at=now,
            )
        )
        await s.flush()
        view = await _view(uow, card)
        await uow.commit()
        return view


async def card_wallet(db: Database, card_id: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(organizer, wallet) of a card, for the web layer's guards."""
    async with UnitOfWork(db, readonly=True) as uow:
        row = (
            await uow.session.execute(
                select(QrCard.organizer_id, QrCard.wallet_id).where(QrCard.id == card_id)
            )
        ).first()
    return None if row is None else (row[0], row[1])


async def get_card(db: Database, card_id: uuid.UUID) -> CardView:
    async with UnitOfWork(db, readonly=True) as uow:
        card = await uow.session.get(QrCard, card_id)
        if card is None:
            raise NotFound("No such card")
        return await _view(uow, card)


async def set_pin(db: Database, *, actor_id: uuid.UUID, card_id: uuid.UUID, pin: str) -> CardView:
    """Set or change the PIN (the client, or a case manager with the client); clears the count."""
    _check_pin(pin)
    async with UnitOfWork(db) as uow:
        card = await uow.session.get(QrCard, card_id)
        if card is None:
            raise NotFound("No such card")
        if card.status == "revoked":
            raise Forbidden("This card has been revoked")
        card.pin_salt = secrets.token_hex(16)
        card.pin_hash = _scrypt(pin, card.pin_salt)
        card.failed_attempts = 0
        await _audit_card(uow, card, actor_id, "card.pin_set", utcnow())
        view = await _view(uow, card)
        await uow.commit()
        return view


async def set_status(
    db: Database, *, actor_id: uuid.UUID, card_id: uuid.UUID, action: str
) -> CardView:
    """``unlock`` (clears wrong tries) or ``revoke`` a card. By a case manager; audited."""
    now = utcnow()
    async with UnitOfWork(db) as uow:
        card = await uow.session.get(QrCard, card_id)
        if card is None:
            raise NotFound("No such card")
        if card.status == "revoked":
            raise Forbidden("This card has been revoked; issue a new one")
        if action == "unlock":
            card.status, card.failed_attempts, card.locked_at = "active", 0, None
        elif action == "revoke":
            card.status, card.revoked_at = "revoked", now
        else:
            raise InvalidInput("action is unlock or revoke")
        await _audit_card(uow, card, actor_id, f"card.{action}", now)
        view = await _view(uow, card)
        await uow.commit()
        return view


async def _audit_card(
    uow: UnitOfWork, card: QrCard, actor_id: uuid.UUID, action: str, now: datetime
) -> None:
    """A change to a card, in the audit trail under the client whose wallet it pays from (so
    the client's page of the trail shows it, as it shows the card's issue), and naming the card."""
    client_id = await uow.session.scalar(
        select(Wallet.client_id).where(Wallet.id == card.wallet_id)
    )
    uow.session.add(
        AuditEvent(
            organizer_id=card.organizer_id,
            actor_id=actor_id,
            action=action,
            subject_client_id=client_id,
            detail=f"card {card.card_number}",
            created_at=now,
        )
    )


async def verify_card(
    db: Database,
    *,
    organizer_id: uuid.UUID,
    provider_id: uuid.UUID,
    card_number: str,
    pin: str,
    now: datetime | None = None,
) -> uuid.UUID:
    """The wallet behind a card and its PIN, in a transaction of its own.

    A wrong PIN is counted with a conditional UPDATE (so concurrent guesses each count, and a
    fifth locks the card); a right one clears the count. Raises ``card-invalid`` (with
    ``attempts_left``) or ``card-locked``.
    """
    if not isinstance(pin, str) or not pin.isdigit() or not 4 <= len(pin) <= 6:
        raise CardInvalid()
    now = now or utcnow()
    async with UnitOfWork(db) as uow:
        s = uow.session
        # Only an approved provider of this organizer may try a PIN: anyone else could guess
        # PINs or lock a client's card with five wrong ones.
        provider = await s.get(Provider, provider_id)
        if (
            provider is None
            or provider.organizer_id != organizer_id
            or provider.status != "approved"
        ):
            raise ProviderNotApproved("The provider is not approved to charge")
        card = (
            await s.execute(
                select(QrCard).where(
                    QrCard.card_number == card_number.strip().upper(),
                    QrCard.organizer_id == organizer_id,
                )
            )
        ).scalar_one_or_none()
        if (
            card is None
            or card.status == "revoked"
            or card.pin_hash is None
            or card.pin_salt is None
        ):
            raise CardInvalid()
        if card.status == "locked":
            raise CardLocked()
        ok = hmac.compare_digest(_scrypt(pin, card.pin_salt), card.pin_hash)
        if ok:
            result = await s.execute(
                update(QrCard)
                .execution_options(synchronize_session=False)
                .where(QrCard.id == card.id, QrCard.status == "active")
                .values(failed_attempts=0)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                raise CardLocked()  # locked by a concurrent wrong guess
            await uow.commit()
            return card.wallet_id
        failures = QrCard.failed_attempts + 1
        row = (
            await s.execute(
                update(QrCard)
                .execution_options(synchronize_session=False)
                .where(QrCard.id == card.id, QrCard.status == "active")
                .values(
                    failed_attempts=failures,
                    status=case((failures >= MAX_PIN_FAILURES, "locked"), else_="active"),
                    locked_at=case((failures >= MAX_PIN_FAILURES, now), else_=None),
                )
                .returning(QrCard.failed_attempts, QrCard.status)
            )
        ).first()
        await uow.commit()
    if row is None or row[1] == "locked":
        raise CardLocked()
    raise CardInvalid(attempts_left=MAX_PIN_FAILURES - int(row[0]))
