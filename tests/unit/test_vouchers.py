"""A service voucher's split of a line: the wallet's part and the client's own share."""

from __future__ import annotations

from decimal import Decimal

from payments.checkout.charges import (
    voucher_split,
)
from tests.wallet_api.conftest import client, keys, world  # noqa: F401


def test_split_rounds_like_a_line_and_never_goes_negative() -> None:
    assert voucher_split(Decimal("2"), 3800, 3200) == (6400, 1200)
    assert voucher_split(Decimal("2"), 3000, 3200) == (6000, 0)  # within the voucher
    assert voucher_split(Decimal("2"), 3800, None) == (7600, 0)  # no voucher
    # 0.333 h: full 1265.4 -> 1265, voucher 1065.6 -> 1066: the share is the difference.
    assert voucher_split(Decimal("0.333"), 3800, 3200) == (1066, 199)
    for q in ("0.001", "0.125", "1.25", "7.777"):
        wallet, share = voucher_split(Decimal(q), 3801, 3199)
        assert wallet >= 0 and share >= 0
