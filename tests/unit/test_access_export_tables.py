"""The right-of-access export misses no table: every table that can refer to a client, a person,
a wallet or their accounts (directly, or through a table that does) is either read by
``payments.reporting.access_export`` or left out there for a stated reason.

A new table that names a person fails here until someone decides which it is.
"""

from __future__ import annotations

import notifications.models  # noqa: F401  (its tables join the shared metadata)
from payments.models import Base
from payments.reporting import access_export

# Where personal data starts: the client, every person (principal), the wallet.
ROOTS = {"clients", "principals", "wallets"}
# Columns that name a person or a wallet without a foreign key (ids kept loose on purpose).
PERSON_COLUMNS = {
    "client_id",
    "subject_client_id",
    "principal_id",
    "actor_id",
    "carer_id",
    "wallet_id",
    "created_by",
    "decided_by",
    "issued_by",
    "requested_by",
}


def personal_tables() -> set[str]:
    """ROOTS and every table that refers to one of them, by foreign key or by a column named
    as a person or wallet id, closed over foreign keys (a charge line names a charge, which
    names a wallet)."""
    found = set(ROOTS)
    changed = True
    while changed:
        changed = False
        for name, tbl in Base.metadata.tables.items():
            if name in found:
                continue
            refers = {fk.column.table.name for fk in tbl.foreign_keys}
            if refers & found or {c.name for c in tbl.columns} & PERSON_COLUMNS:
                found.add(name)
                changed = True
    return found


def test_every_personal_table_is_exported_or_excluded_with_a_reason() -> None:
    decided = set(access_export.COVERED) | set(access_export.EXCLUDED)
    missing = sorted(personal_tables() - decided)
    assert not missing, (
        f"tables that can refer to a client are neither exported nor excluded: {missing}; "
        "add them to access_export.COVERED (and read them) or to EXCLUDED with a reason"
    )


def test_no_table_is_both_and_none_is_stale() -> None:
    assert not set(access_export.COVERED) & set(access_export.EXCLUDED)
    stale = (set(access_export.COVERED) | set(access_export.EXCLUDED)) - set(Base.metadata.tables)
    assert not stale, f"no such tables: {sorted(stale)}"
    assert all(len(why) > 20 for why in access_export.EXCLUDED.values())


def test_the_walk_finds_the_tables_it_must() -> None:
    # A guard on the walk itself: a loose id column, a foreign key two steps away.
    tables = personal_tables()
    assert {"audit_events", "outbox", "charge_lines", "hold_lines", "push_subscriptions"} <= tables


def test_every_reason_is_written_in_finnish_and_swedish_too() -> None:
    from wallet_api.privacy.render import REASONS

    for lang in ("fi", "sv"):
        assert set(REASONS[lang]) == set(access_export.EXCLUDED), lang
