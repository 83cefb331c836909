"""The provider's side of the one lookup gate, shared by every route that takes a phone
number, payment code or card number (charges and checkout)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from payments.checkout import lookups
from payments.checkout.lookups import Lookup, LookupKind
from payments.db import Database
from payments.people.access import Actor
from payments.people.ratelimits import RateLimited
from wallet_api.metrics import LOOKUPS_REFUSED


@asynccontextmanager
async def customer_lookup(
    db: Database, actor: Actor, kind: LookupKind, *, discloses: bool = False
) -> AsyncIterator[Lookup]:
    """The provider's lookup of a client through the one gate (limited before, audited):
    :func:`payments.checkout.lookups.customer_lookup`. Every route that takes a phone number,
    payment code or card number runs its use case inside this. A lookup the gate refuses is
    counted (``wallet_lookups_refused_total``)."""
    entered = False
    try:
        async with lookups.customer_lookup(
            db,
            kind=kind,
            organizer_id=actor.organizer_id,
            provider_id=provider_of(actor),
            actor_id=actor.principal_id,
            discloses=discloses,
        ) as lookup:
            entered = True
            yield lookup
    except RateLimited:
        if not entered:
            LOOKUPS_REFUSED.labels(str(kind)).inc()
        raise


def provider_of(actor: Actor) -> uuid.UUID:
    assert actor.provider_id is not None
    return actor.provider_id
