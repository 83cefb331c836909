"""The case manager's audit log and monthly report as the screens use them: entries carry the
names of the people, provider and card they concern; the report's "spent" is one figure, net
of refunds, in the table, the CSV and the chart; the chart's labels fit under their bars and
write the use rate as the UI language does."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from lxml import etree

from payments.budgets import catalogue
from payments.clock import utcnow
from payments.models import Principal
from payments.people import audit
from payments.uow import UnitOfWork
from tests.factories import World, api_key_for
from tests.support.api import auth
from tests.support.money import charged, exactly, refund

SVG = {"s": "http://www.w3.org/2000/svg"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


def _first_by_action(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for e in entries:  # newest first: keep the newest of each action
        out.setdefault(e["action"], e)
    return out


async def test_audit_entries_name_who_and_what_they_concern(client, db, world: World) -> None:
    cm = auth(await api_key_for(db, world.case_manager))
    carer = await catalogue.create_principal(
        db, organizer_id=world.organizer_id, role="carer", display_name="Kalle Virtanen"
    )
    r = await client.put(
        f"/api/clients/{world.client_id}/mandates",
        json={"carer_id": str(carer), "scopes": ["view"]},
        headers=cm,
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"/api/clients/{world.client_id}", headers=cm)).status_code == 200
    r = await client.post(f"/api/wallets/{world.wallet_id}/cards", json={}, headers=cm)
    assert r.status_code == 201, r.text
    card = r.json()["card_number"]

    entries = (await client.get("/api/audit", headers=cm)).json()
    by = _first_by_action(entries)
    viewed = by["client.viewed"]
    assert (viewed["actor_name"], viewed["actor_role"]) == ("Liisa Ohjaaja", "case_manager")
    assert viewed["client_name"] == "Aino Virtanen"
    assert viewed["provider_name"] is None and viewed["person_name"] is None
    granted = by["mandate.granted"]
    assert (granted["person_name"], granted["person_role"]) == ("Kalle Virtanen", "carer")
    assert granted["client_name"] == "Aino Virtanen"
    trusted = by["trusted_provider.set"]  # the seed trusts both providers
    assert trusted["provider_name"] in {"Siivouspalvelu Kuura Oy", "Taksi Hiltunen"}
    assert trusted["client_name"] == "Aino Virtanen" and trusted["person_name"] is None
    assert by["card.issued"]["card_number"] == card
    # The names are names, never the ids that the details hold.
    for e in entries:
        for field in ("client_name", "provider_name", "person_name"):
            assert e[field] is None or not UUID.search(e[field]), e

    # A provider's staff member is "provider <principal id>" in some details: a person.
    await audit.record(
        db,
        action="staff.removed",
        actor_id=world.provider_principal,
        organizer_id=world.organizer_id,
        detail=f"provider {world.provider_principal}: sessions 1",
    )
    async with UnitOfWork(db, readonly=True) as uow:
        staff = await uow.session.get(Principal, world.provider_principal)
        assert staff is not None
    (removed,) = (await client.get("/api/audit?action=staff.removed", headers=cm)).json()
    assert (removed["person_name"], removed["person_role"]) == (staff.display_name, "provider")
    assert removed["provider_name"] is None

    # The filter still narrows by prefix, and the names come with it.
    cards = (await client.get("/api/audit?action=card.", headers=cm)).json()
    assert cards and {e["action"] for e in cards} == {"card.issued"}
    assert cards[0]["client_name"] == "Aino Virtanen"


async def test_report_spent_is_net_of_refunds_in_rows_csv_and_chart(
    client, db, world: World
) -> None:
    cm = auth(await api_key_for(db, world.case_manager))
    c = await charged(db, world, exactly(6500), now=utcnow())
    await refund(db, world, c, 300, now=utcnow())
    (row,) = (await client.get("/api/reports/months", headers=cm)).json()
    assert (row["spent_cents"], row["refunded_cents"]) == (6500, 300)
    assert row["spent_net_cents"] == 6200
    assert row["use_rate_pct"] == "20.7"  # 6200 / 30000
    r = await client.get("/api/reports/months?format=csv", headers=cm)
    (parsed,) = list(csv.DictReader(io.StringIO(r.text)))
    assert parsed["spent_net_cents"] == "6200"

    for lang, spent, rate, legend in (
        ("fi", "62,00\u00a0€", "20,7\u00a0%", "Käytetty (palautukset vähennetty)"),
        ("sv", "62,00\u00a0€", "20,7\u00a0%", "Använt (återbetalningar avdragna)"),
        ("en", "€62.00", "20.7%", "Spent (net of refunds)"),
    ):
        r = await client.get(
            f"/api/reports/months.svg?from={world.period}&to={world.period}",
            headers={**cm, "Accept-Language": lang},
        )
        svg = etree.fromstring(r.content)
        texts = ["".join(t.itertext()) for t in svg.iterfind(".//s:text", SVG)]
        assert legend in texts and spent in texts, texts
        # The month's label is three short lines under its bars: month, year, use rate.
        (label,) = [t for t in svg.iterfind(".//s:text", SVG) if t.find("s:tspan", SVG) is not None]
        lines = [s.text for s in label.iterfind("s:tspan", SVG)]
        assert lines[1] == world.period[:4] and lines[2] == rate, lines
        assert all(len(line) <= 12 for line in lines), lines
