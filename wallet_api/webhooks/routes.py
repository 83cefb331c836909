"""Webhook routes (issue 18): a case manager with the admin right manages their own
organizer's endpoints, reads each one's delivery log and replays a delivery.

Thin controllers over ``notifications.webhooks``, which checks the admin right again from the
row. Another organizer's endpoint or delivery is a row that does not exist (404, also from the
guard). The signing secret is in the answer that creates an endpoint and nowhere else.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED

from notifications import webhooks
from notifications.outbound import OutboundPolicy
from payments.db import Database
from payments.outbox import EVENT_TYPES
from payments.people.access import Actor
from wallet_api.auth import admins_only
from wallet_api.settings import Settings
from wallet_api.webhooks import schemas

E = "/api/webhooks/{endpoint_id:uuid}"


def _endpoint_out(e: webhooks.Endpoint) -> schemas.WebhookEndpoint:
    return msgspec.convert(e, schemas.WebhookEndpoint, from_attributes=True)


def _delivery_out(d: webhooks.Delivery) -> schemas.WebhookDelivery:
    return msgspec.convert(d, schemas.WebhookDelivery, from_attributes=True)


@get("/api/webhooks", guards=[admins_only], tags=["webhooks"])
async def list_endpoints(db: Database, actor: Actor) -> schemas.WebhookEndpoints:
    """The organizer's webhook endpoints (never their secrets), with how many deliveries wait
    and failed, and the event types an endpoint may subscribe to."""
    found = await webhooks.list_endpoints(db, actor.organizer_id)
    return schemas.WebhookEndpoints(
        items=[_endpoint_out(e) for e in found],
        event_types=list(EVENT_TYPES),
        max_endpoints=webhooks.MAX_ENDPOINTS,
    )


@post("/api/webhooks", guards=[admins_only], tags=["webhooks"], status_code=HTTP_201_CREATED)
async def create_endpoint(
    request: Request[Any, Any, Any], data: schemas.WebhookEndpointCreate, db: Database, actor: Actor
) -> schemas.WebhookEndpointCreated:
    """Add an endpoint: an https URL of a public host (``url-not-allowed``) and its event
    types. The answer holds the signing secret, shown this once. At most ten per organizer
    (``webhook-endpoint-limit``). Audited."""
    body = data
    settings: Settings = request.app.state.settings
    endpoint, secret = await webhooks.create_endpoint(
        db,
        organizer_id=actor.organizer_id,
        actor_id=actor.principal_id,
        url=body.url,
        event_types=body.event_types,
        policy=OutboundPolicy(allow_loopback=settings.outbound_allow_loopback),
    )
    return schemas.WebhookEndpointCreated(endpoint=_endpoint_out(endpoint), secret=secret)


@patch(E, guards=[admins_only], tags=["webhooks"])
async def update_endpoint(
    endpoint_id: uuid.UUID, data: schemas.WebhookEndpointUpdate, db: Database, actor: Actor
) -> schemas.WebhookEndpoint:
    """Turn an endpoint on or off, or change its event types. Audited."""
    body = data
    found = await webhooks.update_endpoint(
        db,
        organizer_id=actor.organizer_id,
        actor_id=actor.principal_id,
        endpoint_id=endpoint_id,
        enabled=body.enabled,
        event_types=body.event_types,
    )
    return _endpoint_out(found)


@delete(E, guards=[admins_only], tags=["webhooks"])
async def delete_endpoint(endpoint_id: uuid.UUID, db: Database, actor: Actor) -> None:
    """Delete an endpoint and its delivery log. Audited."""
    await webhooks.delete_endpoint(
        db, organizer_id=actor.organizer_id, actor_id=actor.principal_id, endpoint_id=endpoint_id
    )


@get(E + "/deliveries", guards=[admins_only], tags=["webhooks"])
async def list_deliveries(
    endpoint_id: uuid.UUID,
    db: Database,
    actor: Actor,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    cursor: Annotated[str | None, Parameter(max_length=400)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
) -> schemas.WebhookDeliveryPage:
    """An endpoint's deliveries, newest first (``status`` filters); pages with
    ``next_cursor``. Each has its ``webhook-id`` (the event id), attempts, the last answer
    and, while pending, when it is tried next."""
    page = await webhooks.list_deliveries(
        db,
        organizer_id=actor.organizer_id,
        endpoint_id=endpoint_id,
        status=status,
        cursor=cursor,
        limit=limit,
    )
    return schemas.WebhookDeliveryPage(
        items=[_delivery_out(d) for d in page.items], next_cursor=page.next_cursor
    )


@post(E + "/ping", guards=[admins_only], tags=["webhooks"], status_code=HTTP_202_ACCEPTED)
async def ping_endpoint(
    endpoint_id: uuid.UUID, db: Database, actor: Actor
) -> schemas.WebhookDelivery:
    """Queue a test delivery (``webhook.ping``) to the endpoint; it shows in the log."""
    found = await webhooks.ping(
        db, organizer_id=actor.organizer_id, actor_id=actor.principal_id, endpoint_id=endpoint_id
    )
    return _delivery_out(found)


@post(
    "/api/webhooks/deliveries/{delivery_id:uuid}/replay",
    guards=[admins_only],
    tags=["webhooks"],
    status_code=HTTP_202_ACCEPTED,
)
async def replay_delivery(
    delivery_id: uuid.UUID, db: Database, actor: Actor
) -> schemas.WebhookDelivery:
    """Send a delivery again now, with a fresh retry schedule and the same ``webhook-id`` and
    body (receivers drop what they already have). A disabled endpoint's is refused
    (``webhook-endpoint-disabled``). Audited."""
    found = await webhooks.replay(
        db, organizer_id=actor.organizer_id, actor_id=actor.principal_id, delivery_id=delivery_id
    )
    return _delivery_out(found)


ROUTES = [
    list_endpoints,
    create_endpoint,
    update_endpoint,
    delete_endpoint,
    list_deliveries,
    ping_endpoint,
    replay_delivery,
]
