"""Client statements: content, formats (JSON, CSV, HTML), who may see them, the once-only
``statement.ready`` notice, the per-client report, the charts and the reports check."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import func, insert, select, update

from notifications.rules import wallet_followers
from payments.books import check_books
from payments.budgets import catalogue
from payments.budgets.funding import fund_period
from payments.clock import utcnow
from payments.db import create_database
from payments.errors import InvalidInput, NotFound
from payments.ledger.periods import current_period, next_period, previous_period
from payments.models import Account, AuditEvent, ChargeLine, OutboxEvent, StatementNotice, Transfer
from payments.outbox import STATEMENT_READY
from payments.people.mandates import grant_mandate
from payments.reporting import statements
from payments.uow import UnitOfWork
from payments.vocabulary import AccountKind
from tests.factories import api_key_for, seed_world
from tests.support.api import auth
from tests.support.money import charged, exactly, refund
from wallet_api.cli import main

NOW = current_period()
LAST = previous_period(NOW)


async def _statement_world(db):
    """A client funded last month and this month: last month has charges by two providers,
    a refund, an own share on one line, and an expired remainder."""
    w = await seed_world(db, period=LAST)
    when = utcnow().replace(year=int(LAST[:4]), month=int(LAST[5:]), day=10, hour=10)
    c1 = await charged(db, w, exactly(3000), now=when)
    c2 = await charged(db, w, exactly(1200, "kotiapu"), now=when.replace(day=12))
    await refund(db, w, c1, 500, now=when.replace(day=13))
    async with UnitOfWork(db) as uow:
        await uow.session.execute(
            update(ChargeLine).where(ChargeLine.charge_id == c2).values(client_share_cents=450)
        )
        await uow.commit()
    await fund_period(db, NOW)
    return w, c1, c2


async def test_statement_from_the_ledger(db):
    w, c1, c2 = await _statement_world(db)
    st = await statements.statement(db, w.wallet_id, LAST, language="en")
    assert st.closed and st.client_name == "Aino Virtanen"
    (env,) = st.envelopes
    assert env.label == "Kotiapu ja siivous" and env.services == ["kotiapu", "siivous"]
    assert (env.opening_cents, env.funded_cents, env.spent_cents) == (0, 30_000, 4200)
    assert (env.refunded_cents, env.expired_cents, env.closing_cents) == (500, 26_300, 0)
    assert [
        (c.charge_id, c.provider, c.service, c.quantity, c.amount_cents) for c in env.charges
    ] == [
        (str(c1), "Siivouspalvelu Kuura Oy", "siivous", "30", 3000),
        (str(c2), "Siivouspalvelu Kuura Oy", "kotiapu", "12", 1200),
    ]
    assert [c.client_share_cents for c in env.charges] == [0, 450]
    assert st.client_share_cents == 450
    assert [(r.charge_id, r.services, r.amount_cents) for r in env.refunds] == [
        (str(c1), "siivous", 500)
    ]
    # This month: opens at last month's closing, funded again, still open.
    now = await statements.statement(db, w.wallet_id, NOW)
    assert not now.closed
    assert now.opening_cents == 0 and now.funded_cents == 30_000 and now.closing_cents == 30_000
    months = await statements.statement_months(db, w.wallet_id)
    assert months == [{"period": NOW, "closed": False}, {"period": LAST, "closed": True}]
    with pytest.raises(NotFound):
        await statements.statement(db, w.wallet_id, next_period(NOW))
    with pytest.raises(InvalidInput):
        await statements.statement(db, w.wallet_id, "2024-13")
    with pytest.raises(NotFound):
        await statements.statement(db, uuid.uuid4(), LAST)


class Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


async def test_statement_formats_over_http(client, db):
    w, _, _ = await _statement_world(db)
    key = await api_key_for(db, w.client_principal)
    base = f"/api/wallets/{w.wallet_id}/statements"
    r = await client.get(base, headers=auth(key))
    assert r.status_code == 200 and [m["period"] for m in r.json()] == [NOW, LAST]
    r = await client.get(f"{base}/{LAST}", headers=auth(key))
    assert r.status_code == 200
    body = r.json()
    assert body["period"] == LAST and body["spent_cents"] == 4200
    assert body["envelopes"][0]["charges"][1]["client_share_cents"] == 450
    # CSV by suffix and by parameter: the same file; per envelope opening + movements = closing.
    r1 = await client.get(f"{base}/{LAST}.csv", headers=auth(key))
    r2 = await client.get(f"{base}/{LAST}?format=csv", headers=auth(key))
    assert r1.headers["content-type"].startswith("text/csv") and r1.text == r2.text
    rows = list(csv.DictReader(io.StringIO(r1.text)))
    assert [r["row"] for r in rows] == [
        "opening", "funded", "charge", "charge", "refund", "expired", "closing"
    ]  # fmt: skip
    assert sum(int(r["amount_cents"]) for r in rows[:-1]) == int(rows[-1]["amount_cents"]) == 0
    assert rows[3]["client_share_cents"] == "450" and rows[2]["provider"]
    # A printable page in the viewer's language.
    r = await client.get(f"{base}/{LAST}.html", headers=auth(key, **{"Accept-Language": "sv"}))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = Structure()
    page.feed(r.text)
    tags = [t for t, _ in page.tags]
    assert page.tags[0] == ("html", {"lang": "sv"})
    assert tags.count("h1") == 1 and "main" in tags and "script" not in tags
    assert tags.count("table") == tags.count("caption") >= 3
    assert all(a.get("scope") in ("row", "col") for t, a in page.tags if t == "th")
    assert "@media print" in r.text and "Månadsutdrag" in r.text
    text = "".join(page.text)
    assert "Siivouspalvelu Kuura Oy" in text and "263,00" in text.replace("\u00a0", " ")
    r = await client.get(f"{base}/{LAST}?format=html", headers=auth(key))
    assert '<html lang="fi">' in r.text and "Kuukausiote" in r.text
    # Bad months: 400 with a stable slug, a month not begun 404.
    for bad in ("2024-13", "24-01", f"{LAST}.pdf"):
        r = await client.get(f"{base}/{bad}", headers=auth(key))
        assert r.status_code == 400 and r.json()["type"].endswith("invalid-period")
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(f"{base}/{next_period(NOW)}", headers=auth(key))
    assert r.status_code == 404


async def test_who_may_see_a_statement(client, db, world, keys):
    url = f"/api/wallets/{world.wallet_id}/statements/{NOW}"
    for who in (keys.client, keys.carer_view, keys.case_manager):
        assert (await client.get(url, headers=auth(who))).status_code == 200
    # A carer whose mandate lacks 'view'.
    approver = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Only approves"
    )
    await grant_mandate(db, carer_id=approver, client_id=world.client_id, scopes=("approve",))
    no_view = await api_key_for(db, approver)
    for who in (
        keys.other_client,
        keys.carer_none,
        no_view,
        keys.provider,
        keys.foreign_case_manager,
    ):
        for path in (url, url + ".csv", url + ".html", f"/api/wallets/{world.wallet_id}/chart.svg"):
            r = await client.get(path, headers=auth(who))
            assert r.status_code in (403, 404), (who, path, r.status_code)
            assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(url)).status_code == 401
    # The carer's and the case manager's reads are in the audit trail; the client's own is not.
    async with UnitOfWork(db, readonly=True) as uow:
        actions = (
            await uow.session.execute(
                select(AuditEvent.action, AuditEvent.actor_id).where(
                    AuditEvent.subject_client_id == world.client_id
                )
            )
        ).all()
    assert [a for a, who in actions if who == world.client_principal] == []
    assert [a for a, _ in actions].count("statement.viewed") == 2


async def _count_ready(db, wallet_id=None) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        q = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == STATEMENT_READY)
        if wallet_id is not None:
            q = q.where(OutboxEvent.wallet_id == wallet_id)
        return int((await uow.session.execute(q)).scalar_one())


async def test_statement_ready_once_per_wallet_and_month(db):
    w = await seed_world(db, period=LAST)
    await charged(
        db, w, exactly(1000), now=utcnow().replace(year=int(LAST[:4]), month=int(LAST[5:]), day=5)
    )
    # Last month is not closed until this month's funding expires it.
    run = await statements.issue_statements(db, LAST)
    assert (run.wallets_seen, run.issued) == (0, 0)
    await fund_period(db, NOW)
    # Two runs at once and a rerun: one event.
    runs = await asyncio.gather(
        statements.issue_statements(db, LAST), statements.issue_statements(db, LAST)
    )
    assert sum(r.issued for r in runs) == 1
    assert (await statements.issue_statements(db, LAST)).issued == 0
    assert await _count_ready(db, w.wallet_id) == 1
    async with UnitOfWork(db, readonly=True) as uow:
        ev = (
            await uow.session.execute(
                select(OutboxEvent).where(OutboxEvent.type == STATEMENT_READY)
            )
        ).scalar_one()
        notices = (await uow.session.execute(select(StatementNotice))).scalars().all()
        followers = await wallet_followers(uow.session, w.wallet_id)
    assert ev.wallet_id == w.wallet_id and ev.payload["period"] == LAST
    assert [(n.wallet_id, n.period) for n in notices] == [(w.wallet_id, LAST)]
    assert [f.role for f in followers] == ["client"]
    # The current month cannot be announced yet; a bad month is refused.
    with pytest.raises(InvalidInput):
        await statements.issue_statements(db, NOW)
    with pytest.raises(InvalidInput):
        await statements.issue_statements(db, "2024-00")


async def test_carers_with_view_follow_the_notice(db, world):
    carer = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Matti"
    )
    await grant_mandate(db, carer_id=carer, client_id=world.client_id, scopes=("view",))
    approver = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Only approves"
    )
    await grant_mandate(db, carer_id=approver, client_id=world.client_id, scopes=("approve",))
    async with UnitOfWork(db, readonly=True) as uow:
        followers = {f.principal_id for f in await wallet_followers(uow.session, world.wallet_id)}
    assert followers == {world.client_principal, carer}


def test_wallet_statements_command(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def seed() -> uuid.UUID:
        db = create_database(database_url)
        if db.is_postgres:
            from tests.support.databases import truncate

            await truncate(db)
        w = await seed_world(db, period=LAST)
        await fund_period(db, NOW)
        await db.dispose()
        return w.wallet_id

    wallet_id = asyncio.run(seed())
    monkeypatch.setenv("WALLET_DATABASE_URL", database_url)
    runner = CliRunner()
    first = runner.invoke(main, ["statements", "--month", LAST])
    assert first.exit_code == 0, first.output
    assert "1 statement(s)" in first.output
    again = runner.invoke(main, ["statements", "--month", LAST])
    assert again.exit_code == 0 and "0 statement(s)" in again.output
    bad = runner.invoke(main, ["statements", "--month", "2024-13"])
    assert bad.exit_code != 0
    not_over = runner.invoke(main, ["statements", "--month", NOW])
    assert not_over.exit_code != 0

    async def count() -> int:
        db = create_database(database_url)
        try:
            return await _count_ready(db, wallet_id)
        finally:
            await db.dispose()

    assert asyncio.run(count()) == 1


async def test_client_report_and_charts(client, db):
    w, _, _ = await _statement_world(db)
    cm = await api_key_for(db, w.case_manager)
    url = f"/api/reports/clients/{w.client_id}?from={LAST}&to={NOW}"
    r = await client.get(url, headers=auth(cm))
    assert r.status_code == 200
    rows = r.json()
    assert [
        (x["period"], x["funded_cents"], x["spent_cents"], x["use_rate_pct"]) for x in rows
    ] == [
        (LAST, 30_000, 4200, "12.3"),
        (NOW, 30_000, 0, "0.0"),
    ]
    assert rows[0]["expired_cents"] == 26_300 and rows[0]["refunded_cents"] == 500
    r = await client.get(url + "&format=csv", headers=auth(cm))
    parsed = list(csv.DictReader(io.StringIO(r.text)))
    assert [p["spent_cents"] for p in parsed] == ["4200", "0"]
    async with UnitOfWork(db, readonly=True) as uow:
        audited = (
            await uow.session.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action == "client_report.viewed",
                    AuditEvent.subject_client_id == w.client_id,
                )
            )
        ).scalar_one()
    assert audited == 2
    # Another county's case manager, the client and providers: refused.
    other = await catalogue.create_organizer(db, slug="muu", name="Muu")
    foreign = await api_key_for(
        db,
        await catalogue.create_principal(
            db, organizer_id=other, role="case_manager", display_name="X"
        ),
    )
    assert (await client.get(url, headers=auth(foreign))).status_code == 404
    for who in (w.client_principal, w.provider_principal):
        r = await client.get(url, headers=auth(await api_key_for(db, who)))
        assert r.status_code == 403
    # Charts: well-formed SVG with a title, a description and the figures as text.
    for path, key in (
        (f"/api/reports/months.svg?from={LAST}&to={NOW}", cm),
        (
            f"/api/wallets/{w.wallet_id}/chart.svg?months=3",
            await api_key_for(db, w.client_principal),
        ),
    ):
        r = await client.get(path, headers=auth(key, **{"Accept-Language": "en"}))
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        svg = etree.fromstring(r.content)
        ns = {"s": "http://www.w3.org/2000/svg"}
        assert svg.get("role") == "img" and svg.get("aria-labelledby") == "t d"
        assert svg.find("s:title", ns).text and svg.find("s:desc", ns).text
        texts = [t.text for t in svg.iterfind(".//s:text", ns)]
        assert "€300.00" in texts and "€37.00" in texts  # granted, spent net of refunds
        assert not svg.findall(".//s:script", ns)


async def test_check_finds_a_report_that_disagrees_with_the_ledger(db):
    w = await seed_world(db)
    assert (await check_books(db)).ok
    # A 'charge' that leaves no client's envelope: the ledger's spent grows, the report's not.
    async with UnitOfWork(db) as uow:
        s = uow.session
        budget = (
            await s.execute(
                select(Account.id).where(
                    Account.organizer_id == w.organizer_id,
                    Account.kind == AccountKind.ORGANIZER_BUDGET,
                )
            )
        ).scalar_one()
        payable = (
            await s.execute(
                select(Account.id).where(
                    Account.provider_id == w.provider_id,
                    Account.kind == AccountKind.PROVIDER_PAYABLE,
                )
            )
        ).scalar_one()
        await s.execute(
            insert(Transfer).values(
                organizer_id=w.organizer_id,
                debit_account_id=budget,
                credit_account_id=payable,
                amount_cents=123,
                kind="charge",
                period=w.period,
                created_at=utcnow(),
            )
        )
        await uow.commit()
    report = await check_books(db)
    assert any("report of organizer" in v and "'spent': 0" in v for v in report.violations), (
        report.violations
    )


async def test_scheduler_announces_last_month_after_funding(db):
    from wallet_api.scheduler import Scheduler

    w = await seed_world(db, period=LAST)
    scheduler = Scheduler(db)
    # Before this month's funding nothing has closed; the scheduler asks again next tick.
    run = await scheduler.issue_statements_now()
    assert run is not None and run.issued == 0
    summary = await scheduler.fund_now()
    assert summary is not None and summary.period == NOW
    run = await scheduler.issue_statements_now(funded=summary.period)
    assert run is not None and (run.period, run.issued) == (LAST, 1)
    # Done for that month in this process; and a rerun elsewhere would announce nothing.
    assert await scheduler.issue_statements_now(funded=summary.period) is None
    assert (await statements.issue_statements(db, LAST)).issued == 0
    assert await _count_ready(db, w.wallet_id) == 1
