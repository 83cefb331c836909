"""Case managers' desk routes: the client list with search and pages, a client's file, and the
monthly funding runs (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from payments.budgets import catalogue
from payments.budgets.catalogue import DecisionLineInput
from payments.budgets.funding import fund_period
from payments.checkout import cards
from payments.db import Database
from payments.ledger.periods import first_day, next_period
from payments.models import AuditEvent
from payments.people.access import Actor
from payments.people.invites import create_invite
from payments.uow import UnitOfWork
from tests.factories import World, add_client_with_decision
from tests.support.api import Keys, auth


async def audit_count(db: Database, action: str) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(
            (
                await uow.session.execute(
                    select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
                )
            ).scalar_one()
        )


async def test_client_list_search_and_pages(
    client: AsyncTestClient[Any], db: Database, world: World, keys: Keys
) -> None:
    for first, last, phone in (
        ("Eino", "Korhonen", "040 111 2222"),
        ("Helmi", "Mäkinen", "050 333 4444"),
        ("Onni", "Korhonen", "044 555 6666"),
        ("Ella_%", "Lahti", "045 777 8888"),
    ):
        await catalogue.create_client(
            db, organizer_id=world.organizer_id, first_name=first, last_name=last, phone=phone
        )
    # Another county's client never shows.
    other = await catalogue.create_organizer(db, slug="muu", name="Muu")
    await catalogue.create_client(
        db, organizer_id=other, first_name="Eino", last_name="Korhonen", phone="040 999 0000"
    )
    cm = auth(keys.case_manager)

    res = await client.get("/api/clients", headers=cm)
    assert res.status_code == 200, res.text
    names = [(c["last_name"], c["first_name"]) for c in res.json()["items"]]
    # keys fixture adds "Eino K"; seed_world adds Aino Virtanen.
    assert names == sorted(names)
    assert ("Virtanen", "Aino") in names and ("Korhonen", "Eino") in names
    assert len(names) == 6 and res.json()["next_cursor"] is None
    aino = next(c for c in res.json()["items"] if c["first_name"] == "Aino")
    assert aino["wallet_id"] == str(world.wallet_id)
    assert aino["phone"] == "+358401234567"

    # Search: part of a name, any case; last name first; digits of the phone number.
    res = await client.get("/api/clients", params={"q": "korho"}, headers=cm)
    assert [c["first_name"] for c in res.json()["items"]] == ["Eino", "Onni"]
    res = await client.get("/api/clients", params={"q": "mäkinen helmi"}, headers=cm)
    assert [c["first_name"] for c in res.json()["items"]] == ["Helmi"]
    res = await client.get("/api/clients", params={"q": "050 333"}, headers=cm)
    assert [c["first_name"] for c in res.json()["items"]] == ["Helmi"]
    # LIKE wildcards in the search are literal characters.
    res = await client.get("/api/clients", params={"q": "%"}, headers=cm)
    assert [c["first_name"] for c in res.json()["items"]] == ["Ella_%"]
    res = await client.get("/api/clients", params={"q": "zzz"}, headers=cm)
    assert res.json() == {"items": [], "next_cursor": None}

    # Pages: every client exactly once, in order.
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/clients", params=params, headers=cm)).json()
        assert len(page["items"]) <= 3
        seen += [c["client_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == 6

    bad = await client.get("/api/clients", params={"cursor": "!!!"}, headers=cm)
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["type"].split("/")[-1] == "invalid-cursor"
    too_many = await client.get("/api/clients", params={"limit": 101}, headers=cm)
    assert too_many.status_code == 400


async def test_client_list_is_for_case_managers_only(
    client: AsyncTestClient[Any], keys: Keys
) -> None:
    assert (await client.get("/api/clients")).status_code == 401
    for key in (keys.client, keys.provider, keys.carer_view):
        res = await client.get("/api/clients", headers=auth(key))
        assert res.status_code == 403, key
    # A case manager of another county sees only their own (none here).
    res = await client.get("/api/clients", headers=auth(keys.foreign_case_manager))
    assert res.json() == {"items": [], "next_cursor": None}


async def test_client_file_shows_decisions_cards_invites_and_is_audited(
    client: AsyncTestClient[Any], db: Database, world: World, keys: Keys
) -> None:
    card = await cards.issue_card(
        db,
        actor_id=world.case_manager,
        organizer_id=world.organizer_id,
        wallet_id=world.wallet_id,
        pin="4826",
    )
    cm_actor = Actor(
        principal_id=world.case_manager,
        organizer_id=world.organizer_id,
        role="case_manager",
        display_name="Liisa Ohjaaja",
    )
    await create_invite(db, cm_actor, client_id=world.client_id, validity=timedelta(days=7))
    before = await audit_count(db, "client.viewed")
    res = await client.get(f"/api/clients/{world.client_id}", headers=auth(keys.case_manager))
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["client"]["first_name"] == "Aino"
    assert body["client"]["wallet_id"] == str(world.wallet_id)
    assert body["client"]["has_passkey"] is False
    [decision] = body["decisions"]
    assert decision["valid_from"] == first_day(world.period).isoformat()
    [line] = decision["lines"]
    assert line == {
        "label": "Kotiapu ja siivous",
        "monthly_amount_cents": 30_000,
        "categories": ["kotiapu", "siivous"],
    }
    [card_out] = body["cards"]
    assert card_out["card_id"] == str(card.id)
    assert card_out["card_number"] == card.card_number
    assert card_out["status"] == "active" and card_out["has_pin"] is True
    assert [i["status"] for i in body["invites"]] == ["open"]
    # No PIN hash, salt or invite code ever leaves.
    assert set(card_out) == {
        "card_id",
        "card_number",
        "status",
        "has_pin",
        "failed_attempts",
        "created_at",
    }
    assert set(body["invites"][0]) == {"created_at", "expires_at", "status"}
    assert await audit_count(db, "client.viewed") == before + 1


async def test_client_file_of_another_county_is_not_found_and_not_audited(
    client: AsyncTestClient[Any], db: Database, world: World, keys: Keys
) -> None:
    before = await audit_count(db, "client.viewed")
    res = await client.get(
        f"/api/clients/{world.client_id}", headers=auth(keys.foreign_case_manager)
    )
    assert res.status_code == 404
    assert res.headers["content-type"].startswith("application/problem+json")
    res = await client.get(f"/api/clients/{world.client_id}", headers=auth(keys.client))
    assert res.status_code == 403
    assert await audit_count(db, "client.viewed") == before


async def test_funding_runs_from_the_ledger(
    client: AsyncTestClient[Any], db: Database, world: World, keys: Keys
) -> None:
    # A second client whose decision is valid this month: funded by the same run.
    await add_client_with_decision(
        db,
        world,
        phone="040 765 4321",
        lines=[DecisionLineInput("Kuljetus", 12_000, ("kuljetus",))],
        valid_from=first_day(world.period),
    )
    await fund_period(db, world.period)
    cm = auth(keys.case_manager)
    res = await client.get("/api/funding-runs", headers=cm)
    assert res.status_code == 200, res.text
    [run] = res.json()
    assert run["period"] == world.period
    assert run["funded_envelopes"] == 2 == run["envelopes_eligible"]
    assert run["funded_cents"] > 0 and run["expired_cents"] == 0
    assert run["started_at"] is not None and run["finished_at"] >= run["started_at"]

    # Next month: the old month's remainder expires; running twice moves nothing twice.
    nxt = next_period(world.period)
    await fund_period(db, nxt)
    await fund_period(db, nxt)
    runs = (await client.get("/api/funding-runs", headers=cm)).json()
    assert [r["period"] for r in runs] == [nxt, world.period]
    assert runs[0]["funded_envelopes"] == 2
    assert runs[0]["funded_cents"] == 30_000 + 12_000
    assert runs[1]["expired_envelopes"] == 2
    assert runs[1]["expired_cents"] == runs[1]["funded_cents"]

    # Another county sees none of it.
    assert (
        await client.get("/api/funding-runs", headers=auth(keys.foreign_case_manager))
    ).json() == []
    assert (await client.get("/api/funding-runs", headers=auth(keys.provider))).status_code == 403


async def test_funding_run_counts_an_unfunded_envelope(
    client: AsyncTestClient[Any], db: Database, world: World, keys: Keys
) -> None:
    """A decision added after the month's run, before anyone funds it, shows as missing."""
    extra = await catalogue.create_client(
        db, organizer_id=world.organizer_id, first_name="Väinö", last_name="K", phone="0407777777"
    )
    await catalogue.create_decision(
        db,
        organizer_id=world.organizer_id,
        client_id=extra.client_id,
        valid_from=first_day(world.period),
        valid_to=None,
        lines=[DecisionLineInput("Kuljetus", 5_000, ("kuljetus",))],
    )
    [run] = (await client.get("/api/funding-runs", headers=auth(keys.case_manager))).json()
    assert (run["funded_envelopes"], run["envelopes_eligible"]) == (1, 2)


