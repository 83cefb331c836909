"""Corrections through the HTTP API (issue 18, item 2): status codes, problem+json refusals in
the caller's language, nothing written by a refusal, the second approver, the admin's limit."""

from __future__ import annotations

import uuid
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import update

from payments.budgets import catalogue
from payments.budgets.funding import fund_period
from payments.db import Database
from payments.models import AuditEvent, Principal
from payments.uow import UnitOfWork
from tests.factories import api_key_for, at, count, row_counts, seed_world, transfers
from tests.support.money import charged, exactly


def _auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


async def _setup(db: Database) -> tuple[Any, uuid.UUID, str, str]:
    w = await seed_world(db, fund=False, period="2031-01")
    await fund_period(db, "2031-01")
    cid = await charged(db, w, exactly(20_000), now=at("2031-01"))
    await fund_period(db, "2031-02")
    second = await catalogue.create_principal(
        db, organizer_id=w.organizer_id, role="case_manager", display_name="Pekka Toinen"
    )
    async with UnitOfWork(db) as uow:  # the first case manager holds the admin right
        await uow.session.execute(
            update(Principal).where(Principal.id == w.case_manager).values(admin=True)
        )
        await uow.commit()

    return w, cid, await api_key_for(db, w.case_manager), await api_key_for(db, second)


async def test_a_correction_waits_for_a_second_case_manager(
    db: Database, client: AsyncTestClient[Any]
) -> None:
    _w, cid, first, second = await _setup(db)
    url = f"/api/charges/{cid}/corrections"

    small = await client.post(
        url,
        json={"amount_cents": 2000, "reason": "Käynti jäi väliin"},
        headers=_auth(first, **{"Idempotency-Key": "a"}),
    )
    assert small.status_code == 201, small.text
    assert small.json()["status"] == "approved" and small.json()["may_decide"] is False

    big = await client.post(
        url,
        json={"amount_cents": 15_000, "reason": "Laskutettu kahdesti"},
        headers=_auth(first, **{"Idempotency-Key": "b"}),
    )
    assert big.status_code == 202, big.text
    body = big.json()
    assert body["status"] == "pending" and body["client_name"] == "Aino Virtanen"
    assert body["provider_name"] == "Siivouspalvelu Kuura Oy" and body["period"] == "2031-01"
    # A retry with the same key answers the same, writing nothing.
    again = await client.post(
        url,
        json={"amount_cents": 15_000, "reason": "Laskutettu kahdesti"},
        headers=_auth(first, **{"Idempotency-Key": "b"}),
    )
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == body["id"]

    mine = (await client.get("/api/corrections", headers=_auth(first))).json()
    theirs = (await client.get("/api/corrections?status=pending", headers=_auth(second))).json()
    assert [c["status"] for c in mine] == ["pending", "approved"]
    assert mine[0]["may_decide"] is False and [c["may_decide"] for c in theirs] == [True]

    own = await client.post(
        f"/api/corrections/{body['id']}/approve",
        json={},
        headers=_auth(first, **{"Accept-Language": "fi"}),
    )
    assert own.status_code == 403
    assert own.headers["content-type"].startswith("application/problem+json")
    assert own.json()["type"] == "second-approver-required"
    assert own.json()["title"] == "Toisen asiakasohjaajan on hyväksyttävä tämä korjaus"

    ok = await client.post(f"/api/corrections/{body['id']}/approve", json={}, headers=_auth(second))
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved" and ok.json()["decided_by_name"] == "Pekka Toinen"
    assert sorted(t.amount_cents for t in await transfers(db, kind="correction")) == [2000, 15_000]
    twice = await client.post(
        f"/api/corrections/{body['id']}/approve", json={}, headers=_auth(second)
    )
    assert twice.status_code == 409 and twice.json()["type"] == "correction-not-pending"
    assert await count(db, AuditEvent, AuditEvent.action == "charge.corrected") == 2


