"""marketplace: provider profiles (onboarding), settlements and their lines

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "provider_profiles",
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("business_id", sa.String(length=9), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("bic", sa.String(length=11), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("contact_phone", sa.String(length=16), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("municipalities", sa.JSON(), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        _ts("decided_at", True),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_profiles_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["organizer_id"],
            ["organizers.id"],
            name=op.f("fk_provider_profiles_organizer_id_organizers"),
        ),
        sa.PrimaryKeyConstraint("provider_id", name=op.f("pk_provider_profiles")),
        sa.UniqueConstraint(
            "organizer_id", "business_id", name=op.f("uq_provider_profiles_organizer_id")
        ),
    )

    op.create_table(
        "settlements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=25), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        _ts("cutoff_at"),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", BIG_ID, nullable=False),
        _ts("created_at"),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_settlements_amount_positive")),
        sa.ForeignKeyConstraint(
            ["organizer_id"], ["organizers.id"], name=op.f("fk_settlements_organizer_id_organizers")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_settlements_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name=op.f("fk_settlements_transfer_id_transfers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("reference", name=op.f("uq_settlements_reference")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_settlements_transfer_id")),
    )
    op.create_index(op.f("ix_settlements_batch_id"), "settlements", ["batch_id"])
    op.create_index("ix_settlements_provider_created", "settlements", ["provider_id", "created_at"])
    op.create_index("ix_settlements_org_created", "settlements", ["organizer_id", "created_at"])

    op.create_table(
        "settlement_lines",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("settlement_id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", BIG_ID, nullable=False),
        sa.Column("charge_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        _ts("booked_at"),
        sa.CheckConstraint("amount_cents <> 0", name=op.f("ck_settlement_lines_amount_nonzero")),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["settlements.id"],
            name=op.f("fk_settlement_lines_settlement_id_settlements"),
        ),
        sa.ForeignKeyConstraint(
            ["transfer_id"],
            ["transfers.id"],
            name=op.f("fk_settlement_lines_transfer_id_transfers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_lines")),
        # A ledger transfer is settled at most once: the guarantee behind "a charge is settled
        # exactly once", independent of the code that writes the lines.
        sa.UniqueConstraint("transfer_id", name=op.f("uq_settlement_lines_transfer_id")),
    )
    op.create_index(
        op.f("ix_settlement_lines_settlement_id"), "settlement_lines", ["settlement_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_settlement_lines_settlement_id"), table_name="settlement_lines")
    op.drop_table("settlement_lines")
    op.drop_index("ix_settlements_org_created", table_name="settlements")
    op.drop_index("ix_settlements_provider_created", table_name="settlements")
    op.drop_index(op.f("ix_settlements_batch_id"), table_name="settlements")
    op.drop_table("settlements")
    op.drop_table("provider_profiles")
