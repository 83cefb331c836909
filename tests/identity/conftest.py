"""An app at https://wallet.test with a small county, a software authenticator and a clock
(the helpers are in ``helpers.py``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from payments import clock as domain_clock
from payments.budgets import catalogue
from payments.db import Database
from tests.factories import api_key_for
from tests.identity.helpers import ORIGIN, AppFactory, Browser, Clock, County, make_settings
from wallet_api.app import create_app


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(domain_clock, "source", c)
    return c


@pytest.fixture
async def county(db: Database) -> County:
    slug = f"kainuu-{uuid.uuid4().hex[:6]}"
    org = await catalogue.create_organizer(db, slug=slug, name="Kainuu")
    client = await catalogue.create_client(
        db, organizer_id=org, first_name="Aino", last_name="Virtanen", phone="040 123 4567"
    )
    cm = await catalogue.create_principal(
        db, organizer_id=org, role="case_manager", display_name="Liisa Ohjaaja"
    )
    return County(
        organizer_id=org,
        slug=slug,
        client_id=client.client_id,
        wallet_id=client.wallet_id,
        client_principal=client.principal_id,
        case_manager=cm,
        cm_key=await api_key_for(db, cm),
        client_key=await api_key_for(db, client.principal_id),
    )


@pytest.fixture
async def browser_factory(db: Database) -> AsyncIterator[AppFactory]:
    """Open browsers on one app; settings overrides (first call only) configure the app."""
    holder: dict[str, AsyncTestClient[Any]] = {}

    async def open_browser(**over: Any) -> Browser:
        if "client" not in holder:
            c = AsyncTestClient(app=create_app(make_settings(db, **over)), base_url=ORIGIN)
            await c.__aenter__()
            holder["client"] = c
        return Browser(holder["client"])

    yield open_browser
    if "client" in holder:
        await holder["client"].__aexit__(None, None, None)
