"""One text rule for every request body (issue 13, item 7): every string a body carries must
refuse control characters by its schema (a pattern), so a new schema cannot forget. The rule
end to end on both engines is in ``tests/wallet_api/test_text_types.py``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec.inspect as mi

from wallet_api.app import create_app

CONTROLS = ["\x00", "\x1b[2J", "\x07", "\x7f", "\x9b", "\r", "\t"]


def bodies() -> Iterator[tuple[str, Any]]:
    """(route, body type) of every route of the app that takes a JSON body."""
    from litestar.handlers.http_handlers import HTTPRouteHandler

    for route in create_app().routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None:
                methods = ",".join(sorted(handler.http_methods - {"HEAD", "OPTIONS"}))
                yield f"{methods} {route.path}", data.annotation


def strings(t: mi.Type, where: str, seen: set[type]) -> Iterator[tuple[str, mi.StrType]]:
    """Every string inside a msgspec type, with where it is (the types msgspec enforces, not
    their OpenAPI rendering, which drops the constraints of list items)."""
    if isinstance(t, mi.StrType):
        yield where, t
    elif isinstance(t, mi.StructType):
        if t.cls in seen:
            return
        seen = seen | {t.cls}
        for field in t.fields:
            yield from strings(field.type, f"{where}.{field.name}", seen)
    elif isinstance(t, mi.UnionType):
        for alt in t.types:
            yield from strings(alt, where, seen)
    elif isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        yield from strings(t.item_type, f"{where}[]", seen)
    elif isinstance(t, mi.DictType):
        yield from strings(t.key_type, f"{where}{{key}}", seen)
        yield from strings(t.value_type, f"{where}{{}}", seen)


NOT_TEXT = {"credential{key}"}


def test_every_string_in_every_request_body_refuses_control_characters():
    missing = []
    walked = 0
    for route, body in bodies():
        for where, node in strings(mi.type_info(body), f"{route} body", set()):
            walked += 1
            if any(where.endswith(f"body.{n}") for n in NOT_TEXT):
                continue
            pattern = node.pattern
            let_through = [c for c in CONTROLS if pattern is None or re.search(pattern, f"a{c}b")]
            if let_through:
                missing.append(f"{where}: pattern {pattern!r} lets {let_through!r} through")
            elif pattern.endswith("$") and not pattern.endswith("\\$"):
                # re.search's "$" matches before a final newline too: "fi\n" would pass.
                missing.append(f"{where}: pattern {pattern!r} ends in $; use types.whole()")
    assert walked > 30, walked
    assert missing == [], "\n".join(missing)
