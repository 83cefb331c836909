"""Settlements, the directory and reports over HTTP: who sees what, and figures that add up."""

from __future__ import annotations

import csv
import io
import uuid

from payments.books import check_books
from payments.budgets import catalogue
from payments.budgets.funding import fund_period
from payments.clock import utcnow
from payments.db import Database
from payments.ledger.periods import HELSINKI
from payments.marketplace import settlements
from payments.models import Organizer
from payments.uow import UnitOfWork
from tests.marketplace.test_onboarding import GOOD
from tests.support.api import auth
from tests.support.money import charged, exactly, refund


async def _settle_some(db: Database, world) -> uuid.UUID:
    c = await charged(db, world, exactly(3000), now=utcnow())
    await refund(db, world, c, 500, now=utcnow())
    await charged(db, world, exactly(1200), now=utcnow())
    run = await settlements.settle_providers(db, utcnow().astimezone(HELSINKI).date())
    (s,) = run.settled
    assert s.amount_cents == 3700
    return s.settlement_id


async def test_settlements_are_seen_by_their_provider_and_case_managers(client, db, world, keys):
    sid = await _settle_some(db, world)
    r = await client.get("/api/settlements", headers=auth(keys.provider))
    assert r.status_code == 200
    (item,) = r.json()
    assert item["id"] == str(sid) and item["amount_cents"] == 3700 and item["lines"] == 3
    # Nothing heard from the bank yet (wallet bank import).
    assert (item["status"], item["bank_reason"]) == ("pending", None)
    detail = (await client.get(f"/api/settlements/{sid}", headers=auth(keys.provider))).json()
    assert sum(ln["amount_cents"] for ln in detail["lines"]) == 3700
    assert sorted(ln["kind"] for ln in detail["lines"]) == ["charge", "charge", "refund"]
    # Another provider: sees none, and this one does not exist for it.
    assert (await client.get("/api/settlements", headers=auth(keys.other_provider))).json() == []
    r = await client.get(f"/api/settlements/{sid}", headers=auth(keys.other_provider))
    assert r.status_code == 404
    # The county's case manager sees it; another county's does not.
    r = await client.get(f"/api/settlements/{sid}", headers=auth(keys.case_manager))
    assert r.status_code == 200
    r = await client.get(f"/api/settlements/{sid}", headers=auth(keys.foreign_case_manager))
    assert r.status_code == 404
    assert (
        await client.get("/api/settlements", headers=auth(keys.foreign_case_manager))
    ).json() == []
    # Clients and carers are not shown settlements at all.
    for who in (keys.client, keys.carer_view):
        assert (await client.get("/api/settlements", headers=auth(who))).status_code == 403
    assert (
        await client.get("/api/settlements/nope", headers=auth(keys.provider))
    ).status_code == 404


async def _slug(db, organizer_id):
    async with UnitOfWork(db, readonly=True) as uow:
        return (await uow.session.get(Organizer, organizer_id)).slug


async def test_directory_lists_approved_providers_by_price(client, db, world, keys):
    slug = await _slug(db, world.organizer_id)
    cheap = {**GOOD, "organizer": slug, "prices": {"siivous": 2900}}
    r = await client.post("/api/providers/applications", json=cheap)
    cheap_id = r.json()["provider_id"]
    swedish = {
        **GOOD,
        "organizer": slug,
        "company_name": "Städ Ab",
        "business_id": "0112038-9",
        "languages": ["sv"],
        "municipalities": ["Kuhmo"],
        "prices": {"siivous": 3100},
    }
    r = await client.post("/api/providers/applications", json=swedish)
    assert r.status_code == 201, r.text
    sv_id = r.json()["provider_id"]
    # Before approval neither is listed.
    r = await client.get("/api/directory?category=siivous", headers=auth(keys.client))
    assert [e["provider_id"] for e in r.json()] == [str(world.provider_id)]
    for pid in (cheap_id, sv_id):
        await client.post(f"/api/providers/{pid}/approve", json={}, headers=auth(keys.case_manager))
    r = await client.get("/api/directory?category=siivous", headers=auth(keys.carer_view))
    entries = r.json()
    assert [e["unit_price_cents"] for e in entries] == [2900, 3100, 3500]
    assert entries[0]["provider_id"] == cheap_id and entries[0]["unit"] == "hour"
    assert entries[0]["municipalities"] == ["Kajaani", "Sotkamo"]
    r = await client.get(
        "/api/directory?category=siivous&municipality=kuhmo", headers=auth(keys.client)
    )
    assert [e["provider_id"] for e in r.json()] == [sv_id]
    r = await client.get("/api/directory?language=sv", headers=auth(keys.client))
    assert {e["provider_id"] for e in r.json()} == {cheap_id, sv_id}
    # Suspended providers disappear.
    await client.post(
        f"/api/providers/{cheap_id}/suspend", json={}, headers=auth(keys.case_manager)
    )
    r = await client.get("/api/directory?category=siivous", headers=auth(keys.client))
    assert cheap_id not in {e["provider_id"] for e in r.json()}
    # Another county's users see their own county only.
    r = await client.get("/api/directory", headers=auth(keys.foreign_case_manager))
    assert r.json() == []
    assert (await client.get("/api/directory")).status_code == 401


