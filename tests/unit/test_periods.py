"""Helsinki months across the clock changes, pro-rating by days, bad months, settlement days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from payments.errors import InvalidInput, Refusal
from payments.ledger import periods
from payments.ledger.periods import HELSINKI, period_of, period_start_utc, prorated_cents
from payments.marketplace.settlements import scheduled_until

TICK = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("period", "starts_utc"),
    [
        ("2027-03", datetime(2027, 2, 28, 22, tzinfo=UTC)),  # winter time
        ("2027-04", datetime(2027, 3, 31, 21, tzinfo=UTC)),  # first month start in summer
        ("2027-10", datetime(2027, 9, 30, 21, tzinfo=UTC)),
        ("2027-11", datetime(2027, 10, 31, 22, tzinfo=UTC)),  # 25-hour day just before
    ],
)
def test_a_month_starts_at_helsinki_midnight_on_either_side_of_a_clock_change(period, starts_utc):
    assert period_start_utc(period) == starts_utc
    assert period_of(starts_utc) == period
    assert period_of(starts_utc - TICK) != period
    assert starts_utc.astimezone(HELSINKI).replace(tzinfo=None) == datetime(
        starts_utc.astimezone(HELSINKI).year, starts_utc.astimezone(HELSINKI).month, 1
    )


def test_the_repeated_hour_of_october_belongs_to_october():
    # 03:30 local happens twice on 31 October 2027: 00:30 UTC (EEST) and 01:30 UTC (EET).
    for moment in (
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),
        datetime(2027, 10, 31, 1, 30, tzinfo=UTC),
    ):
        assert moment.astimezone(HELSINKI).hour == 3
        assert period_of(moment) == "2027-10"


@pytest.mark.parametrize(
    ("period", "valid_from", "valid_to", "days"),
    [
        ("2027-03", date(2027, 3, 28), None, 4),  # from the 23-hour day
        ("2027-03", date(2027, 3, 1), date(2027, 3, 28), 28),  # up to the 23-hour day
        ("2027-10", date(2027, 10, 31), None, 1),  # only the 25-hour day
        ("2027-10", date(2027, 10, 1), date(2027, 10, 31), 31),  # the whole month
    ],
)
def test_pro_rating_counts_days_not_hours(period, valid_from, valid_to, days):
    # 74,400 cents over 31 days is 2,400 a day; by hours (743 or 745 in these months) it
    # would not be a whole number of cents per day.
    assert prorated_cents(74_400, period, valid_from, valid_to) == 2_400 * days


@pytest.mark.parametrize("text", ["0000-01", "2026-13", "2026-1", "-001-12", ""])
def test_a_bad_month_is_a_400_and_still_a_value_error(text):
    """Regression (found by fuzzing): ``0000-01`` matched the pattern and crashed in ``date``,
    and a route doing month arithmetic on a bad ``?to=`` answered 500. Now every bad month is
    an ``invalid-input`` refusal, and still the ValueError that existing callers catch."""
    with pytest.raises(InvalidInput) as info:
        periods.parse_period(text)
    assert isinstance(info.value, ValueError)
    assert info.value.slug == "invalid-input" and info.value.kind is Refusal.INVALID


def test_the_schedule_picks_the_latest_ended_day() -> None:
    assert scheduled_until(date(2031, 1, 16), "15,last") == date(2031, 1, 15)
    assert scheduled_until(date(2031, 1, 15), "15,last") == date(2030, 12, 31)
    assert scheduled_until(date(2031, 3, 1), "last") == date(2031, 2, 28)
    assert scheduled_until(date(2031, 3, 2), "1") == date(2031, 3, 1)
    with pytest.raises(ValueError):
        scheduled_until(date(2031, 3, 2), "32")
