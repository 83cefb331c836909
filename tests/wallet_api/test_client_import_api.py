"""The case manager's client import (POST /api/clients/import): a dry run by default, the
refused rows in the problem document, the county's own clients only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from payments.db import Database
from payments.models import Client
from payments.uow import UnitOfWork
from tests.factories import World
from tests.support.api import Keys, auth

HEADER = (
    "client_ref;first_name;last_name;phone;decision_ref;valid_from;label;categories;"
    "monthly_amount\n"
)
FILE = (
    HEADER
    + "K-1;Eino;Korhonen;040 765 4321;D-1;1.1.2024;Siivous;siivous;150,00\n"
    + "K-2;Helmi;Nieminen;050 111 2233;;;;;\n"
).encode()
CSV = {"Content-Type": "text/csv; charset=utf-8"}


async def _clients(db: Database) -> int:
    async with UnitOfWork(db, readonly=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Client)) or 0)


async def test_a_dry_run_then_the_import_then_nothing_new(
    client: Any, keys: Keys, world: World, db: Database
) -> None:
    before = await _clients(db)
    headers = {**auth(keys.case_manager), **CSV}
    dry = await client.post("/api/clients/import", content=FILE, headers=headers)
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True
    assert (body["clients_created"], body["decisions_created"]) == (2, 1)
    assert body["rows"][0] == {
        "line": "line 2",
        "client_ref": "K-1",
        "client": "created",
        "decision_ref": "D-1",
        "decision": "created",
    }
    assert await _clients(db) == before

    done = await client.post("/api/clients/import?apply=true", content=FILE, headers=headers)
    assert done.status_code == 200 and done.json()["dry_run"] is False
    assert await _clients(db) == before + 2
    again = await client.post("/api/clients/import?apply=true", content=FILE, headers=headers)
    assert (again.json()["clients_unchanged"], again.json()["decisions_unchanged"]) == (2, 1)
    assert await _clients(db) == before + 2


async def test_refused_rows_are_a_problem_that_lists_them(
    client: Any, keys: Keys, world: World, db: Database
) -> None:
    before = await _clients(db)
    bad = HEADER + "K-1;Eino;Korhonen;12;;;;;\nK-2;Helmi;Nieminen;050 111 2233;D-2;x;S;sauna;1\n"
    r = await client.post(
        "/api/clients/import?apply=true",
        content=bad.encode(),
        headers={**auth(keys.case_manager), **CSV},
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == "invalid-input"
    assert problem["refused"] == [
        "line 2: Not a valid phone number",
        "line 3: valid_from must be a date such as 2026-12-01 or 1.12.2026",
    ]
    # The same rows for a person's language: a code and its params, the English as "text".
    assert problem["refused_rows"] == [
        {
            "line": 2,
            "code": "phone-invalid",
            "column": "phone",
            "value": "12",
            "params": {"column": "phone", "value": "12"},
            "text": "line 2: Not a valid phone number",
        },
        {
            "line": 3,
            "code": "date-invalid",
            "column": "valid_from",
            "value": "x",
            "params": {"column": "valid_from", "value": "x"},
            "text": "line 3: valid_from must be a date such as 2026-12-01 or 1.12.2026",
        },
    ]
    assert await _clients(db) == before
    # A file sent as anything but text/csv is refused before it is read.
    json_typed = await client.post(
        "/api/clients/import",
        content=FILE,
        headers={**auth(keys.case_manager), "Content-Type": "text/plain"},
    )
    assert json_typed.status_code == 415


async def test_a_provider_or_another_county_cannot_import(
    client: Any, keys: Keys, world: World, db: Database
) -> None:
    before = await _clients(db)
    r = await client.post(
        "/api/clients/import?apply=true", content=FILE, headers={**auth(keys.provider), **CSV}
    )
    assert r.status_code == 403
    # Another county's case manager imports into its own county, never into this one.
    r = await client.post(
        "/api/clients/import?apply=true",
        content=FILE,
        headers={**auth(keys.foreign_case_manager), **CSV},
    )
    assert r.status_code == 400  # its county has no category 'siivous'
    assert r.json()["refused"] == ["line 2: no service category or group 'siivous'"]
    assert await _clients(db) == before
