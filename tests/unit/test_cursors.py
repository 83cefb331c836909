"""The one page-cursor codec: what it encodes comes back typed; anything else is one
``400 invalid-cursor`` (the routes' side is in ``tests/wallet_api/test_cursors.py``)."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from payments.errors import InvalidInput, Refusal
from payments.reporting.cursors import MAX_ROW_ID, decode_cursor, encode_cursor

ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_cursor_comes_back_as_the_parts_it_was_made_of() -> None:
    moment = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    got = decode_cursor(encode_cursor(moment, ID, 42, "Kuura"), datetime, uuid.UUID, int, str)
    assert got == (moment, ID, 42, "Kuura")
    assert got[0].tzinfo == UTC  # times come back in UTC
    assert decode_cursor(encode_cursor(MAX_ROW_ID), int) == (MAX_ROW_ID,)


BAD = {
    "beyond 64 bits": (raw(str(MAX_ROW_ID + 1)), (int,)),
    "row id 0": (raw("0"), (int,)),
    "negative row id": (raw("-1"), (int,)),
    "non-ASCII digit": (raw("\u0663"), (int,)),
    "naive time": (raw("2026-01-01T00:00:00"), (datetime,)),
    "NUL after a time": (raw("2026-01-01T00:00:00+00:00\x00"), (datetime,)),
    "past 9999 in UTC": (raw("9999-12-31T23:00:00-05:00"), (datetime,)),
    "long text": (raw("x" * 201), (str,)),
    "more parts": (raw(f"1\x1f{ID}"), (int,)),
    "fewer parts": (raw("1"), (int, uuid.UUID)),
    "not a UUID": (raw("not-a-uuid"), (uuid.UUID,)),
    "not base64": ("%%%", (int,)),
    "empty": ("", (int,)),
}


@pytest.mark.parametrize(("cursor", "kinds"), BAD.values(), ids=BAD.keys())
def test_anything_else_is_an_invalid_cursor(cursor: str, kinds: tuple[type, ...]) -> None:
    with pytest.raises(InvalidInput) as info:
        decode_cursor(cursor, *kinds)
    assert info.value.slug == "invalid-cursor" and info.value.kind is Refusal.INVALID
