"""Closing a client's account (issue 19): when the client's budget decisions have ended.

A case manager closes the account in one transaction:

* the money left in the client's envelopes goes to the organizer's expired account, one
  ``expiry`` transfer per envelope (the month-end expiry's kind, so the statements, reports and
  ``wallet check`` read it as they read a month's remainder), and every envelope's month is
  marked expired, so a later refund of one of the client's charges goes to the organizer's
  budget (``refund_closed``) instead of an account nobody can spend;
* every way to act as the client or be told about the wallet ends: passkeys, sessions, API keys
  and push subscriptions (the lost-phone revocation of :mod:`payments.people.invites`), open
  invites, and the client's principal is marked removed, so it cannot sign in again;
* mandates end, both carers' mandates over the client and requests waiting for an answer;
  trusted providers are taken off the list, QR cards revoked, unused payment codes deleted, and
  the wallet's SMS numbers turned off (with their texts and reply codes, as
  ``notifications.sms.turn_off`` does; its tables are named here by ``table()``, since
  ``payments`` may not import ``notifications``);
* ``clients.closed_at`` is set: no checkout finds the client any more
  (:func:`payments.checkout.charges._find_wallet`), and no decision, mandate or card can be
  added (``client-closed``);
* ``client.closed`` in the outbox, ``client.closed`` in the audit trail.

Refused, with nothing written: ``decision-in-force`` while a decision has not ended (no end
date, or one today or later), ``payments-open`` while a visit's hold or a payment request is
open, ``client-closed`` when it already is; another organizer's client is ``not-found``. A
retry with the same ``Idempotency-Key`` replays the first answer and moves nothing.

After ``WALLET_RETENTION_CLOSED_CLIENTS_YEARS`` the retention prune replaces the client's
personal fields with a pseudonym (:mod:`payments.people.retention`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Uuid, column, delete, exists, or_, select, table, update

from payments import idempotency
from payments.clock import utcnow
from payments.db import Database
from payments.errors import ClientClosed, DecisionInForce, NotFound, PaymentsOpen
from payments.ledger import transfers
from payments.ledger.periods import HELSINKI
from payments.models import (
    Account,
    Client,
    Decision,
    Hold,
    Invite,
    Mandate,
    PaymentRequest,
    PaymentToken,
    Principal,
    QrCard,
    TrustedProvider,
    Wallet,
)
from payments.outbox import CLIENT_CLOSED, emit
from payments.people import audit
from payments.people.access import forget_api_keys
from payments.people.invites import _revoke_credentials
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind, HoldStatus, RequestStatus, TransferKind


def _count(result: Any) -> int:
    return int(result.rowcount)


# notifications' SMS tables, by the columns the deletes need (tests/payments/test_closing.py
# checks them against notifications.models).
SMS_OPTINS = table("sms_optins", column("id", Uuid()), column("wallet_id", Uuid()))
SMS_MESSAGES = table("sms_messages", column("optin_id", Uuid()))
SMS_REPLY_CODES = table("sms_reply_codes", column("optin_id", Uuid()))


async def close_client(
    db: Database,
    *,
    case_manager_id: uuid.UUID | None,
    organizer_id: uuid.UUID | None,
    client_id: uuid.UUID,
    idempotency_key: str,
    request_hash: str,
    now: datetime | None = None,
) -> Outcome:
    """Close a client's account (see the module doc). ``DONE`` with what ended and how much
    money went to the organizer. ``case_manager_id`` and ``organizer_id`` None: the command
    line, for a client of any organizer."""
    now = now or utcnow()
    today = now.astimezone(HELSINKI).date()
    scope = f"client-close:{case_manager_id or 'cli'}"
    revoked_keys: tuple[str, ...] = ()
    async with UnitOfWork(db) as uow:
        s = uow.session
        replay = await idempotency.claim(
            s, scope=scope, key=idempotency_key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return replay
        client = (
            await s.execute(select(Client).where(Client.id == client_id).with_for_update())
        ).scalar_one_or_none()
        if client is None or organizer_id not in (None, client.organizer_id):
            raise NotFound("No such client")
        organizer_id = client.organizer_id
        if client.closed_at is not None:
            raise ClientClosed()
        in_force = await s.scalar(
            select(
                exists().where(
                    Decision.client_id == client_id,
                    or_(Decision.valid_to.is_(None), Decision.valid_to >= today),
                )
            )
        )
        if in_force:
            raise DecisionInForce()
        wallet_id = (
            await s.execute(select(Wallet.id).where(Wallet.client_id == client_id))
        ).scalar_one()
        open_payments = await s.scalar(
            select(
                or_(
                    exists().where(Hold.wallet_id == wallet_id, Hold.status == HoldStatus.HELD),
                    exists().where(
                        PaymentRequest.wallet_id == wallet_id,
                        PaymentRequest.status == RequestStatus.PENDING,
                    ),
                )
            )
        )
        if open_payments:
            raise PaymentsOpen()

        # The money: every envelope's remainder to the organizer, envelopes locked in id order
        # (the lock order of every money path).
        envelopes = (
            await s.execute(
                select(Account.id, Account.balance_cents)
                .where(Account.wallet_id == wallet_id, Account.kind == AccountKind.ENVELOPE)
                .order_by(Account.id)
                .with_for_update()
            )
        ).all()
        expired_to = await transfers.organizer_account(s, organizer_id, AccountKind.EXPIRED)
        expired_cents = 0
        for account_id, balance in envelopes:
            if balance:
                await transfers.move(
                    s,
                    transfers.Envelope(int(account_id)),
                    transfers.Leg(
                        expired_to,
                        int(balance),
                        TransferKind.EXPIRY,
                        dedupe_key=f"close:{account_id}",
                    ),
                    organizer_id=organizer_id,
                    period=None,
                    now=now,
                )
                expired_cents += int(balance)
        await s.execute(
            update(Account)
            .where(
                Account.wallet_id == wallet_id,
                Account.kind == AccountKind.ENVELOPE,
                Account.funded_period.is_not(None),
            )
            .values(expired_period=Account.funded_period)
        )

        # Everyone who acts as the client, and everything that let them.
        people = list(
            (await s.execute(select(Principal.id).where(Principal.client_id == client_id)))
            .scalars()
            .all()
        )
        passkeys = sessions = push = 0
        for principal_id in people:
            revoked = await _revoke_credentials(uow, principal_id)
            passkeys += revoked.passkeys
            sessions += revoked.sessions
            push += revoked.push_subscriptions
            revoked_keys += revoked.api_key_prefixes
        if people:
            await s.execute(
                update(Invite)
                .where(
                    Invite.principal_id.in_(people),
                    Invite.used_at.is_(None),
                    Invite.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            await s.execute(
                update(Principal)
                .where(Principal.id.in_(people), Principal.removed_at.is_(None))
                .values(removed_at=now)
            )
        mandates = await s.execute(
            update(Mandate)
            .where(
                or_(Mandate.client_id == client_id, Mandate.carer_id.in_(people)),
                Mandate.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        trusted = await s.execute(
            delete(TrustedProvider).where(TrustedProvider.wallet_id == wallet_id)
        )
        cards = await s.execute(
            update(QrCard)
            .where(QrCard.wallet_id == wallet_id, QrCard.status != "revoked")
            .values(status="revoked", revoked_at=now)
        )
        await s.execute(
            delete(PaymentToken).where(
                PaymentToken.wallet_id == wallet_id, PaymentToken.used_at.is_(None)
            )
        )
        numbers = select(SMS_OPTINS.c.id).where(SMS_OPTINS.c.wallet_id == wallet_id)
        for owned in (SMS_REPLY_CODES, SMS_MESSAGES):
            await s.execute(delete(owned).where(owned.c.optin_id.in_(numbers)))
        texts = await s.execute(delete(SMS_OPTINS).where(SMS_OPTINS.c.wallet_id == wallet_id))
        client.closed_at = now

        body: dict[str, Any] = {
            "client_id": str(client_id),
            "wallet_id": str(wallet_id),
            "closed_at": now.isoformat(),
            "expired_cents": expired_cents,
            "passkeys": passkeys,
            "sessions": sessions,
            "api_keys": len(revoked_keys),
            "push_subscriptions": push,
            "mandates": _count(mandates),
            "trusted_providers": _count(trusted),
            "cards": _count(cards),
            "sms_numbers": _count(texts),
        }
        await emit(
            s,
            type=CLIENT_CLOSED,
            organizer_id=organizer_id,
            wallet_id=wallet_id,
            now=now,
            payload={"client_id": str(client_id), "expired_cents": expired_cents},
        )
        audit.add(
            s,
            "client.closed",
            actor_id=case_manager_id,
            organizer_id=organizer_id,
            subject_client_id=client_id,
            detail=(
                f"{expired_cents} cents to the organizer; ended {passkeys} passkey(s), "
                f"{sessions} session(s), {len(revoked_keys)} API key(s), {push} push "
                f"subscription(s), {body['mandates']} mandate(s), "
                f"{body['trusted_providers']} trusted provider(s), {body['cards']} card(s), "
                f"{body['sms_numbers']} SMS number(s)"
            ),
        )
        outcome = Outcome(Happened.DONE, body)
        await idempotency.store_result(s, scope=scope, key=idempotency_key, outcome=outcome)
        await uow.commit()
    forget_api_keys(db, revoked_keys)
    return outcome
