"""Dependencies shared by the controllers."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.params import Parameter

from payments.db import Database
from payments.errors import InvalidInput
from payments.idempotency import request_fingerprint
from payments.people.access import Actor
from payments.results import Happened, Outcome

S = TypeVar("S", bound=msgspec.Struct)

# Every retryable money write takes this header; validated by payments.idempotency.
IdempotencyKey = Annotated[
    str | None,
    Parameter(
        header="Idempotency-Key",
        required=False,
        description="Required. A unique key per write; a retry with the same key and body "
        "returns the first result.",
    ),
]


# The status code for what a use case did (payments.results): the web's words for it.
STATUS: dict[Happened, int] = {
    Happened.CREATED: 201,
    Happened.PENDING_APPROVAL: 202,
    Happened.DONE: 200,
    Happened.ALREADY_DONE: 200,
}


def respond(
    outcome: Outcome, struct: type[msgspec.Struct], body: dict[str, Any] | None = None
) -> Response[Any]:
    """The answer of a use case: its status code by what happened, the body as ``struct``, and
    ``Idempotent-Replayed`` when it repeats an earlier answer."""
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(
        msgspec.convert(outcome.body if body is None else body, struct),
        status_code=STATUS[outcome.what],
        headers=headers,
    )


def provide_db(state: State) -> Database:
    db: Database = state.db
    return db


def provide_actor(request: Request[Any, Any, Any], db: Database) -> Actor:
    """The signed-in principal (``ApiKeyAuthentication`` put it on the scope).

    ``db`` is not used: naming it makes the actor depend on the database, so Litestar resolves
    the two one after the other. As one batch of two independent providers it starts an anyio
    task group on every request that needs both (most routes), for two providers that only
    read an attribute: about 0.1 ms of CPU per request, more than the two providers take
    (measured in isolation; ``tests/unit/test_dependency_batches.py`` keeps it so).
    """
    actor: Actor = request.scope["user"]
    return actor


def fingerprint(request: Request[Any, Any, Any], data: msgspec.Struct) -> str:
    """The request's identity for idempotency: route and canonical body, not raw bytes."""
    return request_fingerprint(request.url.path, msgspec.json.encode(data, order="sorted"))


# The largest row id a query parameter may name: ids are 64-bit, and a bigger number would
# reach the database driver as an overflow (a 500) instead of a refusal.
MAX_ROW_ID = 2**63 - 1


async def strict_body(request: Request[Any, Any, Any], struct: type[S]) -> S:
    """Decode the body again in msgspec's strict mode.

    Litestar converts bodies leniently (``"3500"`` becomes ``3500``); money must not guess, so
    money routes accept only real JSON integers for cents. The body bytes are cached by the
    request, so this is one more decode, not one more read.
    """
    try:
        return msgspec.json.decode(await request.body(), type=struct, strict=True)
    except msgspec.DecodeError as exc:  # wrong values, and empty or malformed JSON alike
        raise InvalidInput(str(exc)) from exc
