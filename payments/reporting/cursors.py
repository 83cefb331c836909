"""Opaque page cursors: the keyset of the last row shown, encoded and checked on the way back.

A cursor comes back from the client, so it is input like any other: every part is decoded to
its declared type and checked against what the database can hold (a 64-bit row id, an aware
time that stays a time in UTC, text without control characters, a UUID). Anything else is one
``400 invalid-cursor``, never a driver error: an integer beyond 64 bits, a year past 9999 in
UTC or a NUL in a name used to reach PostgreSQL or SQLite as a 500.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar, overload

from payments.errors import InvalidInput

T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")

MAX_ROW_ID = 2**63 - 1
_SEPARATOR = "\x1f"  # a control character, so no checked text part can contain it
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAX_TEXT = 200


def _invalid() -> InvalidInput:
    return InvalidInput("Invalid cursor", slug="invalid-cursor")


def encode_cursor(*parts: int | str | datetime | uuid.UUID) -> str:
    """A cursor of the given keyset parts (in the order the page is sorted by)."""
    text = _SEPARATOR.join(p.isoformat() if isinstance(p, datetime) else str(p) for p in parts)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _part(raw: str, kind: type) -> Any:
    if _CONTROL.search(raw):  # fromisoformat, for one, lets a trailing NUL through
        raise ValueError(raw)
    if kind is int:
        if not raw.isascii() or not raw.isdigit():
            raise ValueError(raw)
        value = int(raw)
        if not 0 < value <= MAX_ROW_ID:
            raise ValueError(raw)
        return value
    if kind is uuid.UUID:
        return uuid.UUID(raw)
    if kind is datetime:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            raise ValueError(raw)
        return moment.astimezone(UTC)  # OverflowError past the calendar's range in UTC
    if kind is str:
        if len(raw) > _MAX_TEXT:
            raise ValueError(raw)
        return raw
    raise TypeError(kind)


@overload
def decode_cursor(cursor: str, k1: type[T1], /) -> tuple[T1]: ...
@overload
def decode_cursor(cursor: str, k1: type[T1], k2: type[T2], /) -> tuple[T1, T2]: ...
@overload
def decode_cursor(
    cursor: str, k1: type[T1], k2: type[T2], k3: type[T3], /
) -> tuple[T1, T2, T3]: ...
def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """The keyset parts of a cursor, each of its declared kind (int, str, datetime, UUID), or
    ``400 invalid-cursor``."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = text.split(_SEPARATOR)
        if len(parts) != len(kinds):
            raise ValueError(cursor)
        return tuple(_part(raw, kind) for raw, kind in zip(parts, kinds, strict=True))
    except (ValueError, OverflowError, UnicodeDecodeError, binascii.Error) as exc:
        raise _invalid() from exc
