"""Client statements (JSON, CSV, printable HTML), reports (per month, per provider, per
client) and SVG charts. What is rendered besides JSON is built in ``render``.

A statement is seen by the client, a carer with ``view`` and the organizer's case managers
(``read_wallet``); a read by anyone but the client is audited, as for every wallet read.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from payments.db import Database
from payments.errors import InvalidInput
from payments.ledger.periods import current_period, previous_period
from payments.people import audit
from payments.people.access import Actor
from payments.reporting import ledger_export, reports, statements
from payments.reporting.statements import Statement
from wallet_api.auth import read_wallet, roles
from wallet_api.edge import inline_style_policy
from wallet_api.problems import language_of
from wallet_api.reporting import render, schemas
from wallet_api.types import MONTH

READERS = roles("client", "carer", "case_manager")
CASE_MANAGER = roles("case_manager")
_MONTH_PATH = re.compile(r"^(\d{4}-(?:0[1-9]|1[0-2]))(?:\.(json|csv|html))?$")
Format = Literal["json", "csv", "html"]


def _month_param(text: str) -> tuple[str, str | None]:
    m = _MONTH_PATH.match(text)
    if not m:
        raise InvalidInput(
            "The month must be YYYY-MM, optionally with .json, .csv or .html",
            slug="invalid-period",
        )
    return m.group(1), m.group(2)


class StatementController(Controller):
    path = "/api/wallets"
    tags = ["statements"]

    @get("/{wallet_id:uuid}/statements", guards=[READERS])
    async def list_statements(
        self, wallet_id: uuid.UUID, db: Database, actor: Actor
    ) -> list[dict[str, Any]]:
        """The months this wallet has a statement for, newest first, and whether each month
        is over (``closed``)."""
        await read_wallet(db, actor, wallet_id, "statement.viewed")
        return await statements.statement_months(db, wallet_id)

    @get(
        "/{wallet_id:uuid}/statements/{period:str}",
        guards=[READERS],
        response_model=None,
        # The union return type would be documented as oneOf [Statement, {}], which every
        # object matches twice (tests/reliability/test_fuzz.py): document the JSON form.
        responses={200: ResponseSpec(Statement, description="The statement, or CSV/HTML")},
    )
    async def get_statement(
        self,
        request: Request[Any, Any, Any],
        wallet_id: uuid.UUID,
        period: str,
        db: Database,
        actor: Actor,
        format: Format | None = None,
    ) -> Statement | Response[str] | Response[bytes]:
        """One month's statement: per envelope opening balance, funded, each charge (date,
        provider, service, quantity, amount, own share) and refund, expired, and closing
        balance. ``YYYY-MM.csv`` or ``?format=csv`` for a spreadsheet, ``.html`` or
        ``?format=html`` for a printable page in the viewer's language."""
        month, suffix = _month_param(period)
        fmt = format or suffix or "json"
        await read_wallet(db, actor, wallet_id, "statement.viewed")
        lang = language_of(request)
        st = await statements.statement(db, wallet_id, month, language=lang)
        if fmt == "csv":
            return render.csv_response(render.statement_csv(st), f"statement-{month}")
        if fmt == "html":
            return Response(
                render.statement_html(st, lang),
                media_type="text/html",
                headers=inline_style_policy(render.PRINT_CSS),
            )
        return st

    @get("/{wallet_id:uuid}/chart.svg", guards=[READERS], response_model=None)
    async def wallet_chart(
        self,
        request: Request[Any, Any, Any],
        wallet_id: uuid.UUID,
        db: Database,
        actor: Actor,
        months: Annotated[int, Parameter(ge=1, le=24)] = 6,
    ) -> Response[str]:
        """This month and the ``months - 1`` before it: granted vs spent (net of refunds), as
        an SVG bar chart for the app."""
        await read_wallet(db, actor, wallet_id, "wallet.viewed")
        lang = language_of(request)
        periods = [current_period()]
        while len(periods) < months:
            periods.append(previous_period(periods[-1]))
        periods.reverse()
        totals = await statements.wallet_totals(db, wallet_id)
        zero = statements.Flow()
        granted = [totals.get(p, zero).funded for p in periods]
        spent = [totals.get(p, zero).spent - totals.get(p, zero).refunded for p in periods]
        return render.svg_response(render.wallet_chart(periods, granted, spent, lang))


