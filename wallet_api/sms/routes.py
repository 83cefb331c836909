"""SMS routes (issue 20): a case manager turns SMS on for a client's number (or a carer's) in
the client file, the number is confirmed with the code it received, and the gateway's inbound
webhook takes replies (approve or decline a payment request, ``SALDO``).

The inbound webhook is public to the app's authentication (the gateway has no API key) and
excluded from its middleware; it is authenticated by the shared secret as an HTTP Basic
password (``WALLET_SMS_INBOUND_SECRET``, compared in constant time). A call without it is
audited and answered 401; anything else is answered 200 (nothing for the gateway to retry),
whatever the reply came to (``notifications.sms.handle_inbound`` audits and answers it).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.status_codes import HTTP_201_CREATED

from notifications import sms
from notifications.models import SMS_EVENTS
from notifications.sms_gateway import basic_password_matches
from payments.db import Database
from payments.errors import NotFound
from payments.people.access import Actor
from wallet_api.auth import ensure_wallet_visible, roles
from wallet_api.edge import client_address
from wallet_api.live.lifecycle import sms_config_of
from wallet_api.settings import Settings
from wallet_api.sms import schemas

INBOUND_PATH = "/api/sms/inbound"


def _config(request: Request[Any, Any, Any]) -> sms.SmsConfig | None:
    settings: Settings = request.app.state.settings
    return sms_config_of(settings)


def _out(o: sms.OptIn) -> schemas.SmsOptIn:
    return msgspec.convert(o, schemas.SmsOptIn, from_attributes=True)


async def _optin_wallet(db: Database, actor: Actor, optin_id: uuid.UUID) -> uuid.UUID:
    """The opt-in's wallet, once the actor may see it (the client, a carer with ``view``, a
    case manager of its organizer)."""
    wallet_id = await sms.optin_wallet(db, optin_id)
    if wallet_id is None:
        raise NotFound("No such SMS number")
    await ensure_wallet_visible(db, actor, wallet_id)
    return wallet_id


@get(
    "/api/wallets/{wallet_id:uuid}/sms",
    guards=[roles("client", "carer", "case_manager")],
    tags=["sms"],
)
async def list_optins(
    request: Request[Any, Any, Any], wallet_id: uuid.UUID, db: Database, actor: Actor
) -> schemas.SmsOptIns:
    """The numbers that receive this wallet's texts, confirmed or waiting for their code."""
    await ensure_wallet_visible(db, actor, wallet_id)
    found = await sms.optins_of_wallet(db, wallet_id)
    return schemas.SmsOptIns(
        items=[_out(o) for o in found],
        events=list(SMS_EVENTS),
        available=_config(request) is not None,
    )


@post(
    "/api/wallets/{wallet_id:uuid}/sms",
    guards=[roles("case_manager")],
    tags=["sms"],
    status_code=HTTP_201_CREATED,
)
async def turn_on(
    request: Request[Any, Any, Any],
    wallet_id: uuid.UUID,
    data: schemas.SmsOptInCreate,
    db: Database,
    actor: Actor,
) -> schemas.SmsOptIn:
    """Turn SMS on for the client's number (or a carer's, ``carer_id``): a confirmation code
    is texted to it at once, and nothing else is sent until it is confirmed. Audited."""
    await ensure_wallet_visible(db, actor, wallet_id)
    made = await sms.turn_on(
        db,
        _config(request),
        organizer_id=actor.organizer_id,
        wallet_id=wallet_id,
        actor_id=actor.principal_id,
        phone=data.phone,
        language=data.language,
        events=data.events,
        carer_id=data.carer_id,
    )
    return _out(made)


@post(
    "/api/sms/optins/{optin_id:uuid}/confirm",
    guards=[roles("client", "carer", "case_manager")],
    tags=["sms"],
    status_code=200,
)
async def confirm(
    optin_id: uuid.UUID,
    data: schemas.SmsConfirmCreate,
    db: Database,
    actor: Actor,
) -> schemas.SmsOptIn:
    """Confirm the number with the code it received (``sms-code-wrong``; five tries within 15
    minutes). By the case manager the client tells it to, or the client in the app."""
    await _optin_wallet(db, actor, optin_id)
    return _out(
        await sms.confirm(db, optin_id=optin_id, code=data.code, actor_id=actor.principal_id)
    )


@post(
    "/api/sms/optins/{optin_id:uuid}/code",
    guards=[roles("case_manager")],
    tags=["sms"],
    status_code=200,
)
async def resend_code(
    request: Request[Any, Any, Any], optin_id: uuid.UUID, db: Database, actor: Actor
) -> schemas.SmsOptIn:
    """Text a new confirmation code (the earlier one stops working)."""
    await _optin_wallet(db, actor, optin_id)
    return _out(
        await sms.resend_code(db, _config(request), optin_id=optin_id, actor_id=actor.principal_id)
    )


@delete("/api/sms/optins/{optin_id:uuid}", guards=[roles("case_manager")], tags=["sms"])
async def turn_off(optin_id: uuid.UUID, db: Database, actor: Actor) -> None:
    """Stop texting this number. Audited."""
    await _optin_wallet(db, actor, optin_id)
    await sms.turn_off(db, optin_id=optin_id, actor_id=actor.principal_id)


@post(
    INBOUND_PATH,
    tags=["sms"],
    status_code=200,
    opt={"public": True, "per_address_limit": None},
    include_in_schema=False,
)
async def inbound(request: Request[Any, Any, Any], db: Database) -> Response[str]:
    """The gateway's webhook for texts people send us (46elks: a form POST)."""
    config = _config(request)
    if config is None:
        return Response("SMS is not set up", status_code=404, media_type="text/plain")
    if not basic_password_matches(request.headers.get("authorization"), config.inbound_secret):
        await sms.record_forged(db, address=client_address(request))
        return Response(
            "Unauthorized",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Basic realm="sms"'},
        )
    raw = (await request.body()).decode("utf-8", errors="replace")
    found = config.gateway.inbound(dict(parse_qsl(raw, keep_blank_values=True)))
    if found is None:
        return Response("ignored", status_code=200, media_type="text/plain")
    done = await sms.handle_inbound(db, config, phone=found.phone, text=found.text[:400])
    # An empty body: 46elks would send a non-empty one back to the person as a reply, and
    # answers go through the outbox-like queue instead (retried, counted in the cap).
    return Response(
        "", status_code=200, media_type="text/plain", headers={"X-Sms-Result": done.result}
    )


ROUTES = [list_optins, turn_on, confirm, resend_code, turn_off, inbound]
