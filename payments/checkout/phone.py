"""Phone-number checkout and provider-presented QR requests (issue 4).

By phone number, a trusted provider within its caps (:mod:`payments.checkout.trust`)
captures at once; anyone else creates a payment request whose money is held right away
(:mod:`payments.checkout.requests` approves, declines and expires it). An unknown number and
a client without budget for the service get the same ``not-in-budget``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from payments import idempotency
from payments.checkout.charges import (
    ChargeLineInput,
    Customer,
    Listed,
    Priced,
    Pricing,
    _find_wallet,
    charge_envelopes,
    per_envelope,
    validate_lines,
    write_charge,
)
from payments.checkout.holds import place_hold
from payments.checkout.requests import DEFAULT_REQUEST_TTL, REQUEST_CREATED, request_view
from payments.checkout.trust import use_trust
from payments.clock import utcnow
from payments.db import Database
from payments.errors import (
    ProviderNotApproved,
)
from payments.models import AuditEvent, PaymentRequest, Provider
from payments.outbox import emit
from payments.results import Happened, Outcome
from payments.uow import UnitOfWork
from payments.vocabulary import RequestStatus


def _stored_lines(priced: list[Priced] | list[Listed]) -> list[dict[str, Any]]:
    """A request's lines as stored: ``amount_cents`` is the wallet's part and
    ``client_share_cents`` the client's own share (for a request not yet bound to a wallet,
    the full price and 0 until someone approves it)."""
    return [
        {
            "category": p.category,
            "category_id": str(p.category_id),
            "quantity": p.quantity,
            "unit_price_cents": p.unit_price_cents,
            "amount_cents": p.amount_cents if isinstance(p, Priced) else p.full_cents,
            "client_share_cents": p.client_share_cents if isinstance(p, Priced) else 0,
        }
        for p in priced
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
    """Charge by phone number: captured at once (``CREATED``) for a trusted provider within
    its caps, otherwise a payment request with the money held (``PENDING_APPROVAL``).

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
            return replay
        provider = await _approved_provider(s, provider_id)
        pricing = await Pricing.check(s, provider, lines, now)
        wallet = await _find_wallet(s, provider.organizer_id, Customer(phone_e164=phone_e164))
        priced = await pricing.for_wallet(s, wallet, now)
        total = sum(p.amount_cents for p in priced)

        # Counted toward the trusted provider's month in the same UPDATE that checks its caps;
        # a request counts only when it is approved (payments.checkout.requests).
        counted = await use_trust(s, wallet.id, provider_id, total, now)
        if counted is not None:
            charge_id = uuid.uuid4()
            debited = await charge_envelopes(
                s,
                provider=provider,
                charge_id=charge_id,
                per_envelope=per_envelope(priced),
                now=now,
            )
            items = [p.item(debited[p.envelope_id][1]) for p in priced]
            charge = await write_charge(
                s,
                charge_id=charge_id,
                provider=provider,
                wallet_id=wallet.id,
                items=items,
                now=now,
                balances={k: v[0] for k, v in debited.items()},
                trust_period=counted,
            )
            what = Happened.CREATED
            body = {"outcome": "captured", "charge": charge, "request": None}
        else:
            hold = await place_hold(
                s,
                provider=provider,
                wallet_id=wallet.id,
                priced=priced,
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
                status=RequestStatus.PENDING,
                total_cents=total,
                lines=_stored_lines(priced),
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
            what = Happened.PENDING_APPROVAL
            body = {"outcome": "pending", "charge": None, "request": view}
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
        outcome = Outcome(what, body)
        await idempotency.store_result(s, scope=scope, key=idempotency_key, outcome=outcome)
        await uow.commit()
        return outcome


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

    Nothing is held: no wallet is known until someone approves. Its lines carry the full price
    until then; a voucher line's own share is worked out at approval, against the approver's
    decision (:func:`payments.requests.approve_request`).
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
            return replay
        provider = await _approved_provider(s, provider_id)
        listed = (await Pricing.check(s, provider, lines, now)).listed
        req = PaymentRequest(
            id=uuid.uuid4(),
            organizer_id=provider.organizer_id,
            provider_id=provider_id,
            status=RequestStatus.PENDING,
            total_cents=sum(x.full_cents for x in listed),
            lines=_stored_lines(listed),
            expires_at=now + request_ttl,
            created_at=now,
        )
        s.add(req)
        await s.flush()
        body = request_view(req, provider.name)
        outcome = Outcome(Happened.CREATED, body)
        await idempotency.store_result(s, scope=scope, key=idempotency_key, outcome=outcome)
        await uow.commit()
        return outcome
