"""The one CSV writer: cells a spreadsheet would run are neutralised, numbers stay numbers."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from decimal import Decimal

import pytest

from payments.reporting import csv_export

BOM = b"\xef\xbb\xbf"


def csv_rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(BOM), body[:20]
    assert not body[3:].startswith(BOM)
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize(
    "text,cell",
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd", "'+cmd"),
        ("@SUM(1)", "'@SUM(1)"),
        ("-2+3", "'-2+3"),
        ("-5", "'-5"),  # text that looks like a number is still text
        ("\t=1+1", "'\t'=1+1"),
        ("\r=1+1", "'\r'=1+1"),
        ("\tKuura", "'\tKuura"),
        ("  =1+1", "  '=1+1"),  # a reader that trims spaces would see "=" first
        ("Kuura;=1+1", "Kuura;'=1+1"),  # Excel in Finnish splits cells at ";"
        ("Kuura, -sivutoimipiste", "Kuura, '-sivutoimipiste"),
        ("Kuura\n@x", "Kuura\n'@x"),
        ("Siivous Kuura Oy", "Siivous Kuura Oy"),
        ("2024-05-01", "2024-05-01"),
        ("a=b+c-d@e", "a=b+c-d@e"),
        ("", ""),
    ],
)
def test_text_cells_that_a_spreadsheet_would_run_start_with_a_quote(text, cell):
    assert csv_export.text_cell(text) == cell
    body = csv_export.csv_document(["name"], [[text]])
    assert body.startswith(BOM)
    assert csv_rows(body) == [{"name": cell}]


def test_numbers_the_code_writes_stay_numbers():
    body = csv_export.csv_document(
        ["cents", "euros", "none", "id", "day"],
        [
            [-1250, Decimal("-12.50"), None, uuid.UUID(int=1), date(2024, 5, 1)],
            [0, Decimal("1E+1"), None, uuid.UUID(int=2), date(2024, 5, 2)],
        ],
    )
    rows = csv_rows(body)
    assert rows[0] == {
        "cents": "-1250",
        "euros": "-12.50",
        "none": "",
        "id": str(uuid.UUID(int=1)),
        "day": "2024-05-01",
    }
    assert rows[1]["euros"] == "10"  # never scientific notation
    assert body.decode("utf-8-sig").splitlines()[0] == "cents,euros,none,id,day"


@pytest.mark.parametrize(
    "bad,error",
    [
        (1.5, TypeError),  # money is never a float
        (True, TypeError),
        (object(), TypeError),
        (Decimal("NaN"), ValueError),
        (Decimal("Infinity"), ValueError),
    ],
)
def test_the_writer_refuses_cells_it_cannot_write_safely(bad, error):
    with pytest.raises(error):
        csv_export.csv_document(["x"], [[bad]])


def test_non_ascii_text_round_trips_in_utf8():
    body = csv_export.csv_document(["name"], [["Åbo Städ Ab – Äänekoski"]])
    assert body.startswith(BOM)
    assert csv_rows(body) == [{"name": "Åbo Städ Ab – Äänekoski"}]
