"""The API's text types: every string a request body carries is one of these.

People type names, labels and reasons, and those reach every screen, statement, CSV and log.
A control character in them is never meant: a NUL cannot be stored by PostgreSQL (a 500
before, and SQLite kept it), an escape sequence rewrites a terminal, a C1 control or a bell
confuses the readers of an export. So one rule for all text: no C0 or C1 control characters,
no DEL; multi-line text (reasons) may break lines with ``\\n`` and nothing else. A refusal is
the usual ``400 invalid-input``, before any handler runs.

``tests/wallet_api/test_text_types.py`` walks the OpenAPI document: every string member of
every request body must refuse a NUL, so a new schema cannot forget.
"""

from __future__ import annotations

import ast
import re
from typing import Annotated

from msgspec import Meta, Struct


class StrictBody(Struct):
    """A request body decoded once, in msgspec's strict mode: ``"3500"`` is not ``3500``.

    Litestar converts bodies leniently (a string of digits becomes an integer); money must not
    guess, so every body that carries money or a secret subclasses this. A route only names it
    as its ``data``: ``wallet_api.deps.StrictBodies`` decodes it, and refuses what does not fit
    with the usual ``400 invalid-input`` before the handler runs."""


# The end of the text. Python's "$" also matches before a final newline (msgspec checks a
# pattern with re.search), which let "fi\n" through; "nothing follows" means the same in Python
# and in ECMA-262, the dialect of the OpenAPI document.
END = r"(?![\s\S])"


# What each pattern asks for, in words: a refusal says these instead of the regular expression
# (:func:`plain_message`). Filled by :func:`whole`.
PATTERN_WORDS: dict[str, str] = {}
_CHOICES = re.compile(r"[a-z-]+(?:\|[a-z-]+)+")


def whole(body: str, words: str | None = None) -> str:
    """A pattern that ``body`` must match from the first character to the last; ``words`` say
    what it asks for (a choice of words, ``fi|sv|en``, says it itself)."""
    if words is None and _CHOICES.fullmatch(body):
        words = "one of " + ", ".join(f'"{choice}"' for choice in body.split("|"))
    if words is None:
        raise ValueError(f"say in words what {body!r} asks for")
    return worded(f"^(?:{body}){END}", words)


def worded(pattern: str, words: str) -> str:
    """``pattern``, whose refusals say ``words``: for a pattern not made by :func:`whole` (the
    quantity's, as OpenAPI states it)."""
    PATTERN_WORDS[pattern] = words
    return pattern


_REGEX = re.compile(r"Expected `str` matching regex (?P<pattern>'.*'|\".*\")", re.DOTALL)


def plain_message(message: str) -> str:
    """msgspec's message with a pattern said in words (:func:`whole`): "Expected
    a number as a string, …" instead of "Expected `str` matching regex '^(?:[0-9]{1,4}…'"."""
    regex = _REGEX.fullmatch(message)
    if regex is None:
        return message
    try:
        words = PATTERN_WORDS.get(ast.literal_eval(regex["pattern"]))
    except (ValueError, SyntaxError):
        return message
    return f"Expected {words}" if words else message


# ECMA-262 and Python agree on these escapes, so the OpenAPI pattern is the one enforced.
ONE_LINE = whole(r"[^\x00-\x1f\x7f-\x9f]*", "one line of text, without control characters")
MULTI_LINE = whole(
    r"[^\x00-\x09\x0b-\x1f\x7f-\x9f]*",
    "text without control characters (lines may break with a newline)",
)


# A month and a day in a query parameter.
MONTH = whole(r"\d{4}-(0[1-9]|1[0-2])", 'a month as YYYY-MM, such as "2026-03"')
DAY = whole(r"\d{4}-\d{2}-\d{2}", 'a date as YYYY-MM-DD, such as "2026-03-31"')

# A name a person or company goes by: one line, 1..100 characters.
Name = Annotated[str, Meta(min_length=1, max_length=100, pattern=ONE_LINE)]
# A short label on one line (a decision line, a passkey's name).
Label = Annotated[str, Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
# A phone number as people type it (payments.people.phones makes it E.164 or refuses it).
Phone = Annotated[str, Meta(min_length=1, max_length=32, pattern=ONE_LINE)]
# A reason or note that may span lines (refunds, rejections).
Reason = Annotated[str, Meta(max_length=1000, pattern=MULTI_LINE)]
# Other one-line text: spell out the length where it is used,
# ``Annotated[str, Meta(max_length=..., pattern=ONE_LINE)]``.

# An amount of money, and a service category's code.
Cents = Annotated[int, Meta(gt=0, le=100_000_000, description="An amount in euro cents")]
Code = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=40,
        pattern=whole("[a-z0-9][a-z0-9-]*", "lowercase letters a-z, digits and hyphens"),
    ),
]
