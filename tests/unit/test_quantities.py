"""Reading a charge line's quantity: plain decimals only, never a float, bool or exponent."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.checkout.charges import parse_quantity
from payments.errors import InvalidInput


@pytest.mark.parametrize(
    "value",
    [
        "\u0663",
        "1e3",
        " 1",
        "1 ",
        "1\n",
        "1.2.3",
        "NaN",
        "Infinity",
        "-1",
        "0",
        "1_000",
        "1,5",
        Decimal("NaN"),
        Decimal("-1"),
        Decimal("0"),
        Decimal("1.0001"),
        Decimal("1001"),
        1.5,
        True,
        0,
        -3,
        None,
    ],
)
def test_parse_quantity_refuses(value):
    with pytest.raises(InvalidInput):
        parse_quantity(value)


@pytest.mark.parametrize(
    "value,plain",
    [
        ("1", "1"),
        ("1.50", "1.50"),
        ("0.001", "0.001"),
        ("1000", "1000"),
        ("0007", "7"),
        (3, "3"),
        (Decimal("1E+3"), "1000"),  # plain notation, never stored as 1E+3
        (Decimal("2.5"), "2.5"),
    ],
)
def test_parse_quantity_reads_plain_decimals(value, plain):
    assert str(parse_quantity(value)) == plain
