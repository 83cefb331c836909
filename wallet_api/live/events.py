"""``GET /api/events``: the signed-in person's live events as Server-Sent Events."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from notifications.stream import event_stream
from payments.db import Database
from payments.errors import InvalidInput
from payments.people.access import Actor
from wallet_api.auth import signed_in
from wallet_api.deps import MAX_ROW_ID


def _last_event_id(request: Request[Any, Any, Any], query: int | None) -> int | None:
    # Browsers send the header on reconnect; the query parameter serves the first connect.
    header = request.headers.get("last-event-id")
    if header is None or header.strip() == "":
        return query
    try:
        value = int(header.strip())
    except ValueError as exc:
        raise InvalidInput("Last-Event-ID must be an event id") from exc
    if not 0 <= value <= MAX_ROW_ID:
        raise InvalidInput("Last-Event-ID must be an event id")
    return value


@get(
    "/api/events",
    guards=[signed_in],
    tags=["events"],
    media_type="text/event-stream",
    opt={"session_touch": False},
)
async def events(
    request: Request[Any, Any, Any],
    db: Database,
    actor: Actor,
    last_event_id: Annotated[
        int | None,
        Parameter(
            ge=0,
            le=MAX_ROW_ID,
            description="Resume after this event id (like the Last-Event-ID header)",
        ),
    ] = None,
) -> ServerSentEvent:
    """Live events for the caller: a client's wallet, a carer's wallets under a ``view``
    mandate, a provider's own charges, a case manager's organizer.

    Each SSE ``id`` is the event's outbox id; with ``Last-Event-ID`` the stream first replays
    what was missed. Comments every ~15 s keep proxies from closing it.
    """
    live = request.app.state.live
    stream = event_stream(
        db,
        live.hub,
        actor,
        last_event_id=_last_event_id(request, last_event_id),
        heartbeat_s=live.heartbeat_s,
    )
    return ServerSentEvent(stream, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
