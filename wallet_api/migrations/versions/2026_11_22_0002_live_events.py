"""live events: push subscriptions, notification preferences, low-balance alerts, dispatch lock

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint", sa.String(length=2000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_push_subscriptions_principal_id_principals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index("ix_push_subscriptions_principal", "push_subscriptions", ["principal_id"])
    op.create_table(
        "notification_preferences",
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("hide_amounts", sa.Boolean(), nullable=False),
        sa.Column("low_balance_cents", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_notification_preferences_principal_id_principals"),
        ),
        sa.PrimaryKeyConstraint("principal_id", name=op.f("pk_notification_preferences")),
    )
    op.create_table(
        "low_balance_alerts",
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("threshold_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_low_balance_alerts_principal_id_principals"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_low_balance_alerts_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint(
            "principal_id", "account_id", "period", name=op.f("pk_low_balance_alerts")
        ),
    )
    locks = op.create_table(
        "dispatch_locks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dispatch_locks")),
    )
    op.bulk_insert(locks, [{"name": "outbox"}])


def downgrade() -> None:
    op.drop_table("dispatch_locks")
    op.drop_table("low_balance_alerts")
    op.drop_table("notification_preferences")
    op.drop_index("ix_push_subscriptions_principal", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