async def test_reports_reconcile_with_the_ledger(client, db, world, keys):
    await _settle_some(db, world)
    c = await charged(db, world, exactly(800), now=utcnow())
    await refund(db, world, c, 800, now=utcnow())
    report = await check_books(db)
    assert report.ok, report.violations
    r = await client.get("/api/reports/months", headers=auth(keys.case_manager))
    assert r.status_code == 200
    rows = r.json()
    by_period: dict[str, dict[str, int]] = {}
    for row in rows:
        agg = by_period.setdefault(
            row["period"], {"funded": 0, "spent": 0, "refunded": 0, "expired": 0}
        )
        for k in agg:
            agg[k] += row[f"{k}_cents"]
    assert set(by_period) == set(report.periods)
    for period, t in report.periods.items():
        assert by_period[period] == {
            "funded": t.funded,
            "spent": t.spent,
            "refunded": t.refunded,
            "expired": t.expired,
        }
    (row,) = rows
    assert row["services"] == "kotiapu+siivous"
    assert row["allotted_cents"] == 30_000 and row["funded_cents"] == 30_000
    assert row["spent_cents"] == 3000 + 1200 + 800 and row["refunded_cents"] == 500 + 800
    assert row["use_rate_pct"] == "12.3"  # (5000 - 1300) / 30000
    # Per provider: earned - refunded = net; settled = what the settlement paid.
    prov = (await client.get("/api/reports/providers", headers=auth(keys.case_manager))).json()
    (p,) = prov
    assert p["earned_cents"] == 5000 and p["refunded_cents"] == 1300 and p["net_cents"] == 3700
    assert p["settled_cents"] == 3700
    # CSV export.
    r = await client.get("/api/reports/months?format=csv", headers=auth(keys.case_manager))
    assert r.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(r.text)))
    assert parsed[0]["funded_cents"] == "30000" and parsed[0]["use_rate_pct"] == "12.3"
    r = await client.get("/api/reports/providers?format=csv", headers=auth(keys.case_manager))
    assert next(iter(csv.DictReader(io.StringIO(r.text))))["net_cents"] == "3700"
    # Only the county's case managers.
    for who in (keys.provider, keys.client, keys.carer_view):
        assert (await client.get("/api/reports/months", headers=auth(who))).status_code == 403
    r = await client.get("/api/reports/months", headers=auth(keys.foreign_case_manager))
    assert r.json() == []
    r = await client.get("/api/reports/months?from=2031-13", headers=auth(keys.case_manager))
    assert r.status_code == 400
    later = "/api/reports/months?from=2099-01&to=2099-02"
    # Months ahead: the open-ended decision's allotment, nothing funded yet.
    ahead = (await client.get(later, headers=auth(keys.case_manager))).json()
    assert [
        (x["period"], x["allotted_cents"], x["funded_cents"], x["use_rate_pct"]) for x in ahead
    ] == [
        ("2099-01", 30_000, 0, None),
        ("2099-02", 30_000, 0, None),
    ]
    r = await client.get(
        "/api/reports/months?from=2031-02&to=2031-01", headers=auth(keys.case_manager)
    )
    assert r.status_code == 400


async def test_report_allotted_covers_requested_months(db, world):
    from payments.reporting.reports import monthly_report

    rows = await monthly_report(
        db, organizer_id=world.organizer_id, from_period=world.period, to_period=world.period
    )
    assert [r.allotted_cents for r in rows] == [30_000]
    other = await catalogue.create_organizer(db, slug="empty-county", name="Empty")
    await fund_period(db, world.period)
    assert await monthly_report(db, organizer_id=other) == []
