"""Phone-number checkout and provider-presented QR requests (issue 4).

By phone number, a trusted provider within its caps (:mod:`payments.trust`) captures at once;
anyone else creates a payment request whose money is held right away
(:mod:`payments.requests` approves, declines and expires it). An unknown number and a client
without budget for the service get the same ``not-in-budget``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payments import idempotency
from payments.charges import (
    ChargeLineInput,
    Customer,
    Item,
    Outcome,
    _check_prices,
    _envelopes_for,
    _find_wallet,
    debit_envelopes,
    validate_lines,
    write_charge,
)
from payments.checkout_models import PaymentRequest
from payments.db import Database
from payments.errors import (
    ProviderNotApproved,
)
from payments.holds import (
    place_hold,
    utcnow,
)
from payments.models import AuditEvent, Provider, ServiceCategory
from payments.outbox import emit
from payments.requests import DEFAULT_REQUEST_TTL, REQUEST_CREATED, request_view
from payments.trust import use_trust
from payments.uow import UnitOfWork


def _stored_lines(
    lines: list[ChargeLineInput], priced: list[tuple[ServiceCategory, int]]
) -> list[dict[str, Any]]:
    return [
        {
            "category": cat.code,
            "category_id": str(cat.id),
            "quantity": str(lines[i].quantity),
            "unit_price_cents": lines[i].unit_price_cents,
            "amount_cents": amount,
        }
        for i, (cat, amount) in enumerate(priced)
    ]


async def _approved_provider(s: AsyncSession, provider_id: uuid.UUID) -> Provider:
    provider = await s.get(Provider, provider_id)
    if provider is None or provider.status != "approved":
        raise ProviderNotApproved("The provider is not approved to charge")
    return provider


async def phone_checkout(
    db: Database,
    *,
    provider_id: uuid.UUID,
    phone_e164: str,
    lines: list[ChargeLineInput],
    idempotency_key: str,
    request_hash: str,
    request_ttl: timedelta = DEFAULT_REQUEST_TTL,
    now: datetime | None = None,
) -> Outcome:
    """Charge by phone number: captured at once (201) for a trusted provider within its caps,
    otherwise a payment request with the money held (202).

    An unknown number and a client without budget for the service get the same
    ``not-in-budget``. Audited (in the same transaction) when it reaches a client.
    """
    validate_lines(lines)
    now = utcnow(now)
    scope = f"checkout:{provider_id}"
    async with UnitOfWork(db) as uow:
        s = uow.session
        replay = await idempotency.claim(
            s, scope=scope, key=idempotency_key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return Outcome(replay.status_code, replay.body, replayed=True)
        provider = await _approved_provider(s, provider_id)
        priced = await _check_prices(s, provider, lines)
        wallet = await _find_wallet(s, provider.organizer_id, Customer(phone_e164=phone_e164))
        envelopes = await _envelopes_for(s, wallet, {cat.id for cat, _ in priced}, now)
        total = sum(amount for _, amount in priced)

        if await use_trust(s, wallet.id, provider_id, total, now):
            per_envelope: dict[int, int] = defaultdict(int)
            for cat, amount in priced:
                per_envelope[envelopes[cat.id]] += amount
            debited = await debit_envelopes(s, per_envelope)
            items = [
                Item(
                    cat.id,
                    cat.code,
                    str(lines[i].quantity),
                    lines[i].unit_price_cents,
                    amount,
                    envelopes[cat.id],
                    envelopes[cat.id],
                    debited[envelopes[cat.id]][1],
                )
                for i, (cat, amount) in enumerate(priced)
            ]
            charge = await write_charge(
                s,
                provider=provider,
                wallet_id=wallet.id,
                items=items,
                now=now,
                balances={k: v[0] for k, v in debited.items()},
            )
            status, body = 201, {"outcome": "captured", "charge": charge, "request": None}
        else:
            hold = await place_hold(
                s,
                provider=provider,
                wallet_id=wallet.id,
                lines=lines,
                priced=priced,
                envelopes=envelopes,
                purpose="request",
                expires_at=now + request_ttl,
                now=now,
            )
            req = PaymentRequest(
                id=uuid.uuid4(),
                organizer_id=provider.organizer_id,
                provider_id=provider_id,
                wallet_id=wallet.id,
                hold_id=hold.id,
                status="pending",
                total_cents=total,
                lines=_stored_lines(lines, priced),
                expires_at=now + request_ttl,
                created_at=now,
            )
            s.add(req)
            await s.flush()
            view = request_view(req, provider.name)
            await emit(
                s,
                type=REQUEST_CREATED,
                organizer_id=provider.organizer_id,
                wallet_id=wallet.id,
                provider_id=provider_id,
                now=now,
                payload=view,
            )
            status, body = 202, {"outcome": "pending", "charge": None, "request": view}
        s.add(
            AuditEvent(
                organizer_id=provider.organizer_id,
                actor_id=None,
                action="checkout.phone",
                subject_client_id=wallet.client_id,
                detail=f"provider {provider_id}: {body['outcome']} {total}",
                created_at=now,
            )
        )
        await idempotency.store_result(
            s, scope=scope, key=idempotency_key, status_code=status, body=body
        )
        await uow.commit()
        return Outcome(status, body)


async def create_qr_request(
    db: Database,
    *,
    provider_id: uuid.UUID,
    lines: list[ChargeLineInput],
    idempotency_key: str,
    request_hash: str,
    request_ttl: timedelta = DEFAULT_REQUEST_TTL,
    now: datetime | None = None,
) -> Outcome:
    """A payment request the provider shows as a QR; the client who scans and approves it pays.

    Nothing is held: no wallet is known until someone approves.
    """
    validate_lines(lines)
    now = utcnow(now)
    scope = f"qr-request:{provider_id}"
    async with UnitOfWork(db) as uow:
        s = uow.session
        replay = await idempotency.claim(
            s, scope=scope, key=idempotency_key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return Outcome(replay.status_code, replay.body, replayed=True)
        provider = await _approved_provider(s, provider_id)
        priced = await _check_prices(s, provider, lines)
        req = PaymentRequest(
            id=uuid.uuid4(),
            organizer_id=provider.organizer_id,
            provider_id=provider_id,
            status="pending",
            total_cents=sum(amount for _, amount in priced),
            lines=_stored_lines(lines, priced),
            expires_at=now + request_ttl,
            created_at=now,
        )
        s.add(req)
        await s.flush()
        body = request_view(req, provider.name)
        await idempotency.store_result(
            s, scope=scope, key=idempotency_key, status_code=201, body=body
        )
        await uow.commit()
        return Outcome(201, body)
