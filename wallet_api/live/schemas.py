"""Request and response bodies of Web Push subscriptions and notification preferences."""

from __future__ import annotations

from typing import Annotated

import msgspec

from wallet_api.types import ONE_LINE, StrictBody, whole

# A push service's URL (checked as an outbound URL by notifications.push) and the browser's
# keys (base64url): one line each, like every string a body carries (wallet_api.types).
Endpoint = Annotated[str, msgspec.Meta(min_length=10, max_length=2000, pattern=ONE_LINE)]
Base64 = whole("[A-Za-z0-9_+/=-]*", "base64 or base64url characters")
# A notification type or a language code: checked against their lists by notifications.rules.
Word = Annotated[str, msgspec.Meta(max_length=64, pattern=ONE_LINE)]


class PushKeys(msgspec.Struct):
    p256dh: Annotated[str, msgspec.Meta(max_length=200, pattern=Base64)]
    auth: Annotated[str, msgspec.Meta(max_length=100, pattern=Base64)]


class PushSubscriptionCreate(StrictBody):
    """The browser's ``PushSubscription.toJSON()``."""

    endpoint: Endpoint
    keys: PushKeys
    expirationTime: int | None = None


class PushSubscription(msgspec.Struct):
    id: str


class VapidKey(msgspec.Struct):
    public_key: str


class PreferencesUpdate(StrictBody, omit_defaults=True):
    """Notification rules: type on/off, hide amounts on the lock screen (true unless the person
    chose to show them), low-balance threshold in cents (null: a fifth of the month's budget),
    language of notifications."""

    types: dict[Word, bool] | None = None
    hide_amounts: bool | None = None
    low_balance_cents: int | msgspec.UnsetType | None = msgspec.UNSET
    language: Word | None = None