async def test_refusals_write_nothing(db: Database, client: AsyncTestClient[Any]) -> None:
    _w, cid, first, _second = await _setup(db)
    url = f"/api/charges/{cid}/corrections"
    before = await row_counts(db)
    for body in (
        {"amount_cents": 100},  # no reason
        {"amount_cents": 100, "reason": ""},
        {"amount_cents": "100", "reason": "x"},  # cents are JSON integers
        {"amount_cents": 1.5, "reason": "x"},
        {"amount_cents": 0, "reason": "x"},
        {"amount_cents": 100, "reason": "x" * 501},
        {"amount_cents": 100, "reason": "nul\u0000"},
        {"amount_cents": 100, "reason": "x", "extra": 1},
    ):
        r = await client.post(
            url, json=body, headers=_auth(first, **{"Idempotency-Key": uuid.uuid4().hex})
        )
        assert r.status_code == 400, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    too_much = await client.post(
        url,
        json={"amount_cents": 20_001, "reason": "x"},
        headers=_auth(first, **{"Idempotency-Key": "c", "Accept-Language": "sv"}),
    )
    assert too_much.status_code == 422 and too_much.json()["type"] == "correction-exceeds-charge"
    no_key = await client.post(url, json={"amount_cents": 100, "reason": "x"}, headers=_auth(first))
    assert no_key.status_code == 400
    assert await row_counts(db) == before


async def test_only_an_admin_sets_the_limit(db: Database, client: AsyncTestClient[Any]) -> None:
    _w, cid, admin, other = await _setup(db)
    got = await client.get("/api/organizer/settings", headers=_auth(other))
    assert got.status_code == 200 and got.json() == {"correction_approval_above_cents": 10_000}
    refused = await client.put(
        "/api/organizer/settings",
        json={"correction_approval_above_cents": 0},
        headers=_auth(other),
    )
    assert refused.status_code == 403
    for bad in (-1, 100_000_001, "5", None):
        r = await client.put(
            "/api/organizer/settings",
            json={"correction_approval_above_cents": bad},
            headers=_auth(admin),
        )
        assert r.status_code == 400, (bad, r.text)
    ok = await client.put(
        "/api/organizer/settings",
        json={"correction_approval_above_cents": 0},
        headers=_auth(admin),
    )
    assert ok.status_code == 200 and ok.json() == {"correction_approval_above_cents": 0}
    waits = await client.post(
        f"/api/charges/{cid}/corrections",
        json={"amount_cents": 1, "reason": "x"},
        headers=_auth(admin, **{"Idempotency-Key": "d"}),
    )
    assert waits.status_code == 202
    assert await count(db, AuditEvent, AuditEvent.action == "organizer.correction_limit_set") == 1


async def test_the_open_month_is_refused_in_the_callers_language(
    db: Database, client: AsyncTestClient[Any]
) -> None:
    w = await seed_world(db)
    cid = await charged(db, w, exactly(5000))

    key = await api_key_for(db, w.case_manager)
    r = await client.post(
        f"/api/charges/{cid}/corrections",
        json={"amount_cents": 100, "reason": "x"},
        headers=_auth(key, **{"Idempotency-Key": "e", "Accept-Language": "en"}),
    )
    assert r.status_code == 409 and r.json()["type"] == "month-open"
    assert "provider refunds it" in r.json()["title"]


async def test_the_clients_statement_shows_the_correction(
    db: Database, client: AsyncTestClient[Any]
) -> None:
    """A closed month's statement, as the client reads it: the JSON, the printable page in the
    client's language and the CSV all name the correction, its reason and amount."""
    w = await seed_world(db, fund=False, period="2025-01")
    await fund_period(db, "2025-01")
    cid = await charged(db, w, exactly(5000), now=at("2025-01"))
    await fund_period(db, "2025-02")
    cm = await api_key_for(db, w.case_manager)
    r = await client.post(
        f"/api/charges/{cid}/corrections",
        json={"amount_cents": 1250, "reason": "Käynti peruttiin"},
        headers=_auth(cm, **{"Idempotency-Key": "s"}),
    )
    assert r.status_code == 201, r.text
    me = _auth(await api_key_for(db, w.client_principal), **{"Accept-Language": "fi"})
    base = f"/api/wallets/{w.wallet_id}/statements/2025-01"
    body = (await client.get(base, headers=me)).json()
    assert [(c["amount_cents"], c["reason"]) for c in body["corrections"]] == [
        (1250, "Käynti peruttiin")
    ]
    page = (await client.get(base + ".html", headers=me)).text
    assert '<h2 id="corrections">Korjaukset</h2>' in page
    assert "Käynti peruttiin" in page and "12,50\u00a0€" in page
    csv_text = (await client.get(base + ".csv", headers=me)).content.decode("utf-8-sig")
    (row,) = [line for line in csv_text.splitlines() if ",correction," in line]
    assert "Käynti peruttiin" in row and ",1250," in row
