"""prices and vouchers: versioned provider prices, voucher decision lines, the client's own share

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23

``provider_prices`` keeps one row per (provider, category) for the approval; the price itself
moves to ``provider_price_versions`` (one row per version, in force from ``effective_from``).
Existing prices become versions in force since ``PRICE_EPOCH``, so no past charge day loses
its price.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Same value as payments.providers.PRICE_EPOCH (a migration must not import application code).
PRICE_EPOCH = date(2000, 1, 1)


def upgrade() -> None:
    op.create_table(
        "provider_price_versions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=False),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "unit_price_cents > 0", name=op.f("ck_provider_price_versions_price_positive")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_provider_price_versions_provider_id_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["service_categories.id"],
            name=op.f("fk_provider_price_versions_category_id_service_categories"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_price_versions")),
        # One version per day: the price in force on a day is never ambiguous.
        sa.UniqueConstraint(
            "provider_id",
            "category_id",
            "effective_from",
            name=op.f("uq_provider_price_versions_provider_id"),
        ),
    )
    # The old single price becomes the first version; the listing row keeps its id.
    op.execute(
        sa.text(
            "INSERT INTO provider_price_versions"
            " (id, provider_id, category_id, unit_price_cents, effective_from, created_at)"
            " SELECT id, provider_id, category_id, unit_price_cents, :epoch, :now"
            " FROM provider_prices"
        ).bindparams(
            sa.bindparam("epoch", PRICE_EPOCH, type_=sa.Date()),
            sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True)),
        )
    )
    with op.batch_alter_table("provider_prices", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_provider_prices_price_positive"), type_="check")
        batch_op.drop_column("unit_price_cents")

    with op.batch_alter_table("decision_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voucher_value_cents", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("hours_per_week", sa.String(length=12), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_decision_lines_voucher_positive"),
            "voucher_value_cents IS NULL OR voucher_value_cents > 0",
        )

    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("client_share_cents", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            op.f("ck_charges_share_nonnegative"), "client_share_cents >= 0"
        )
    with op.batch_alter_table("charge_lines", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("client_share_cents", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.create_check_constraint(
            op.f("ck_charge_lines_share_nonnegative"), "client_share_cents >= 0"
        )


def downgrade() -> None:
    with op.batch_alter_table("charge_lines", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_charge_lines_share_nonnegative"), type_="check")
        batch_op.drop_column("client_share_cents")
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_charges_share_nonnegative"), type_="check")
        batch_op.drop_column("client_share_cents")
    with op.batch_alter_table("decision_lines", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_decision_lines_voucher_positive"), type_="check")
        batch_op.drop_column("hours_per_week")
        batch_op.drop_column("voucher_value_cents")
    with op.batch_alter_table("provider_prices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_price_cents", sa.BigInteger(), nullable=True))
    # Back to one price per listing: the newest version (a future one, if published).
    op.execute(
        sa.text(
            "UPDATE provider_prices SET unit_price_cents = ("
            " SELECT v.unit_price_cents FROM provider_price_versions v"
            " WHERE v.provider_id = provider_prices.provider_id"
            " AND v.category_id = provider_prices.category_id"
            " ORDER BY v.effective_from DESC LIMIT 1)"
        )
    )
    with op.batch_alter_table("provider_prices", schema=None) as batch_op:
        batch_op.alter_column("unit_price_cents", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_provider_prices_price_positive"), "unit_price_cents > 0"
        )
    op.drop_table("provider_price_versions")
