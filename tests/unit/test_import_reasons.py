"""Every reason the client import can give a refused row has a stable code, and every code has
a text in Finnish, Swedish and English (``cm.import.why.<code>`` in pwa/static/i18n), filled only
from the params the server sends. The codes are collected from the modules' source (each
``Why("code", {...})``), so a new reason without a translation fails here."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from payments.budgets import catalogue, catalogue_import, client_import
from payments.budgets.client_import import ClientsInvalid, parse_clients
from payments.people import phones

ROOT = Path(__file__).parents[2]
I18N = ROOT / "pwa" / "static" / "i18n"
MODULES = (client_import, catalogue, catalogue_import, phones)
# The validators the import calls, outside client_import.py (all of which is checked).
VALIDATORS = {
    catalogue: {
        "clean_name",
        "clean_text",
        "parse_hours",
        "monthly_from_weekly_hours",
        "decision_line_amount",
    },
    phones: {"to_e164"},
}
# What client_import adds to any code: the column and the cell (``_cell``).
ADDED = {"column", "value"}
PLACEHOLDER = re.compile(r"\{(\w+)\}")
PREFIX = "cm.import.why."


def _tree(module: object) -> ast.Module:
    return ast.parse(Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8"))


def _codes() -> dict[str, set[str]]:
    """code -> the params' names its ``Why(...)`` calls write (literal dicts)."""
    codes: dict[str, set[str]] = {}
    for module in MODULES:
        for node in ast.walk(_tree(module)):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Why"
            ):
                continue
            first = node.args[0]
            if isinstance(first, ast.Attribute) and first.attr == "code":
                continue  # an existing Why's code, with the column and cell added (``_cell``)
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{module.__name__}: a Why's code is a literal slug (line {node.lineno})"
            )
            params = codes.setdefault(first.value, set())
            if len(node.args) > 1 and isinstance(node.args[1], ast.Dict):
                params |= {k.value for k in node.args[1].keys if isinstance(k, ast.Constant)}
    return codes


def _strings() -> dict[str, dict[str, str]]:
    return {
        lang: json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8"))
        for lang in ("fi", "sv", "en")
    }


def _raises_without_why(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            call = node.exc
            named = isinstance(call.func, ast.Name) and call.func.id == "InvalidInput"
            if named and not any(k.arg == "why" for k in call.keywords):
                lines.append(node.lineno)
    return lines


def test_every_refusal_on_the_import_path_has_a_code() -> None:
    assert _raises_without_why(_tree(client_import)) == []
    for module, names in VALIDATORS.items():
        functions = [
            f
            for f in ast.walk(_tree(module))
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and f.name in names
        ]
        assert {f.name for f in functions} == names
        for f in functions:
            assert _raises_without_why(f) == [], f"{module.__name__}.{f.name}"
    # The CSV reader's errors are Unreadable (a text with a Why), never a bare string.
    (reader,) = [
        f
        for f in ast.walk(_tree(catalogue_import))
        if isinstance(f, ast.FunctionDef) and f.name == "csv_records"
    ]
    for node in ast.walk(reader):
        if isinstance(node, ast.Yield) and isinstance(node.value, ast.Tuple):
            made = node.value.elts[1]
            assert isinstance(made, ast.Call) and isinstance(made.func, ast.Name), node.lineno
            assert made.func.id in {"Unreadable", "dict"}, node.lineno


def test_every_code_has_a_text_in_every_language_filled_from_its_params() -> None:
    codes = _codes()
    assert {"phone-invalid", "header-invalid", "client-differs", "too-many-rows"} <= set(codes)
    assert len(codes) >= 35
    for lang, strings in _strings().items():
        for code, params in codes.items():
            key = PREFIX + code
            keys = [f"{key}.one", f"{key}.other"] if "count" in params else [key]
            for k in keys:
                assert k in strings, f"{lang}.json lacks {k}"
                allowed = params | ADDED | ({"problems"} if code == "header-invalid" else set())
                unknown = set(PLACEHOLDER.findall(strings[k])) - allowed
                assert not unknown, f"{lang}.json {k}: {unknown} is not a param of {code}"
        # The app's own: "Rivi {line}: {why}" and the header's problems, one sentence each.
        assert set(PLACEHOLDER.findall(strings[PREFIX + "line"])) == {"line", "why"}
        for part in ("unknown", "missing", "twice"):
            assert PLACEHOLDER.findall(strings[f"{PREFIX}header-invalid.{part}"]) == ["columns"]
        # And no text for a code the server does not send.
        spare = {
            k
            for k in strings
            if k.startswith(PREFIX)
            and k.removeprefix(PREFIX).removesuffix(".one").removesuffix(".other") not in codes
            and k != PREFIX + "line"
            and not k.startswith(PREFIX + "header-invalid.")
        }
        assert not spare, f"{lang}.json: texts for no code: {spare}"


def test_docs_name_every_code_for_integrators() -> None:
    setup = (ROOT / "docs" / "setup.md").read_text(encoding="utf-8")
    missing = [code for code in _codes() if f"`{code}`" not in setup]
    assert not missing, f"docs/setup.md does not name {missing}"


HEADER = "client_ref;first_name;last_name;phone;decision_ref;valid_from;label;categories;"
HEADER += "monthly_amount;voucher_value;hours_per_week\n"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"client_ref;nimi\nK-1;x\n", "header-invalid"),
        (HEADER.encode() + b"K-1;Eino\n", "cells-count"),
        (HEADER.encode() + b"\xff\n", "not-utf8"),
        (HEADER.encode(), "no-clients"),
        (b"x" * (client_import.MAX_BYTES + 1), "file-too-large"),
        (HEADER.encode() + b'K-1;Eino;"K\n', "csv-invalid"),
        (HEADER.encode() + b";Eino;Korhonen;040 765 4321;;;;;;;\n", "text-required"),
        (HEADER.encode() + b"K-1;;Korhonen;040 765 4321;;;;;;;\n", "name-required"),
        (
            HEADER.encode() + b"K-1;Eino;Korhonen;040 765 4321;D-1;1.1.2024;S;siivous;;;x\n",
            "hours-not-number",
        ),
        (
            HEADER.encode()
            + b"K-1;Eino;Korhonen;040 765 4321;D-1;1.1.2024;S;siivous;100;32,00;7,5\n",
            "amount-mismatch",
        ),
        (
            HEADER.encode() + b"K-1;Eino;Korhonen;040 765 4321;D-1;1.1.2024;S;siivous;;;\n",
            "amount-missing",
        ),
    ],
)
def test_a_refused_file_names_a_translated_code(content: bytes, code: str) -> None:
    with pytest.raises(ClientsInvalid) as refused:
        parse_clients(content)
    (row,) = refused.value.refused
    assert row.why.code == code
    assert row.why.code in _codes()
    assert row.document()["text"] == refused.value.errors[0]
    for strings in _strings().values():
        key = PREFIX + code
        assert key in strings or f"{key}.other" in strings
