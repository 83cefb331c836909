"""The case manager's calculator ("hours a week x value per hour" -> a monthly amount) and
voucher lines in the decision API (the arithmetic on its own:
``tests/unit/test_weekly_hours.py``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from payments.db import Database
from payments.ledger.periods import current_period, first_day
from payments.models import Decision, DecisionLine
from payments.uow import UnitOfWork
from tests.factories import World
from tests.support.api import Keys, auth

URL = "/api/decision-helper"


async def test_helper_answers_a_case_manager(client: Any, keys: Keys, world: World) -> None:
    r = await client.post(
        URL,
        json={"hours_per_week": "7.5", "value_per_hour_cents": 3200},
        headers=auth(keys.case_manager),
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "monthly_amount_cents": 104_000,
        "formula": "7.5 h/week × 3200 c/h × 52 / 12 = 104000 c/month",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"hours_per_week": "1.2345", "value_per_hour_cents": 3200},
        {"hours_per_week": "abc", "value_per_hour_cents": 3200},
        {"hours_per_week": "0", "value_per_hour_cents": 3200},
        {"hours_per_week": "200", "value_per_hour_cents": 3200},
        {"hours_per_week": 7.5, "value_per_hour_cents": 3200},
        {"hours_per_week": "7.5", "value_per_hour_cents": 32.5},
        {"hours_per_week": "7.5", "value_per_hour_cents": "3200"},
        {"hours_per_week": "7.5", "value_per_hour_cents": 0},
        {"hours_per_week": "7.5"},
        {"hours_per_week": "7.5", "value_per_hour_cents": 3200, "extra": 1},
    ],
)
async def test_helper_bad_input_is_400(
    client: Any, keys: Keys, world: World, body: dict[str, Any]
) -> None:
    r = await client.post(URL, json=body, headers=auth(keys.case_manager))
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "invalid-input"


async def test_helper_is_for_case_managers(client: Any, keys: Keys, world: World) -> None:
    body = {"hours_per_week": "7.5", "value_per_hour_cents": 3200}
    for key in (keys.client, keys.provider, keys.carer_view):
        assert (await client.post(URL, json=body, headers=auth(key))).status_code == 403
    assert (await client.post(URL, json=body)).status_code == 401


async def decision_rows(db: Database) -> tuple[int, int]:
    async with UnitOfWork(db, readonly=True) as uow:
        s = uow.session
        return (
            int((await s.execute(select(func.count(Decision.id)))).scalar_one()),
            int((await s.execute(select(func.count(DecisionLine.id)))).scalar_one()),
        )


async def test_decision_api_takes_voucher_lines(
    client: Any, keys: Keys, world: World, db: Database
) -> None:
    url = f"/api/clients/{world.client_id}/decisions"
    valid_from = first_day(current_period()).isoformat()
    r = await client.post(
        url,
        json={
            "valid_from": valid_from,
            "lines": [
                {
                    "label": "Kotiapu (palveluseteli)",
                    "categories": ["kotiapu"],
                    "voucher_value_cents": 3200,
                    "hours_per_week": "7.5",
                }
            ],
        },
        headers=auth(keys.case_manager),
    )
    assert r.status_code == 201, r.text
    async with UnitOfWork(db, readonly=True) as uow:
        line = (
            await uow.session.execute(
                select(DecisionLine).where(DecisionLine.label == "Kotiapu (palveluseteli)")
            )
        ).scalar_one()
    assert (line.monthly_amount_cents, line.voucher_value_cents, line.hours_per_week) == (
        104_000,
        3200,
        "7.5",
    )
    r = await client.get(f"/api/wallets/{world.wallet_id}", headers=auth(keys.client))
    vouchers = [e["voucher_value_cents"] for e in r.json()["envelopes"]]
    assert sorted(vouchers, key=lambda v: v or 0) == [None, 3200]


@pytest.mark.parametrize(
    "line",
    [
        # the amount does not match 7.5 h x 32 EUR x 52 / 12
        {"monthly_amount_cents": 100_000, "voucher_value_cents": 3200, "hours_per_week": "7.5"},
        # hours need a value per hour
        {"hours_per_week": "7.5"},
        # neither an amount nor hours
        {"voucher_value_cents": 3200},
        {"monthly_amount_cents": 1000, "voucher_value_cents": 0},
        {"voucher_value_cents": 3200, "hours_per_week": "7.5555"},
        {"monthly_amount_cents": 1000, "voucher_value_cents": "3200"},
    ],
)
async def test_bad_voucher_lines_are_400_with_nothing_written(
    client: Any, keys: Keys, world: World, db: Database, line: dict[str, Any]
) -> None:
    before = await decision_rows(db)
    r = await client.post(
        f"/api/clients/{world.client_id}/decisions",
        json={
            "valid_from": date.today().isoformat(),
            "lines": [{"label": "x", "categories": ["kotiapu"], **line}],
        },
        headers=auth(keys.case_manager),
    )
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "invalid-input"
    assert await decision_rows(db) == before
