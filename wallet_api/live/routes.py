"""Live events of the signed-in person: ``GET /api/events`` (Server-Sent Events), Web Push
subscriptions and notification preferences."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import Parameter
from litestar.response import ServerSentEvent
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from notifications import push, rules
from notifications.outbound import OutboundPolicy
from notifications.stream import event_stream
from payments.db import Database
from payments.errors import InvalidInput, NotFound
from payments.people.access import Actor
from wallet_api.auth import signed_in
from wallet_api.deps import MAX_ROW_ID
from wallet_api.live import schemas
from wallet_api.metrics import counted_stream


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
    return ServerSentEvent(
        counted_stream(stream), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


@get("/api/push/key", guards=[signed_in], tags=["push"])
async def vapid_key(request: Request[Any, Any, Any]) -> schemas.VapidKey:
    """The VAPID public key to pass to ``pushManager.subscribe`` as applicationServerKey."""
    key = getattr(request.app.state.settings, "vapid_public_key", None)
    if not key:
        raise NotFound("Web Push is not configured on this server")
    return schemas.VapidKey(public_key=key)


@post("/api/push/subscriptions", guards=[signed_in], tags=["push"], status_code=HTTP_201_CREATED)
async def add_subscription(
    request: Request[Any, Any, Any],
    data: schemas.PushSubscriptionCreate,
    db: Database,
    actor: Actor,
) -> schemas.PushSubscription:
    """Register this device for push notifications (again is fine: same endpoint, same row).

    The endpoint must be an https URL of a public host (``url-not-allowed``); a person has at
    most ten devices (``push-device-limit``); an endpoint another person registered first is
    refused (``push-endpoint-taken``)."""
    settings = request.app.state.settings
    sub_id = await push.subscribe(
        db,
        actor.principal_id,
        endpoint=data.endpoint,
        p256dh=data.keys.p256dh,
        auth=data.keys.auth,
        policy=OutboundPolicy(allow_loopback=settings.outbound_allow_loopback),
    )
    return schemas.PushSubscription(id=str(sub_id))


@delete(
    "/api/push/subscriptions", guards=[signed_in], tags=["push"], status_code=HTTP_204_NO_CONTENT
)
async def remove_subscription(
    db: Database,
    actor: Actor,
    endpoint: Annotated[str, Parameter(min_length=10, max_length=2000)],
) -> None:
    """Stop push notifications to one of your devices."""
    if not await push.unsubscribe(db, actor.principal_id, endpoint):
        raise NotFound("No such subscription")


@get("/api/notifications/preferences", guards=[signed_in], tags=["push"])
async def get_preferences(db: Database, actor: Actor) -> dict[str, Any]:
    """Your notification rules, defaults filled in."""
    return (await rules.get_preferences(db, actor.principal_id)).as_dict()


@put("/api/notifications/preferences", guards=[signed_in], tags=["push"])
async def put_preferences(
    data: schemas.PreferencesUpdate, db: Database, actor: Actor
) -> dict[str, Any]:
    """Change some of your notification rules; fields left out stay as they were."""
    low = data.low_balance_cents
    prefs = await rules.set_preferences(
        db,
        actor.principal_id,
        types=data.types,
        hide_amounts=data.hide_amounts,
        low_balance_cents=None if low is msgspec.UNSET or low is None else low,
        clear_low_balance=low is None,
        language=data.language,
    )
    return prefs.as_dict()


ROUTES = [
    events,
    vapid_key,
    add_subscription,
    remove_subscription,
    get_preferences,
    put_preferences,
]
