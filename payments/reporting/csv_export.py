"""The one CSV writer every export uses: statements, reports, settlement files.

A CSV is opened in a spreadsheet, and a spreadsheet runs a cell that starts with ``=``, ``+``,
``-`` or ``@`` (or a tab or carriage return before one) as a formula: ``=HYPERLINK(...)`` in a
provider's self-chosen name would become a link that leaks the sheet. So, following the OWASP
rule, a **text** cell that would start that way gets a single quote in front (``'=HYPERLINK``),
which every spreadsheet shows as text and no formula can begin with.

Decisions:

* **Text is neutralised, numbers are not.** Numbers the code itself produces (``int`` cents,
  ``Decimal`` euros or quantities) are written as plain numbers, so a negative amount stays
  ``-1250`` and sums in the sheet. A number cannot carry a formula; text can, even text that
  looks like a number (a provider named ``-5``), so every ``str`` goes through the rule. Code
  that writes an amount must pass a number, never a formatted string.
* **Every place a cell may start.** A spreadsheet may split a cell where we did not: Excel with
  a Finnish or Swedish list separator splits at ``;``, others at ``,``, a tab or a line break,
  whatever our quoting says. So the rule applies at the start of the text and after each of
  those characters; spaces before the trigger are skipped, for readers that trim.
* **Refused, not guessed:** floats (money is never a float), booleans, non-finite decimals and
  any other type raise, so a new column cannot slip past the rule by its type.
* **UTF-8 with a BOM** (Excel reads a BOM-less file in the machine's legacy code page and breaks
  å, ä, ö), lines end in CRLF as RFC 4180 says, and a cell with a quote, comma or line break
  is quoted by the standard library's writer.

No library does exactly this: ``defusedcsv`` leaves number-like text such as ``-5`` alone,
rewrites ``|`` inside the text, and knows neither tab, CR nor split points. It is a few lines.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

Cell = str | int | Decimal | uuid.UUID | date | None

# A cell may start at the beginning of the text or after a character some reader splits at;
# there, after any spaces, a formula trigger gets a quote in front of it.
_FORMULA_START = re.compile(r"(^|[,;\t\r\n])( *)(?=[=+\-@\t\r])")


def text_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it and never runs: ``'`` before a formula trigger at
    any place a cell may start."""
    return _FORMULA_START.sub(r"\1\2'", text)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # an int subclass, but no amount
        raise TypeError("a CSV cell is text, a whole number or a Decimal, not a bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"a CSV number must be finite, not {value}")
        return format(value, "f")  # plain notation: never 1E+1
    if isinstance(value, str):
        return text_cell(value)
    if isinstance(value, date):  # datetime too
        return text_cell(value.isoformat())
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"a CSV cell is text, a whole number or a Decimal, not {type(value).__name__}")


def csv_document(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """A CSV file: the header, then one line per row, as UTF-8 bytes starting with a BOM."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([text_cell(h) for h in header])
    for row in rows:
        w.writerow([_cell(v) for v in row])
    return buf.getvalue().encode("utf-8-sig")
