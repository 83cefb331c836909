"""Trusted providers ("my providers" and their caps) and QR cards with a PIN (issue 4)."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Controller, delete, get, post, put

from payments.checkout import cards, trust
from payments.db import Database
from payments.errors import Forbidden, NotFound
from payments.people.access import Actor
from payments.people.mandates import mandate_scopes
from wallet_api.auth import roles, wallet_in_organizer
from wallet_api.checkout import render
from wallet_api.checkout import schemas as cs
from wallet_api.edge import inline_style_policy


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound("Not found") from exc


async def ensure_may_act(
    db: Database, actor: Actor, wallet_id: uuid.UUID, scope: str, *, case_manager: bool
) -> None:
    """The client themself, a carer holding ``scope`` over the wallet, or (if allowed) a case
    manager of its organizer. Anyone else of the organizer is told the wallet is not theirs;
    anyone of another organizer, that there is no such wallet."""
    _organizer_id, client_id = await wallet_in_organizer(db, actor, wallet_id)
    if actor.role == "client" and actor.client_id == client_id:
        return
    if case_manager and actor.role == "case_manager":
        return
    if actor.role == "carer" and scope in await mandate_scopes(db, actor.principal_id, wallet_id):
        return
    raise Forbidden("You may not do this for this wallet")


class TrustedProviderController(Controller):
    path = "/api/wallets/{wallet_id:uuid}/trusted-providers"
    tags = ["checkout"]

    @get("/", guards=[roles("client", "carer", "case_manager")])
    async def trusted(
        self, wallet_id: uuid.UUID, db: Database, actor: Actor
    ) -> list[cs.TrustedProvider]:
        """The client's trusted providers and their caps."""
        await ensure_may_act(db, actor, wallet_id, "view", case_manager=True)
        return msgspec.convert(
            await trust.list_trusted(db, wallet_id), list[cs.TrustedProvider], from_attributes=True
        )

    @put("/{provider_id:str}", guards=[roles("client", "carer", "case_manager")])
    async def set_trusted(
        self,
        wallet_id: uuid.UUID,
        provider_id: str,
        data: cs.TrustedProviderUpdate,
        db: Database,
        actor: Actor,
    ) -> cs.TrustedProvider:
        """Trust a provider up to caps: by the client, a carer with ``manage-providers``, or a
        case manager."""
        await ensure_may_act(db, actor, wallet_id, "manage-providers", case_manager=True)
        row = await trust.set_trusted(
            db,
            actor_id=actor.principal_id,
            wallet_id=wallet_id,
            provider_id=_id(provider_id),
            per_charge_cap_cents=data.per_charge_cap_cents,
            monthly_cap_cents=data.monthly_cap_cents,
        )
        return msgspec.convert(row, cs.TrustedProvider, from_attributes=True)

    @delete(
        "/{provider_id:str}",
        guards=[roles("client", "carer", "case_manager")],
        status_code=204,
    )
    async def remove_trusted(
        self, wallet_id: uuid.UUID, provider_id: str, db: Database, actor: Actor
    ) -> None:
        """Stop trusting a provider; its next charge asks again."""
        await ensure_may_act(db, actor, wallet_id, "manage-providers", case_manager=True)
        await trust.remove_trusted(
            db, actor_id=actor.principal_id, wallet_id=wallet_id, provider_id=_id(provider_id)
        )


class WalletCardController(Controller):
    path = "/api/wallets/{wallet_id:uuid}/cards"
    tags = ["checkout"]

    @post("/", guards=[roles("case_manager")], status_code=201)
    async def issue_card(
        self,
        wallet_id: uuid.UUID,
        data: cs.CardCreate,
        db: Database,
        actor: Actor,
    ) -> cs.Card:
        """Issue a QR card (earlier cards of the wallet are revoked)."""
        await ensure_may_act(db, actor, wallet_id, "-", case_manager=True)
        view = await cards.issue_card(
            db,
            actor_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            wallet_id=wallet_id,
            pin=data.pin,
        )
        return msgspec.convert(view, cs.Card, from_attributes=True)


async def _card_for(db: Database, actor: Actor, card_id: str, *, client_too: bool) -> uuid.UUID:
    cid = _id(card_id)
    found = await cards.card_wallet(db, cid)
    if found is None or found[0] != actor.organizer_id:
        raise NotFound("No such card")
    if actor.role == "case_manager" or client_too:
        await ensure_may_act(db, actor, found[1], "-", case_manager=True)
        return cid
    raise Forbidden("Only a case manager may do this")


class CardController(Controller):
    path = "/api/cards"
    tags = ["checkout"]

    @get("/{card_id:str}", guards=[roles("case_manager", "client")])
    async def get_card(self, card_id: str, db: Database, actor: Actor) -> cs.Card:
        cid = await _card_for(db, actor, card_id, client_too=True)
        return msgspec.convert(await cards.get_card(db, cid), cs.Card, from_attributes=True)

    @get(
        "/{card_id:str}/print",
        guards=[roles("case_manager")],
        media_type="text/html",
        response_headers=inline_style_policy(render.CARD_CSS),
    )
    async def print_card(self, card_id: str, db: Database, actor: Actor) -> str:
        """A print-ready page: the card's QR, the client's first name, the help number."""
        view = await cards.get_card(db, await _card_for(db, actor, card_id, client_too=False))
        return render.card_page(view)

    @post("/{card_id:str}/pin", guards=[roles("case_manager", "client")], status_code=200)
    async def set_pin(
        self,
        card_id: str,
        data: cs.CardPinUpdate,
        db: Database,
        actor: Actor,
    ) -> cs.Card:
        """Set or change the PIN (the client, or a case manager with the client)."""
        cid = await _card_for(db, actor, card_id, client_too=True)
        view = await cards.set_pin(db, actor_id=actor.principal_id, card_id=cid, pin=data.pin)
        return msgspec.convert(view, cs.Card, from_attributes=True)

    @post("/{card_id:str}/unlock", guards=[roles("case_manager")], status_code=200)
    async def unlock(self, card_id: str, db: Database, actor: Actor) -> cs.Card:
        cid = await _card_for(db, actor, card_id, client_too=False)
        view = await cards.set_status(db, actor_id=actor.principal_id, card_id=cid, action="unlock")
        return msgspec.convert(view, cs.Card, from_attributes=True)

    @post("/{card_id:str}/revoke", guards=[roles("case_manager")], status_code=200)
    async def revoke(self, card_id: str, db: Database, actor: Actor) -> cs.Card:
        cid = await _card_for(db, actor, card_id, client_too=False)
        view = await cards.set_status(db, actor_id=actor.principal_id, card_id=cid, action="revoke")
        return msgspec.convert(view, cs.Card, from_attributes=True)
