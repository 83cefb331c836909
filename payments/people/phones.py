"""Phone numbers, validated and normalised to E.164 (Finnish numbers by default)."""

from __future__ import annotations

import functools

import phonenumbers

from payments.errors import InvalidInput, Why

_INVALID = "Not a valid phone number"
_WHY = Why("phone-invalid")


def to_e164(raw: str, region: str = "FI") -> str:
    """``040 123 4567`` -> ``+358401234567``; anything that is not a valid number is refused."""
    if not isinstance(raw, str) or len(raw) > 32 or not raw.isprintable():
        raise InvalidInput(_INVALID, slug="invalid-phone", why=_WHY)
    return _parsed(raw, region)


# Parsing a number costs some 20 µs, a share of a charge by phone number at the door (issue 21),
# and the same numbers come again and again. Only valid numbers are kept (an exception is never
# cached), at most this many, in this process's memory only.
@functools.lru_cache(maxsize=4096)
def _parsed(raw: str, region: str) -> str:
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(_INVALID, slug="invalid-phone", why=_WHY) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(_INVALID, slug="invalid-phone", why=_WHY)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
