"""The SMS inbound secret is the whole of the webhook's authentication (docs/sms.md): a short
one is refused at start-up, by name; unset leaves SMS off."""

from __future__ import annotations

import pytest

from wallet_api.settings import Settings


def test_a_short_inbound_secret_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLET_SMS_INBOUND_SECRET", "x" * 15)
    with pytest.raises(ValueError, match="WALLET_SMS_INBOUND_SECRET must be at least 16"):
        Settings.from_env()


def test_a_long_enough_secret_or_none_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WALLET_SMS_INBOUND_SECRET", "x" * 16)
    assert Settings.from_env().sms_inbound_secret == "x" * 16
    monkeypatch.delenv("WALLET_SMS_INBOUND_SECRET")
    assert Settings.from_env().sms_inbound_secret is None
