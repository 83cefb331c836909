"""corrections: a case manager corrects a wrong charge after its month has closed

A provider refunds a charge; once the charge's month has closed, the refund goes to the
organizer's budget (``refund_closed``). When the provider will not, or the charge was wrong in
a way only the county sees, a case manager corrects it: the amount goes from the provider's
payable account back to the organizer's budget by a new kind of transfer, ``correction``, with
a reason. Above an amount set per organizer a second case manager approves it first.

* ``transfers``: ``ck_transfers_kind_known`` lists the eleventh kind, the way revision 0014
  added the tenth (PostgreSQL drops and adds the constraint; on SQLite the stored
  ``CREATE TABLE`` text is changed in place, no row copied).
* ``organizers.correction_approval_above_cents`` (default 100 euros): above it a correction
  waits for a second case manager.
* ``corrections``: the charge, the amount, the reason, who asked and who decided, and the
  transfer (unique) once the money moved; ``approved`` exactly when it has a transfer.

Downgrade refuses while a ``correction`` transfer exists: without its kind the ledger could not
hold it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection

revision: str = "0016"
down_revision: str | None = "0015"
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
    "settlement_returned",
)
KINDS = (*OLD_KINDS, "correction")
STATUSES = ("pending", "approved", "rejected")
KIND_CHECK = "ck_transfers_kind_known"


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN (" + ",".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    bind = op.get_bind()
    _transfer_kinds(bind, OLD_KINDS, KINDS)
    op.add_column(
        "organizers",
        sa.Column(
            "correction_approval_above_cents",
            sa.BigInteger(),
            nullable=False,
            server_default="10000",
        ),
    )
    op.create_table(
        "corrections",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("charge_id", sa.Uuid(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.Column(
            "transfer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_corrections_amount_positive")),
        sa.CheckConstraint(_in("status", STATUSES), name=op.f("ck_corrections_status_known")),
        sa.CheckConstraint(
            "(status = 'approved') = (transfer_id IS NOT NULL)",
            name=op.f("ck_corrections_moved_when_approved"),
        ),
        sa.ForeignKeyConstraint(
            ["organizer_id"], ["organizers.id"], name=op.f("fk_corrections_organizer_id_organizers")
        ),
        sa.ForeignKeyConstraint(
            ["charge_id"], ["charges.id"], name=op.f("fk_corrections_charge_id_charges")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["principals.id"], name=op.f("fk_corrections_requested_by_principals")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["principals.id"], name=op.f("fk_corrections_decided_by_principals")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name=op.f("fk_corrections_transfer_id_transfers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_corrections_transfer_id")),
    )
    op.create_index(op.f("ix_corrections_charge_id"), "corrections", ["charge_id"])
    op.create_index(
        op.f("ix_corrections_organizer_status"),
        "corrections",
        ["organizer_id", "status", "requested_at"],
    )


def downgrade() -> None:
    bind = op.get_bind()
    corrected = bind.exec_driver_sql(
        "SELECT count(*) FROM transfers WHERE kind = 'correction'"
    ).scalar_one()
    if corrected:
        raise RuntimeError(f"{corrected} charges were corrected; 0015 has no kind for them")
    op.drop_index(op.f("ix_corrections_organizer_status"), table_name="corrections")
    op.drop_index(op.f("ix_corrections_charge_id"), table_name="corrections")
    op.drop_table("corrections")
    op.drop_column("organizers", "correction_approval_above_cents")
    _transfer_kinds(bind, KINDS, OLD_KINDS)


def _transfer_kinds(bind: Connection, old: Sequence[str], new: Sequence[str]) -> None:
    """Replace ``ck_transfers_kind_known``'s list ``old`` by ``new`` (as revision 0014 does)."""
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
