"""The decision helper's arithmetic: hours a week x value per hour -> a monthly amount."""

from __future__ import annotations

import pytest

from payments.budgets.catalogue import monthly_from_weekly_hours
from payments.errors import InvalidInput


@pytest.mark.parametrize(
    ("hours", "value", "monthly"),
    [
        ("7.5", 3200, 104_000),  # 7.5 h x 32 EUR x 52 / 12 = 1040 EUR exactly
        ("10", 3250, 140_833),  # 1408.333... -> 1408.33 EUR
        ("1.5", 1, 7),  # 6.5 cents: half up
        ("0.001", 3200, 14),  # 13.866... -> 14
        ("168", 3200, 2_329_600),
        ("30", 3200, 416_000),  # 'henkilökohtainen avustaja 30h/vko' (seed 000)
    ],
)
def test_weeks_per_month_is_52_over_12_rounded_half_up(
    hours: str, value: int, monthly: int
) -> None:
    got, formula = monthly_from_weekly_hours(hours, value)
    assert got == monthly
    assert formula.endswith(f"= {monthly} c/month") and "52 / 12" in formula


@pytest.mark.parametrize("hours", ["0", "-1", "168.001", "1.2345", "x", "NaN", "Infinity", ""])
def test_bad_hours_are_refused(hours: str) -> None:
    with pytest.raises(InvalidInput):
        monthly_from_weekly_hours(hours, 3200)
