"""Dependencies shared by the controllers."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.dto import AbstractDTO
from litestar.exceptions import ImproperlyConfiguredException
from litestar.openapi.spec import Reference, Schema
from litestar.params import Parameter
from litestar.plugins import SerializationPlugin
from litestar.typing import FieldDefinition

from payments.db import Database
from payments.errors import InvalidInput
from payments.idempotency import request_fingerprint
from payments.people.access import Actor
from payments.results import Happened, Outcome
from wallet_api.types import StrictBody, plain_message

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


class _StrictDTO(AbstractDTO[S]):
    """Litestar's DTO for one :class:`~wallet_api.types.StrictBody` type: as a route's
    ``data``, the body's bytes decoded straight into it, strictly, once (Litestar's own decode
    is lenient, and a second, strict decode in the handler cost a decode per request:
    docs/performance.md); as an answer (a settings route answers with what it takes), the
    value as it is. The OpenAPI schema is the type's own, as without a DTO."""

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Any:
        return iter(())  # no transfer model: the type itself is decoded

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: Any = None
    ) -> None:
        if field_definition.annotation is not cls.model_type:  # not list[...] nor Response[...]
            raise ImproperlyConfiguredException(
                f"{handler_id}: a StrictBody goes as it is, not as {field_definition.annotation}"
            )

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: Any
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(  # type: ignore[no-any-return]
            FieldDefinition.from_annotation(
                cls.model_type, kwarg_definition=field_definition.kwarg_definition
            )
        )

    def decode_bytes(self, value: bytes) -> Any:
        try:
            return msgspec.json.decode(value, type=self.model_type, strict=True)
        except msgspec.DecodeError as exc:  # wrong values, and malformed JSON alike
            raise body_refusal(exc) from exc

    def decode_builtins(self, value: Any) -> Any:
        try:
            return msgspec.convert(value, type=self.model_type, strict=True)
        except msgspec.ValidationError as exc:
            raise body_refusal(exc) from exc

    def data_to_encodable_type(self, data: Any | Collection[Any]) -> Any:
        return data


# msgspec's words for where a value failed ("… - at `$.lines[0].quantity`"), and for a field
# missing or unknown ("Object missing required field `lines`").
_AT = re.compile(r"(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?", re.DOTALL)
_FIELD = re.compile(r"Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`")


def body_refusal(exc: msgspec.DecodeError) -> InvalidInput:
    """``invalid-input`` for a body that does not fit its type, naming the field in ``errors``
    (``key``, ``source``, ``message``, as Litestar's own validation errors do): the English
    detail says it in words, and a reader of fi or sv, whose detail is the translated title,
    still sees which field. ``key`` is ``data`` for the body as a whole (malformed JSON, not an
    object)."""
    text = str(exc)
    at = _AT.fullmatch(text)
    message, path = (at["message"], (at["path"] or "").removeprefix(".")) if at else (text, "")
    message = plain_message(message)
    field = _FIELD.search(message)
    if field is not None:
        path = f"{path}.{field['name']}" if path else field["name"]
    detail = f"{message} - at `$.{path}`" if path and field is None else message
    return InvalidInput(
        detail, errors=[{"key": path or "data", "source": "body", "message": message}]
    )


class StrictBodies(SerializationPlugin):
    """Decode every :class:`~wallet_api.types.StrictBody` a route takes as its ``data`` with
    :class:`_StrictDTO` (a Litestar serialization plugin: the routes name only the type)."""

    def __init__(self) -> None:
        self._dtos: dict[type[Any], type[AbstractDTO[Any]]] = {}

    def supports_type(self, field_definition: FieldDefinition) -> bool:
        return field_definition.is_subclass_of(StrictBody)

    def create_dto_for_type(self, field_definition: FieldDefinition) -> type[AbstractDTO[Any]]:
        model = field_definition.annotation
        if model not in self._dtos:
            self._dtos[model] = _StrictDTO[model]  # type: ignore[valid-type]
        return self._dtos[model]
