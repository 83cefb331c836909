"""Every SMS text in every language fits one 160-character GSM-7 message with values as long
as they get, even with a carer's prefix (issue 20), and the reply parser reads what people
type on a basic phone."""

from __future__ import annotations

import pytest

from notifications.sms import derive_code, parse_reply
from notifications.sms_texts import (
    LANGUAGES,
    ONE_SMS,
    SAMPLES,
    TEXTS,
    gsm7_length,
    money,
    render,
)


@pytest.mark.parametrize("kind", sorted(TEXTS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_fits_one_gsm7_message(kind: str, language: str) -> None:
    # As a carer gets it: with the client's first name first.
    values = {**SAMPLES, "code": "482193"} if kind == "confirm" else SAMPLES  # six digits
    text = f"{SAMPLES['name']}: " + render(kind, language, **values)
    assert "{" not in text, text
    length = gsm7_length(text)
    assert length is not None, f"{kind}/{language} needs UCS-2: {text!r}"
    assert length <= ONE_SMS, f"{kind}/{language} is {length} septets: {text!r}"


def test_gsm7_counts_the_extension_table_twice_and_refuses_what_it_lacks() -> None:
    assert gsm7_length("Äö å") == 4
    assert gsm7_length("5 €") == 4
    assert gsm7_length("š") is None


def test_money_in_each_language() -> None:
    assert money(123_450, "fi") == "1 234,50 €"
    assert money(3500, "sv") == "35,00 €"
    assert money(123_450, "en") == "€1,234.50"


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("KYLLÄ 4821", ("yes", "4821")),
        ("kyllä 4821", ("yes", "4821")),
        ("Kylla 4821", ("yes", "4821")),
        ("  ja   0007 ", ("yes", "0007")),
        ("YES 4821.", ("yes", "4821")),
        ("EI 4821", ("no", "4821")),
        ("nej 4821", ("no", "4821")),
        ("No 4821", ("no", "4821")),
        ("saldo", ("balance", None)),
        ("SALDO!", ("balance", None)),
        ("KYLLÄ", ("unknown", None)),
        ("KYLLÄ 48211", ("unknown", None)),
        ("MAYBE 4821", ("unknown", None)),
        ("KYLLÄ ٤٨٢١", ("unknown", None)),  # digits of another script are no code
        ("", ("unknown", None)),
    ],
)
def test_replies_people_type(typed: str, parsed: tuple[str, str | None]) -> None:
    assert parse_reply(typed) == parsed


def test_a_code_is_derived_the_same_each_time_and_differs_per_reference() -> None:
    key = b"k" * 32
    assert derive_code(key, "reply:a", 4) == derive_code(key, "reply:a", 4)
    assert len(derive_code(key, "confirm:x", 6)) == 6
    codes = {derive_code(key, f"reply:{n}", 4) for n in range(200)}
    assert len(codes) > 150
