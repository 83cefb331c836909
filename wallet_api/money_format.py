"""Money as people read it: integer cents formatted by Babel with a locale, through Decimal
(money rule 1: never a float). The one formatter of the command line (``wallet fund``,
``check``, ``settle``)."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

# The command line speaks to a Finnish county's operators: Finnish formatting (Swedish in
# Finland writes amounts the same way, "1 234,56 €").
CLI_LOCALE = "fi"


def euros(cents: int, locale: str = CLI_LOCALE) -> str:
    """``cents`` as euros in ``locale``: 123456 -> "1 234,56 €" in fi (no-break spaces),
    "€1,234.56" in en. Exact for any size: the cents become a Decimal, never a float."""
    return format_currency(Decimal(cents).scaleb(-2), "EUR", locale=locale)
