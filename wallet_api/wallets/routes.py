"""Wallets: balances per envelope and the history of movements."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import Parameter

from payments.checkout import requests
from payments.db import Database
from payments.errors import NotFound
from payments.marketplace import directory
from payments.people.access import Actor
from payments.reporting import wallet_views
from wallet_api.auth import read_wallet, roles
from wallet_api.problems import language_of
from wallet_api.types import MONTH, whole
from wallet_api.wallets import schemas

READERS = roles("client", "carer", "case_manager")


class WalletController(Controller):
    path = "/api/wallets"
    tags = ["wallets"]

    @get("/{wallet_id:uuid}", guards=[READERS])
    async def get_wallet(self, wallet_id: uuid.UUID, db: Database, actor: Actor) -> schemas.Wallet:
        """The wallet's envelopes: balance, this month's allotment, spent, and expiry."""
        await read_wallet(db, actor, wallet_id, "wallet.viewed")
        return msgspec.convert(await wallet_views.wallet_view(db, wallet_id), schemas.Wallet)

    @get("/{wallet_id:uuid}/transactions", guards=[READERS])
    async def list_transactions(
        self,
        wallet_id: uuid.UUID,
        db: Database,
        actor: Actor,
        request: Request[Any, Any, Any],
        cursor: Annotated[str | None, Parameter(max_length=200)] = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
        kind: Annotated[
            str | None,
            Parameter(pattern=whole("funding|charge|refund|expiry"), description="Filter by kind"),
        ] = None,
        period: Annotated[str | None, Parameter(pattern=MONTH, description="YYYY-MM")] = None,
    ) -> schemas.TransactionPage:
        """Movements of the wallet's envelopes, newest first, with a cursor for the next page.
        Each names its provider and services (names in the reader's language) and, for money
        held for a payment request or a visit, what became of the hold."""
        await read_wallet(db, actor, wallet_id, "transactions.viewed")
        page = await wallet_views.wallet_history(
            db,
            wallet_id,
            cursor=cursor,
            limit=limit,
            kind=kind,
            period=period,
            lang=language_of(request),
        )
        return msgspec.convert(page, schemas.TransactionPage)


class FirstWalletController(Controller):
    tags = ["wallets"]

    @get("/api/me/wallet", guards=[roles("client", "carer")])
    async def first_wallet(
        self, db: Database, actor: Actor, request: Request[Any, Any, Any]
    ) -> schemas.FirstWallet:
        """The wallet a client's (or a carer's) balances open on: the first of ``/api/me``'s
        wallets, with its latest 100 movements and the payment requests waiting for it. The
        same answers and the same rules as its three routes by id, in one request that needs
        no id, so a device that has seen no one asks for it beside ``/api/me`` (pwa/README.md,
        "A fast start")."""
        mine = await directory.wallets_for(db, actor)
        if not mine:
            raise NotFound("No wallet")
        wallet_id = mine[0]
        await read_wallet(db, actor, wallet_id, "wallet.viewed", "transactions.viewed")
        wallet = await wallet_views.wallet_view(db, wallet_id)
        page = await wallet_views.wallet_history(
            db, wallet_id, cursor=None, limit=100, kind=None, period=None, lang=language_of(request)
        )
        pending = await requests.pending_for_wallet(db, wallet_id)
        return msgspec.convert(
            {"wallet": wallet, "transactions": page, "payment_requests": pending},
            schemas.FirstWallet,
        )


ROUTES = [WalletController, FirstWalletController]
