"""A refusal says in words what a pattern asks for (``wallet_api.types.whole`` and ``worded``,
``plain_message``): "Expected a month as YYYY-MM", not the regular expression."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import pytest
from litestar import get, post
from litestar.params import Parameter
from litestar.testing import create_test_client

from wallet_api.app import create_app
from wallet_api.charges.schemas import ChargeLineCreate
from wallet_api.deps import StrictBodies
from wallet_api.problems import EXCEPTION_HANDLERS
from wallet_api.types import MONTH, PATTERN_WORDS, StrictBody, plain_message, whole


def patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from patterns(item)


def test_every_pattern_of_the_api_is_said_in_words() -> None:
    app = create_app()
    found = set(patterns(app.openapi_schema.to_schema()))
    assert len(found) >= 8, found
    unworded = sorted(p for p in found if p not in PATTERN_WORDS)
    assert unworded == [], unworded


def test_a_pattern_without_words_is_refused_where_it_is_written() -> None:
    with pytest.raises(ValueError, match="say in words"):
        whole("[0-9]+")
    assert PATTERN_WORDS[whole("yes|no")] == 'one of "yes", "no"'


class Order(StrictBody, forbid_unknown_fields=True):
    lines: list[ChargeLineCreate]


@post("/order", status_code=201)
async def order(data: Order) -> dict[str, Any]:
    return {"lines": len(data.lines)}


@get("/report")
async def report(
    from_period: Annotated[str | None, Parameter(query="from", pattern=MONTH)] = None,
) -> dict[str, Any]:
    return {"from": from_period}


def test_refusals_say_the_pattern_in_words() -> None:
    quantity = (
        'Expected a number as a string, with at most three decimals after a ".", such as "1.5"'
    )
    with create_test_client(
        [order, report], plugins=[StrictBodies()], exception_handlers=EXCEPTION_HANDLERS
    ) as client:
        line = {"category": "siivous", "quantity": "1,5", "unit_price_cents": 3500}
        r = client.post("/order", json={"lines": [line]}, headers={"accept-language": "en"})
        assert r.status_code == 400, r.text
        assert r.json()["errors"] == [
            {"key": "lines[0].quantity", "source": "body", "message": quantity}
        ]
        assert r.json()["detail"] == f"{quantity} - at `$.lines[0].quantity`"
        assert "regex" not in r.text

        r = client.get("/report", params={"from": "2026-13"}, headers={"accept-language": "fi"})
        assert r.status_code == 400, r.text
        [error] = r.json()["errors"]
        # Named as the request sent it, not as the handler's argument (from_period).
        assert error["key"] == "from" and error["source"] == "query", error
        assert error["message"] == 'Expected a month as YYYY-MM, such as "2026-03"'
        assert client.get("/report", params={"from": "2026-03"}).json() == {"from": "2026-03"}


def test_other_messages_pass_as_they_are() -> None:
    for message in (
        "Expected `int`, got `str`",
        "Expected `str` of length <= 100",
        "Expected `str` matching regex '^unknown$'",  # a pattern of no one's: its own words
        "Expected `str` matching regex 'broken",
    ):
        assert plain_message(message) == message
