"""Month arithmetic of budget periods at the year's ends, and the instant a period begins."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from payments.ledger.periods import (
    InvalidPeriod,
    days_in,
    first_day,
    last_day,
    next_period,
    parse_period,
    period_of,
    period_start_utc,
    previous_period,
    prorated_cents,
)


@pytest.mark.parametrize(
    ("period", "after"),
    [
        ("2027-01", "2027-02"),
        ("2027-11", "2027-12"),
        ("2027-12", "2028-01"),
        ("2028-06", "2028-07"),
    ],
)
def test_next_and_previous_period_turn_the_year(period: str, after: str) -> None:
    assert next_period(period) == after
    assert previous_period(after) == period


def test_every_month_of_a_year_round_trips() -> None:
    period = "2026-12"
    seen = []
    for _ in range(13):
        period = next_period(period)
        seen.append(period)
    assert seen == [f"2027-{m:02d}" for m in range(1, 13)] + ["2028-01"]
    for _ in range(13):
        period = previous_period(period)
    assert period == "2026-12"


@pytest.mark.parametrize("text", ["2027-13", "2027-00", "0000-05", "27-05", "2027-5", " 2027-05"])
def test_parse_period_refuses_what_is_no_month_and_names_it(text: str) -> None:
    with pytest.raises(InvalidPeriod) as caught:
        parse_period(text)
    assert repr(text) in str(caught.value)
    assert "YYYY-MM" in str(caught.value)


def test_days_and_bounds_of_february() -> None:
    assert days_in("2028-02") == 29 and days_in("2027-02") == 28
    assert first_day("2028-02") == date(2028, 2, 1)
    assert last_day("2028-02") == date(2028, 2, 29)


def test_period_start_is_helsinki_midnight_as_an_aware_utc_instant() -> None:
    winter = period_start_utc("2027-01")
    summer = period_start_utc("2027-07")
    assert winter == datetime(2026, 12, 31, 22, tzinfo=UTC)
    assert summer == datetime(2027, 6, 30, 21, tzinfo=UTC)
    # In UTC, not in the machine's zone: the offset is part of what callers store and compare.
    assert winter.utcoffset() is not None and winter.utcoffset().total_seconds() == 0
    assert winter.tzinfo is UTC
    assert period_of(winter) == "2027-01"


def test_prorating_counts_days_and_rounds_down() -> None:
    # 10 of 31 days of 100.00 is 32.258... -> 32.25
    assert prorated_cents(10000, "2027-01", date(2027, 1, 22), None) == 3225
    assert prorated_cents(10000, "2027-01", date(2026, 5, 1), date(2027, 1, 1)) == 322
    assert prorated_cents(10000, "2027-01", date(2027, 2, 1), None) == 0
    assert prorated_cents(10000, "2027-01", date(2026, 1, 1), None) == 10000
