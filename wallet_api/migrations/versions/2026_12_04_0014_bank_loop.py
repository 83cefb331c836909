"""bank loop: what the bank said of each payout, and the transfer that returns a rejected one

``wallet bank import`` reads the bank's answers to a settlement's pain.001 (camt.054 booking
notices and returns, pain.002 status reports) and marks each settlement ``paid`` or
``rejected``. A rejected payout goes back to the provider's payable account by a new kind of
transfer, ``settlement_returned`` (settlement -> provider payable), and is paid with the next
settlement.

* ``transfers``: ``ck_transfers_kind_known`` lists the tenth kind. PostgreSQL drops and adds
  the constraint; on SQLite the stored ``CREATE TABLE`` text is changed in place, as revision
  0011 explains (no row is copied; every stored row keeps a kind of the longer list).
* ``settlements``: ``status`` (``pending`` for every settlement so far: none has been answered),
  ``bank_status_at``, ``bank_reason`` and ``returned_transfer_id`` (unique; no foreign key,
  which SQLite cannot add without rebuilding a table that others refer to: ``wallet check``
  proves it points at the settlement's own return transfer).

Downgrade refuses while a ``settlement_returned`` transfer exists: without its kind the ledger
could not hold it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out (not read from the enum), so this revision keeps its meaning.
OLD_KINDS = (
    "funding",
    "expiry",
    "charge",
    "refund",
    "refund_closed",
    "hold",
    "hold_release",
    "hold_expired",
    "settlement",
)
KINDS = (*OLD_KINDS, "settlement_returned")
STATUSES = ("pending", "paid", "rejected")
KIND_CHECK = "ck_transfers_kind_known"
STATUS_CHECK = "ck_settlements_status_known"
RETURNED_INDEX = "ix_settlements_returned_transfer"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN (" + ",".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    bind = op.get_bind()
    _transfer_kinds(bind, OLD_KINDS, KINDS)
    if bind.dialect.name == "sqlite":
        # SQLite's ADD COLUMN takes a column CHECK; it cannot add a table constraint later.
        op.execute(
            "ALTER TABLE settlements ADD COLUMN status VARCHAR(10) DEFAULT 'pending' NOT NULL "
            f"CONSTRAINT {STATUS_CHECK} CHECK ({_in('status', STATUSES)})"
        )
    else:
        op.add_column(
            "settlements",
            sa.Column("status", sa.String(length=10), nullable=False, server_default="pending"),
        )
        op.create_check_constraint(op.f(STATUS_CHECK), "settlements", _in("status", STATUSES))
    op.add_column(
        "settlements", sa.Column("bank_status_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("settlements", sa.Column("bank_reason", sa.String(length=140), nullable=True))
    op.add_column(
        "settlements",
        sa.Column(
            "returned_transfer_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        ),
    )
    op.create_index(op.f(RETURNED_INDEX), "settlements", ["returned_transfer_id"], unique=True)


def downgrade() -> None:
    bind = op.get_bind()
    returned = bind.exec_driver_sql(
        "SELECT count(*) FROM transfers WHERE kind = 'settlement_returned'"
    ).scalar_one()
    if returned:
        raise RuntimeError(
            f"{returned} payouts were returned by the bank; 0013 has no kind for their transfers"
        )
    op.drop_index(op.f(RETURNED_INDEX), table_name="settlements")
    op.drop_column("settlements", "returned_transfer_id")
    op.drop_column("settlements", "bank_reason")
    op.drop_column("settlements", "bank_status_at")
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(STATUS_CHECK), "settlements", type_="check")
    op.drop_column("settlements", "status")
    _transfer_kinds(bind, KINDS, OLD_KINDS)


def _transfer_kinds(bind: Connection, old: Sequence[str], new: Sequence[str]) -> None:
    """Replace ``ck_transfers_kind_known``'s list ``old`` by ``new``."""
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(KIND_CHECK), "transfers", type_="check")
        op.create_check_constraint(op.f(KIND_CHECK), "transfers", _in("kind", new))
        return
    sql = str(
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'transfers'"
        ).scalar_one()
    )
    before, after = f"CHECK ({_in('kind', old)})", f"CHECK ({_in('kind', new)})"
    if before not in sql:
        raise RuntimeError(f"{KIND_CHECK} is not {before} in the stored definition: {sql}")
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'transfers'",
            (sql.replace(before, after),),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA quick_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"transfers after the change: {problems}")
