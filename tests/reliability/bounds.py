"""The reliability suite: a short version in CI, a long version with ``WALLET_LONG=1``
(``make reliability``). Everything here targets loopback only and stops by itself."""

from __future__ import annotations

import os

LONG = os.environ.get("WALLET_LONG", "") not in ("", "0")


def pick(short: int | float, long: int | float) -> float:
    """The short (CI) or the long (``WALLET_LONG=1``) value of a bound."""
    return long if LONG else short


# pytest-timeout's 300 s per test holds for the short version; the long one gets an hour.
LONG_TIMEOUT = int(pick(300, 3600))
