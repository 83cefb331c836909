"""Web Push subscriptions and notification preferences of the signed-in person."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from notifications import push, rules
from notifications.outbound import OutboundPolicy
from payments.db import Database
from payments.errors import NotFound
from payments.people.access import Actor
from wallet_api.auth import signed_in
from wallet_api.deps import strict_body


class PushKeys(msgspec.Struct):
    p256dh: Annotated[str, msgspec.Meta(max_length=200)]
    auth: Annotated[str, msgspec.Meta(max_length=100)]


class PushSubscriptionIn(msgspec.Struct):
    """The browser's ``PushSubscription.toJSON()``."""

    endpoint: Annotated[str, msgspec.Meta(min_length=10, max_length=2000)]
    keys: PushKeys
    expirationTime: int | None = None


class PushSubscriptionOut(msgspec.Struct):
    id: str


class VapidKey(msgspec.Struct):
    public_key: str


class PreferencesIO(msgspec.Struct, omit_defaults=True):
    """Notification rules: type on/off, hide amounts on the lock screen, low-balance threshold
    in cents (null: a fifth of the month's budget), language of notifications."""

    types: dict[str, bool] | None = None
    hide_amounts: bool | None = None
    low_balance_cents: int | msgspec.UnsetType | None = msgspec.UNSET
    language: str | None = None


@get("/api/push/key", guards=[signed_in], tags=["push"])
async def vapid_key(request: Request[Any, Any, Any]) -> VapidKey:
    """The VAPID public key to pass to ``pushManager.subscribe`` as applicationServerKey."""
    key = getattr(request.app.state.settings, "vapid_public_key", None)
    if not key:
        raise NotFound("Web Push is not configured on this server")
    return VapidKey(public_key=key)


@post("/api/push/subscriptions", guards=[signed_in], tags=["push"], status_code=HTTP_201_CREATED)
async def add_subscription(
    request: Request[Any, Any, Any], db: Database, actor: Actor
) -> PushSubscriptionOut:
    """Register this device for push notifications (again is fine: same endpoint, same row).

    The endpoint must be an https URL of a public host (``url-not-allowed``); a person has at
    most ten devices (``push-device-limit``); an endpoint another person registered first is
    refused (``push-endpoint-taken``)."""
    body = await strict_body(request, PushSubscriptionIn)
    settings = request.app.state.settings
    sub_id = await push.subscribe(
        db,
        actor.principal_id,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        policy=OutboundPolicy(allow_loopback=settings.outbound_allow_loopback),
    )
    return PushSubscriptionOut(id=str(sub_id))


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
    request: Request[Any, Any, Any], db: Database, actor: Actor
) -> dict[str, Any]:
    """Change some of your notification rules; fields left out stay as they were."""
    body = await strict_body(request, PreferencesIO)
    low = body.low_balance_cents
    prefs = await rules.set_preferences(
        db,
        actor.principal_id,
        types=body.types,
        hide_amounts=body.hide_amounts,
        low_balance_cents=None if low is msgspec.UNSET or low is None else low,
        clear_low_balance=low is None,
        language=body.language,
    )
    return prefs.as_dict()


ROUTES = [vapid_key, add_subscription, remove_subscription, get_preferences, put_preferences]
