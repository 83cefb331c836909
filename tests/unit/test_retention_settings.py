"""The retention settings (issue 19, docs/privacy.md): their defaults are the use case's, each is
read from its own WALLET_RETENTION_* variable, and a value out of range is refused by name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from payments.people.retention import Retention, years
from wallet_api.settings import RETENTION_LIMITS, Settings


def test_the_defaults_are_the_use_cases_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for _, env, _, _ in RETENTION_LIMITS:
        monkeypatch.delenv(env, raising=False)
    assert Settings.from_env().retention() == Retention()


def test_each_setting_reaches_its_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLET_RETENTION_OUTBOX_DAYS", "3")
    monkeypatch.setenv("WALLET_RETENTION_CLOSED_CLIENTS_YEARS", "10")
    r = Settings.from_env().retention()
    assert r.outbox == timedelta(days=3) and r.closed_clients == years(10)
    assert r.sessions == Retention().sessions


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("WALLET_RETENTION_SESSIONS_DAYS", "0", "between 1 and 3650, not 0"),
        ("WALLET_RETENTION_OUTBOX_DAYS", "-1", "between 1 and 3650, not -1"),
        ("WALLET_RETENTION_PUSH_SUBSCRIPTIONS_DAYS", "6", "between 7 and 3650, not 6"),
        ("WALLET_RETENTION_AUDIT_EVENTS_YEARS", "51", "between 1 and 50, not 51"),
        ("WALLET_RETENTION_RATE_COUNTERS_DAYS", "x", "must be a whole number, not 'x'"),
    ],
)
def test_a_value_out_of_range_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match=env) as refused:
        Settings.from_env()
    assert message in str(refused.value)


def test_the_use_case_refuses_a_negative_period_or_a_rate_counter_under_a_day() -> None:
    with pytest.raises(ValueError, match="may not be negative"):
        Retention(sessions=timedelta(days=-1))
    with pytest.raises(ValueError, match="at least one day"):
        Retention(rate_counters=timedelta(hours=23))
    assert years(4) == timedelta(days=4 * 365 + 1)
