"""Settlement payments carry RF creditor references (ISO 11649) that verify."""

from __future__ import annotations

import uuid
from datetime import date

from stdnum import iso11649

from payments.marketplace import settlements as st


def _one_digit_changed(ref: str, at: int) -> str:
    digit = ref[at]
    other = "1" if digit == "0" else "0"
    return ref[:at] + other + ref[at + 1 :]


def test_creditor_references_verify():
    for _ in range(200):
        ref = st.creditor_reference(uuid.uuid4(), date(2031, 1, 15))
        assert iso11649.is_valid(ref) and len(ref) == 24
        # A single mistyped digit anywhere in the reference is caught: mod 97 detects every
        # single substitution. (Replacing the check digits with "00" is not a fair tamper:
        # when the real check digits are 97, "00" is congruent and verifies too.)
        for at in range(4, len(ref)):
            assert not iso11649.is_valid(_one_digit_changed(ref, at)), (ref, at)
