"""The right of access (GDPR article 15): a client downloads everything held about them, or a
case manager does it on the client's behalf (another organizer's client answers 404, as
everywhere). A carer acts for the client but is not the data subject, so gets no export.

``?format=json`` (the default) is a file download; ``?format=html`` a printable page in the
reader's language (``lang``, else ``Accept-Language``). Each download is audited
(``data_export.viewed``, with its format).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from payments.clock import utcnow
from payments.db import Database
from payments.errors import Forbidden
from payments.ledger.periods import HELSINKI
from payments.people.access import Actor
from payments.reporting import access_export
from wallet_api.auth import roles
from wallet_api.edge import inline_style_policy
from wallet_api.privacy import render, schemas
from wallet_api.problems import language_of
from wallet_api.reporting.render import PRINT_CSS

Format = Literal["json", "html"]
Language = Literal["fi", "sv", "en"]
DOC = {200: ResponseSpec(schemas.AccessExport, description="The export, or a printable page")}


def _answer(
    request: Request[Any, Any, Any],
    data: dict[str, Any],
    fmt: Format,
    name: str,
    lang: Language | None,
) -> Response[Any]:
    if fmt == "html":
        return Response(
            # The app's own language when it says so (a link opens with the browser's
            # Accept-Language, which need not be the one chosen in the app).
            render.export_html(data, lang or language_of(request)),
            media_type="text/html",
            headers=inline_style_policy(PRINT_CSS),
        )
    day = utcnow().astimezone(HELSINKI).date().isoformat()
    return Response(
        msgspec.convert(data, schemas.AccessExport),
        headers={"Content-Disposition": f'attachment; filename="{name}-{day}.json"'},
    )


@get("/api/me/export", guards=[roles("client")], tags=["privacy"], responses=DOC)
async def my_export(
    request: Request[Any, Any, Any],
    db: Database,
    actor: Actor,
    format: Format = "json",
    lang: Language | None = None,
) -> Response[Any]:
    """Everything the system holds about me: details, decisions, every transfer, charge,
    hold and request, statements, carers, trusted providers, cards, devices, sign-ins,
    notification settings and who looked at my data. Audited."""
    if actor.client_id is None:  # a client principal always names its client
        raise Forbidden("This account names no client")
    data = await access_export.export_client(
        db,
        organizer_id=actor.organizer_id,
        client_id=actor.client_id,
        requested_by=actor.principal_id,
        fmt=format,
    )
    return _answer(request, data, format, "my-data", lang)


@get(
    "/api/clients/{client_id:uuid}/export",
    guards=[roles("case_manager")],
    tags=["privacy"],
    responses=DOC,
)
async def client_export(
    request: Request[Any, Any, Any],
    client_id: uuid.UUID,
    db: Database,
    actor: Actor,
    format: Format = "json",
    lang: Language | None = None,
) -> Response[Any]:
    """A case manager's download of everything held about one of the organizer's clients,
    for the client's right-of-access request. Audited, and shown to the client."""
    data = await access_export.export_client(
        db,
        organizer_id=actor.organizer_id,
        client_id=client_id,
        requested_by=actor.principal_id,
        fmt=format,
    )
    return _answer(request, data, format, f"client-data-{client_id}", lang)


ROUTES = [my_export, client_export]