class ReportController(Controller):
    path = "/api/reports"
    tags = ["reports"]

    @get(
        "/months",
        guards=[CASE_MANAGER],
        response_model=None,
        # The union return type would be documented as oneOf [rows, {}], which every array
        # matches twice (found by the schemathesis run): document the JSON rows.
        responses={200: ResponseSpec(list[schemas.MonthRow], description="Rows, or CSV")},
    )
    async def months(
        self,
        db: Database,
        actor: Actor,
        from_period: Annotated[str | None, Parameter(query="from", pattern=MONTH)] = None,
        to_period: Annotated[str | None, Parameter(query="to", pattern=MONTH)] = None,
        format: Literal["json", "csv"] = "json",
    ) -> list[schemas.MonthRow] | Response[bytes]:
        """Per month x services of a budget line: allotted, funded, spent, refunded, expired
        and the use rate, from the ledger (``format=csv`` for a spreadsheet)."""
        rows = await reports.monthly_report(
            db, organizer_id=actor.organizer_id, from_period=from_period, to_period=to_period
        )
        if format == "csv":
            return render.csv_response(reports.to_csv(rows, reports.MonthRow), "report-months")
        return [schemas.MonthRow(**vars(r)) for r in rows]

    @get(
        "/providers",
        guards=[CASE_MANAGER],
        response_model=None,
        responses={200: ResponseSpec(list[schemas.ProviderRow], description="Rows, or CSV")},
    )
    async def by_provider(
        self,
        db: Database,
        actor: Actor,
        from_period: Annotated[str | None, Parameter(query="from", pattern=MONTH)] = None,
        to_period: Annotated[str | None, Parameter(query="to", pattern=MONTH)] = None,
        format: Literal["json", "csv"] = "json",
    ) -> list[schemas.ProviderRow] | Response[bytes]:
        """Per month x provider: earned, refunded, net and settled (``format=csv``)."""
        rows = await reports.provider_report(
            db, organizer_id=actor.organizer_id, from_period=from_period, to_period=to_period
        )
        if format == "csv":
            return render.csv_response(
                reports.to_csv(rows, reports.ProviderRow), "report-providers"
            )
        return [schemas.ProviderRow(**vars(r)) for r in rows]

    @get(
        "/clients/{client_id:uuid}",
        guards=[CASE_MANAGER],
        response_model=None,
        responses={200: ResponseSpec(list[dict[str, Any]], description="Rows, or CSV")},
    )
    async def client_report(
        self,
        client_id: uuid.UUID,
        db: Database,
        actor: Actor,
        from_period: Annotated[str | None, Parameter(query="from", pattern=MONTH)] = None,
        to_period: Annotated[str | None, Parameter(query="to", pattern=MONTH)] = None,
        format: Literal["json", "csv"] = "json",
    ) -> list[dict[str, Any]] | Response[bytes]:
        """Per month x envelope of one client: allotted, funded, spent, refunded, expired and
        the use rate, for reviewing whether the budget fits (``format=csv``). Audited."""
        rows = await reports.client_report(
            db,
            organizer_id=actor.organizer_id,
            client_id=client_id,
            from_period=from_period,
            to_period=to_period,
        )
        await audit.record(
            db,
            action="client_report.viewed",
            actor_id=actor.principal_id,
            organizer_id=actor.organizer_id,
            subject_client_id=client_id,
        )
        if format == "csv":
            return render.csv_response(
                reports.to_csv(rows, reports.ClientRow), f"report-client-{client_id}"
            )
        return [asdict(r) for r in rows]

    @get("/ledger", guards=[CASE_MANAGER], response_model=None)
    async def ledger(
        self,
        db: Database,
        actor: Actor,
        month: Annotated[str, Parameter(pattern=MONTH)],
        part: Literal["journal", "totals"] = "journal",
    ) -> Response[bytes]:
        """One budget month of the county's ledger for its accounting system, as CSV with a
        BOM: the journal (a debit and a credit line per transfer, grouped per account) or the
        totals per account and transfer kind, which reconcile to ``wallet check``. The same
        files as ``wallet export-ledger``."""
        export = await ledger_export.export_ledger(db, actor.organizer_id, month)
        journal_stem, totals_stem = export.file_stems
        if part == "totals":
            return render.csv_response(export.totals_csv, totals_stem)
        return render.csv_response(export.journal_csv, journal_stem)

    @get("/months.svg", guards=[CASE_MANAGER], response_model=None)
    async def months_chart(
        self,
        request: Request[Any, Any, Any],
        db: Database,
        actor: Actor,
        from_period: Annotated[str | None, Parameter(query="from", pattern=MONTH)] = None,
        to_period: Annotated[str | None, Parameter(query="to", pattern=MONTH)] = None,
    ) -> Response[str]:
        """The monthly report as an SVG bar chart: granted vs spent (net of refunds) per
        month over every service group, with the use rate in the month's label."""
        lang = language_of(request)
        to_period = to_period or current_period()
        if from_period is None:
            from_period = to_period
            for _ in range(5):
                from_period = previous_period(from_period)
        rows = await reports.monthly_report(
            db, organizer_id=actor.organizer_id, from_period=from_period, to_period=to_period
        )
        per: dict[str, list[int]] = {}
        for r in rows:
            agg = per.setdefault(r.period, [0, 0, 0])
            agg[0] += r.funded_cents
            agg[1] += r.spent_cents
            agg[2] += r.refunded_cents
        return render.svg_response(render.months_chart(per, lang))


ROUTES = [StatementController, ReportController]
