"""Money on the command line: Babel's formats of integer cents, exact at any size (issue 17)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from wallet_api.money_format import CLI_LOCALE, euros

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("cents", "locale", "shown"),
    [
        (123456, "fi", f"1{NBSP}234,56{NBSP}€"),
        (123456, "sv", f"1{NBSP}234,56{NBSP}€"),
        (123456, "en", "€1,234.56"),
        (0, "fi", f"0,00{NBSP}€"),
        (1, "fi", f"0,01{NBSP}€"),
        (-5, "fi", f"-0,05{NBSP}€"),
        (-123456, "en", "-€1,234.56"),
        # Beyond a float's 53 bits: every cent still shows.
        (
            12_345_678_901_234_567,
            "fi",
            f"123{NBSP}456{NBSP}789{NBSP}012{NBSP}345,67{NBSP}€",
        ),
        (2**53 + 1, "en", "€90,071,992,547,409.93"),
    ],
)
def test_cents_are_formatted_by_babel_in_the_locale(cents: int, locale: str, shown: str) -> None:
    assert euros(cents, locale) == shown


def test_the_command_line_speaks_finnish_by_default() -> None:
    assert CLI_LOCALE == "fi"
    assert euros(123456) == f"1{NBSP}234,56{NBSP}€"


def test_no_float_formatting_of_money_is_left_in_the_command_line() -> None:
    """The CLI prints money only through the helper: no division of cents, no ``:.2f``."""
    root = Path(__file__).parents[2] / "wallet_api"
    for path in [root / "cli.py", root / "demo.py", root / "money_format.py"]:
        text = path.read_text()
        assert ".2f" not in text, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                right = node.right
                assert not (isinstance(right, ast.Constant) and right.value in (100, 100.0)), (
                    f"{path}:{node.lineno} divides by 100"
                )
