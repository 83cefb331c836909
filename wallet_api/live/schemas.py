"""Request and response bodies of Web Push subscriptions and notification preferences."""

from __future__ import annotations

from typing import Annotated

import msgspec


class PushKeys(msgspec.Struct):
    p256dh: Annotated[str, msgspec.Meta(max_length=200)]
    auth: Annotated[str, msgspec.Meta(max_length=100)]


class PushSubscriptionCreate(msgspec.Struct):
    """The browser's ``PushSubscription.toJSON()``."""

    endpoint: Annotated[str, msgspec.Meta(min_length=10, max_length=2000)]
    keys: PushKeys
    expirationTime: int | None = None


class PushSubscription(msgspec.Struct):
    id: str


class VapidKey(msgspec.Struct):
    public_key: str


class PreferencesUpdate(msgspec.Struct, omit_defaults=True):
    """Notification rules: type on/off, hide amounts on the lock screen (true unless the person
    chose to show them), low-balance threshold in cents (null: a fifth of the month's budget),
    language of notifications."""

    types: dict[str, bool] | None = None
    hide_amounts: bool | None = None
    low_balance_cents: int | msgspec.UnsetType | None = msgspec.UNSET
    language: str | None = None
