"""Bodies of the SMS routes: a number's opt-in (language, events), its confirmation code."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from notifications.models import SMS_EVENTS
from wallet_api.types import Phone, StrictBody, whole

SmsEvent = Literal[SMS_EVENTS]  # type: ignore[valid-type]
Language = Literal["fi", "sv", "en"]
# Digits, perhaps with spaces around them as people type them.
ConfirmCode = Annotated[
    str, msgspec.Meta(min_length=1, max_length=12, pattern=whole(r" *[0-9]+ *", "digits"))
]


class SmsOptInCreate(StrictBody, forbid_unknown_fields=True):
    """Turn SMS on for a wallet: the client's own number, or a carer's (``carer_id``)."""

    phone: Phone
    language: Language
    events: Annotated[list[SmsEvent], msgspec.Meta(max_length=len(SMS_EVENTS))]
    carer_id: uuid.UUID | None = None


class SmsConfirmCreate(StrictBody, forbid_unknown_fields=True):
    code: ConfirmCode


class SmsOptIn(msgspec.Struct):
    id: uuid.UUID
    wallet_id: uuid.UUID
    principal_id: uuid.UUID
    phone: str
    language: str
    events: list[str]
    confirmed: bool
    code_expires_at: datetime | None
    created_at: datetime


class SmsOptIns(msgspec.Struct):
    items: list[SmsOptIn]
    events: list[str]
    # False while the server has no SMS gateway set up: the app says so instead of a form.
    available: bool
