"""Dependencies shared by the controllers."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import State

from payments.access import Actor
from payments.db import Database
from payments.idempotency import request_fingerprint


def provide_db(state: State) -> Database:
    db: Database = state.db
    return db


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    actor: Actor = request.scope["user"]
    return actor


def fingerprint(request: Request[Any, Any, Any], data: msgspec.Struct) -> str:
    """The request's identity for idempotency: route and canonical body, not raw bytes."""
    return request_fingerprint(request.url.path, msgspec.json.encode(data, order="sorted"))
