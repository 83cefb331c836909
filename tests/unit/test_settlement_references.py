"""Settlement payments carry RF creditor references (ISO 11649) that verify."""

from __future__ import annotations

from datetime import date

from stdnum import iso11649

from payments.marketplace import settlements as st


def test_creditor_references_verify():
    import uuid

    for _ in range(200):
        ref = st.creditor_reference(uuid.uuid4(), date(2031, 1, 15))
        assert iso11649.is_valid(ref) and len(ref) == 24
    assert not iso11649.is_valid("RF00" + ref[4:])
