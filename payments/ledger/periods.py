"""Budget periods: calendar months in Europe/Helsinki time, written ``YYYY-MM``."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from payments.clock import utcnow
from payments.errors import InvalidInput

HELSINKI = ZoneInfo("Europe/Helsinki")


class InvalidPeriod(InvalidInput, ValueError):
    """Not a month. A ValueError for callers that catch one; anywhere else a 400 problem, not
    a 500 (a route doing month arithmetic on a bad ``?to=`` used to crash)."""


_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_of(moment: datetime) -> str:
    """The period that an instant falls in, in Helsinki time."""
    local = moment.astimezone(HELSINKI)
    return f"{local.year:04d}-{local.month:02d}"


def current_period() -> str:
    return period_of(utcnow())


def parse_period(text: str) -> tuple[int, int]:
    m = _PERIOD.match(text)
    # Year 0 matches the pattern but is no date: first_day("0000-01") would crash later.
    if not m or m.group(1) == "0000":
        raise InvalidPeriod(f"not a month in the form YYYY-MM: {text!r}")
    return int(m.group(1)), int(m.group(2))


def first_day(period: str) -> date:
    y, m = parse_period(period)
    return date(y, m, 1)


def last_day(period: str) -> date:
    y, m = parse_period(period)
    return date(y, m, calendar.monthrange(y, m)[1])


def days_in(period: str) -> int:
    y, m = parse_period(period)
    return calendar.monthrange(y, m)[1]


def next_period(period: str) -> str:
    y, m = parse_period(period)
    return f"{y + (m == 12):04d}-{(m % 12) + 1:02d}"


def previous_period(period: str) -> str:
    y, m = parse_period(period)
    return f"{y - (m == 1):04d}-{((m - 2) % 12) + 1:02d}"


def period_start_utc(period: str) -> datetime:
    """The instant a period begins: 00:00 Helsinki time on its first day."""
    d = first_day(period)
    return datetime(d.year, d.month, d.day, tzinfo=HELSINKI).astimezone(UTC)


def prorated_cents(monthly_cents: int, period: str, valid_from: date, valid_to: date | None) -> int:
    """The part of a monthly amount that falls in ``period`` by days of validity.

    Rounded down to the cent, so pro-rating never funds more than the decision grants.
    """
    start = max(first_day(period), valid_from)
    end = min(last_day(period), valid_to) if valid_to else last_day(period)
    if end < start:
        return 0
    days = (end - start).days + 1
    return monthly_cents * days // days_in(period)
