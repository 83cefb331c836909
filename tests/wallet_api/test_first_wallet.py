"""GET /api/me/wallet: the balances screen's first answer without a wallet id (the early
start asks for it beside /api/me). The same data and the same rules as the routes by id."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.factories import World, api_key_for
from tests.support.api import Foreign, Keys, auth


async def _by_id(client, key: str, wallet_id: str) -> dict:
    h = auth(key)
    wallet = await client.get(f"/api/wallets/{wallet_id}", headers=h)
    history = await client.get(f"/api/wallets/{wallet_id}/transactions?limit=100", headers=h)
    pending = await client.get(f"/api/wallets/{wallet_id}/payment-requests", headers=h)
    assert wallet.status_code == history.status_code == pending.status_code == 200
    return {
        "wallet": wallet.json(),
        "transactions": history.json(),
        "payment_requests": pending.json(),
    }


async def test_client_and_carers_with_view_get_the_wallet_of_their_client(
    client, world: World, keys: Keys
) -> None:
    for key in (keys.client, keys.carer_view, keys.carer_approve, keys.carer_providers):
        r = await client.get("/api/me/wallet", headers=auth(key))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["wallet"]["id"] == str(world.wallet_id)
        assert body["transactions"]["items"], "the seeded wallet has its funding"
        assert body == await _by_id(client, key, str(world.wallet_id))


async def test_the_wallet_is_always_ones_own(client, world: World, keys: Keys) -> None:
    # Another client of the county gets their own wallet, never the seeded client's.
    r = await client.get("/api/me/wallet", headers=auth(keys.other_client))
    assert r.status_code == 200, r.text
    assert r.json()["wallet"]["id"] != str(world.wallet_id)
    assert r.json()["wallet"]["client"]["first_name"] == "Eino"


async def test_no_wallet_for_carers_without_a_mandate_providers_or_case_managers(
    client, db, world: World, keys: Keys, foreign: Foreign
) -> None:
    r = await client.get("/api/me/wallet", headers=auth(keys.carer_none))
    assert r.status_code == 404 and r.json()["type"] == "not-found"
    for key in (keys.provider, keys.case_manager, keys.foreign_case_manager, foreign.provider):
        r = await client.get("/api/me/wallet", headers=auth(key))
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    # Another organizer's carer sees their own client's wallet, not this one.
    r = await client.get("/api/me/wallet", headers=auth(foreign.carer))
    assert r.status_code == 200 and r.json()["wallet"]["id"] == str(foreign.world.wallet_id)


async def test_a_revoked_mandate_shows_nothing(client, world: World, keys: Keys) -> None:
    carer = (await client.get("/api/me", headers=auth(keys.carer_view))).json()["principal_id"]
    r = await client.delete(
        f"/api/clients/{world.client_id}/mandates",
        params={"carer_id": carer},
        headers=auth(keys.client),
    )
    assert r.status_code in (200, 204), r.text
    r = await client.get("/api/me/wallet", headers=auth(keys.carer_view))
    assert r.status_code == 404, r.text


async def test_a_carers_look_is_audited_a_clients_own_is_not(
    client, db, world: World, keys: Keys
) -> None:
    cm = auth(await api_key_for(db, world.case_manager))
    await client.get("/api/me/wallet", headers=auth(keys.client))
    assert not [
        e
        for e in (await client.get("/api/audit", headers=cm)).json()
        if e["action"] in ("wallet.viewed", "transactions.viewed")
    ]
    await client.get("/api/me/wallet", headers=auth(keys.carer_view))
    seen = {
        (e["action"], e["actor_name"])
        for e in (await client.get("/api/audit", headers=cm)).json()
        if e["action"] in ("wallet.viewed", "transactions.viewed")
    }
    assert seen == {("wallet.viewed", "Katsoja"), ("transactions.viewed", "Katsoja")}


async def test_a_carer_of_two_clients_gets_the_first_wallet_me_lists(
    client, db, world: World, keys: Keys
) -> None:
    """/api/me lists a carer's wallets in the order the mandates came in force, and
    /api/me/wallet answers the first of them: the app matches the two by id."""
    from payments.models import Wallet
    from payments.people.mandates import grant_mandate
    from payments.uow import UnitOfWork

    me = (await client.get("/api/me", headers=auth(keys.carer_view))).json()
    assert me["wallets"] == [str(world.wallet_id)]
    other = (await client.get("/api/me/wallet", headers=auth(keys.other_client))).json()
    other_wallet = other["wallet"]["id"]
    async with UnitOfWork(db, readonly=True) as uow:
        other_client = await uow.session.scalar(
            select(Wallet.client_id).where(Wallet.id == uuid.UUID(other_wallet))
        )
    assert other_client is not None
    await grant_mandate(
        db, carer_id=uuid.UUID(me["principal_id"]), client_id=other_client, scopes=("view",)
    )
    for _ in range(3):  # the same answer every time, whatever order the rows lie in
        listed = (await client.get("/api/me", headers=auth(keys.carer_view))).json()["wallets"]
        assert listed == [str(world.wallet_id), other_wallet]
        first = (await client.get("/api/me/wallet", headers=auth(keys.carer_view))).json()
        assert first["wallet"]["id"] == listed[0]