async def test_open_visits_are_the_providers_own_and_leave_at_check_out(
    client: AsyncTestClient[Any], db: Database, world: World, keys: Keys
) -> None:
    lines = [{"category": "siivous", "quantity": "2", "unit_price_cents": 3500}]
    made = await client.post(
        "/api/holds",
        json={"phone": world.phone, "lines": lines},
        headers=auth(keys.provider, **{"Idempotency-Key": "visit-1"}),
    )
    assert made.status_code == 201, made.text
    hold_id = made.json()["id"]

    res = await client.get("/api/holds", headers=auth(keys.provider))
    assert res.status_code == 200, res.text
    [visit] = res.json()
    assert visit["hold_id"] == hold_id and visit["amount_cents"] == 7000
    assert visit["lines"] == [
        {"category": "siivous", "quantity": "2", "unit_price_cents": 3500, "amount_cents": 7000}
    ]
    # Another provider sees none of it; other roles may not ask.
    assert (await client.get("/api/holds", headers=auth(keys.other_provider))).json() == []
    assert (await client.get("/api/holds", headers=auth(keys.case_manager))).status_code == 403
    assert (await client.get("/api/holds")).status_code == 401

    captured = await client.post(
        f"/api/holds/{hold_id}/capture",
        json={"lines": [lines[0] | {"quantity": "1.5"}]},
        headers=auth(keys.provider, **{"Idempotency-Key": "visit-1-out"}),
    )
    assert captured.status_code == 200, captured.text
    assert (await client.get("/api/holds", headers=auth(keys.provider))).json() == []
