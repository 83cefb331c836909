"""Phone numbers, validated and normalised to E.164 (Finnish numbers by default)."""

from __future__ import annotations

import phonenumbers

from payments.errors import InvalidInput


def to_e164(raw: str, region: str = "FI") -> str:
    """``040 123 4567`` -> ``+358401234567``; anything that is not a valid number is refused."""
    if not isinstance(raw, str) or len(raw) > 32 or not raw.isprintable():
        raise InvalidInput("Not a valid phone number", slug="invalid-phone")
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput("Not a valid phone number", slug="invalid-phone") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput("Not a valid phone number", slug="invalid-phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
