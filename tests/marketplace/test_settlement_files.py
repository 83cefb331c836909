"""The county downloads its settlement files over HTTP: the CSV for the books and the pain.001
bank file, only its own, only as a case manager."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from lxml import etree

from payments.clock import utcnow
from payments.db import Database
from payments.ledger.periods import HELSINKI
from payments.marketplace import settlements
from tests.factories import add_bank_profile
from tests.support.api import auth
from tests.support.money import charged, exactly, refund
from wallet_api.app import create_app
from wallet_api.settings import Settings

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}
_DAY = date(2031, 1, 7)


def _settings(url: str, **extra: Any) -> Settings:
    base = Settings(
        database_url=url,
        redis_url=None,
        scheduler=False,
        scheduler_interval_s=300,
        max_body_bytes=64 * 1024,
    )
    return replace(base, **extra)


@pytest.fixture
async def paying_client(db: Database) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(
        _settings(
            db.url,
            settlement_debtor_name="Kainuun hyvinvointialue",
            settlement_debtor_iban="FI4950009420028730",
            settlement_debtor_bic="OKOYFIHH",
        )
    )
    async with AsyncTestClient(app=app) as c:
        yield c


async def _settled(db: Database, world) -> str:
    await add_bank_profile(db, world)
    c = await charged(db, world, exactly(3000), now=utcnow())
    await refund(db, world, c, 500, now=utcnow())
    today = utcnow().astimezone(HELSINKI).date()
    run = await settlements.settle_providers(db, today)
    (s,) = run.settled
    assert s.amount_cents == 2500
    return today.isoformat()


async def test_case_manager_downloads_csv_and_a_valid_bank_file(paying_client, db, world, keys):
    until = await _settled(db, world)
    r = await paying_client.get(
        "/api/settlements/files", params={"until": until}, headers=auth(keys.case_manager)
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(r.text)))
    assert row["amount_cents"] == "2500" and row["amount_eur"] == "25.00"
    r = await paying_client.get(
        "/api/settlements/files",
        params={"until": until, "format": "pain001", "execution_date": until},
        headers=auth(keys.case_manager),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    doc = etree.fromstring(r.content)
    assert doc.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS) == "25.00"
    # The RF reference where the provider's bank matches it: a structured creditor reference.
    assert doc.findtext(".//p:RmtInf/p:Strd/p:CdtrRefInf/p:Ref", namespaces=NS) == row["reference"]
    assert doc.findtext(".//p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == "FI4950009420028730"


async def test_files_are_the_county_managers_only(paying_client, db, world, keys):
    until = await _settled(db, world)
    for who in (keys.provider, keys.client, keys.carer_view):
        r = await paying_client.get(
            "/api/settlements/files", params={"until": until}, headers=auth(who)
        )
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
    # Another county's case manager finds nothing to pay up to that day.
    r = await paying_client.get(
        "/api/settlements/files", params={"until": until}, headers=auth(keys.foreign_case_manager)
    )
    assert r.status_code == 404


async def test_bad_dates_and_a_missing_paying_account_are_clear_problems(client, db, world, keys):
    until = await _settled(db, world)
    cm = auth(keys.case_manager, **{"Accept-Language": "fi"})
    for bad in ("2026-13-01", "tomorrow", "2026-02-30"):
        r = await client.get("/api/settlements/files", params={"until": bad}, headers=cm)
        assert r.status_code == 400, bad
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/api/settlements/files", params={"until": "2020-01-01"}, headers=cm)
    assert r.status_code == 404
    # The plain app has no paying account configured: a bank file cannot be made.
    r = await client.get(
        "/api/settlements/files", params={"until": until, "format": "pain001"}, headers=cm
    )
    assert r.status_code == 409
    body = r.json()
    assert body["type"].endswith("no-paying-account")
    assert "maksutili" in body["title"]


def test_each_payment_carries_its_rf_reference_as_a_structured_creditor_reference():
    """pain.001's RmtInf/Strd/CdtrRefInf with type SCOR (ISO 11649) and the RF reference, no
    free text beside it (EPC: one or the other), and the file still valid against the XSD."""
    import xmlschema
    from sepaxml import validation

    debtor = settlements.Debtor(
        name="Kainuun hyvinvointialue", iban="FI4950009420028730", bic="OKOYFIHH"
    )
    common = {"organizer_id": None, "business_id": "1234567-1", "bic": "", "until": _DAY}
    items = [
        settlements.Payout(
            settlement_id=None,  # type: ignore[arg-type]
            provider_id=None,  # type: ignore[arg-type]
            provider_name=name,
            iban=iban,
            reference=ref,
            amount_cents=cents,
            **common,  # type: ignore[arg-type]
        )
        for name, iban, ref, cents in (
            ("Taksi Hiltunen", "FI2112345600000785", "RF18539007547034", 3500),
            ("Siivouspalvelu Kuura Oy", "FI5810171000000122", "RF712348231", 1250),
        )
    ]
    xml = settlements.pain001(debtor, items, _DAY)
    schema = xmlschema.XMLSchema(
        f"{validation.__file__.rsplit('/', 1)[0]}/schemas/pain.001.001.03.xsd"
    )
    schema.validate(xml.decode())
    doc = etree.fromstring(xml)
    txs = doc.findall(".//p:CdtTrfTxInf", namespaces=NS)
    assert len(txs) == 2
    for tx, item in zip(txs, items, strict=True):
        assert tx.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == item.iban
        ref = tx.find("p:RmtInf/p:Strd/p:CdtrRefInf", namespaces=NS)
        assert ref is not None
        assert ref.findtext("p:Tp/p:CdOrPrtry/p:Cd", namespaces=NS) == "SCOR"
        assert ref.findtext("p:Tp/p:Issr", namespaces=NS) == "ISO"
        assert ref.findtext("p:Ref", namespaces=NS) == item.reference
        assert tx.findall("p:RmtInf/p:Ustrd", namespaces=NS) == []
