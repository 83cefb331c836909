"""Phone numbers to E.164 (payments.people.phones): the same answer from the cache of parsed
numbers as from parsing, and every refusal made again each time (never cached)."""

from __future__ import annotations

import pytest

from payments.errors import InvalidInput
from payments.people import phones


def test_a_number_is_normalised_the_same_from_the_cache() -> None:
    phones._parsed.cache_clear()
    assert phones.to_e164("040 123 4567") == "+358401234567"
    assert phones.to_e164("040 123 4567") == "+358401234567"
    assert phones.to_e164("+46 70 123 45 67") == "+46701234567"
    info = phones._parsed.cache_info()
    assert (info.hits, info.misses) == (1, 2)


@pytest.mark.parametrize(
    "raw", ["123", "abc", "+999 123 456", "+358 40 12", "1" * 33, "040\n1234567"]
)
def test_a_bad_number_is_refused_every_time(raw: str) -> None:
    phones._parsed.cache_clear()
    for _ in range(2):
        with pytest.raises(InvalidInput) as refused:
            phones.to_e164(raw)
        assert refused.value.slug == "invalid-phone"
    assert phones._parsed.cache_info().currsize == 0  # only valid numbers are kept


def test_what_is_not_a_string_is_refused_as_a_bad_number() -> None:
    for raw in (["040 123 4567"], None, 401234567):
        with pytest.raises(InvalidInput):
            phones.to_e164(raw)  # type: ignore[arg-type]
