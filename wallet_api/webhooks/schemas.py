"""Bodies of the webhook routes: endpoints (the secret only in the answer that creates one),
the delivery log and the event types an endpoint may subscribe to."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from payments.outbox import EVENT_TYPES
from wallet_api.types import ONE_LINE

EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
# At least one type, each at most once (the use case orders them).
EventTypes = Annotated[list[EventType], msgspec.Meta(min_length=1, max_length=len(EVENT_TYPES))]
# One line without control characters (the outbound policy then checks the URL itself).
Url = Annotated[str, msgspec.Meta(min_length=10, max_length=2000, pattern=ONE_LINE)]


class WebhookEndpointCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new endpoint: an https URL of a public host and the event types it receives."""

    url: Url
    event_types: EventTypes


class WebhookEndpointUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """Turn an endpoint on or off, or change its event types (each optional)."""

    enabled: bool | None = None
    event_types: EventTypes | None = None


class WebhookEndpoint(msgspec.Struct):
    id: uuid.UUID
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    pending: int
    failed: int


class WebhookEndpointCreated(msgspec.Struct):
    """The new endpoint and its signing secret, shown only in this answer."""

    endpoint: WebhookEndpoint
    secret: str


class WebhookEndpoints(msgspec.Struct):
    """The organizer's endpoints, the event types there are, and how many endpoints it may
    have."""

    items: list[WebhookEndpoint]
    event_types: list[str]
    max_endpoints: int


class WebhookDelivery(msgspec.Struct):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: int | None
    webhook_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookDeliveryPage(msgspec.Struct):
    items: list[WebhookDelivery]
    next_cursor: str | None
