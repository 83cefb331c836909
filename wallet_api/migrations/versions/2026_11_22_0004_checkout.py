"""checkout: holds, payment requests, payment tokens, QR cards, trusted providers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Integer ids that SQLite makes rowid aliases and PostgreSQL bigint (as in 0001).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("captured_cents", sa.BigInteger(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("charge_id", sa.Uuid(), nullable=True),
        _ts("expires_at"),
        _ts("created_at"),
        _ts("closed_at", True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_holds_amount_positive")),
        sa.CheckConstraint(
            "captured_cents >= 0 AND captured_cents <= amount_cents",
            name=op.f("ck_holds_captured_range"),
        ),
        sa.CheckConstraint(
            "status IN ('held','captured','voided','expired')", name=op.f("ck_holds_status_known")
        ),
        _fk("holds", "organizer_id", "organizers"),
        _fk("holds", "provider_id", "providers"),
        _fk("holds", "wallet_id", "wallets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
    )
    op.create_index("ix_holds_status_expires", "holds", ["status", "expires_at"])
    op.create_index("ix_holds_provider_created", "holds", ["provider_id", "created_at"])

    op.create_table(
        "hold_lines",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=False),
        sa.Column("envelope_id", BigId, nullable=False),
        sa.Column("hold_account_id", BigId, nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("quantity", sa.String(length=20), nullable=True),
        sa.Column("unit_price_cents", sa.BigInteger(), nullable=True),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_hold_lines_amount_positive")),
        _fk("hold_lines", "hold_id", "holds"),
        _fk("hold_lines", "category_id", "service_categories"),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["accounts.id"], name=op.f("fk_hold_lines_envelope_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["hold_account_id"],
            ["accounts.id"],
            name=op.f("fk_hold_lines_hold_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hold_lines")),
    )
    op.create_index(op.f("ix_hold_lines_hold_id"), "hold_lines", ["hold_id"])

    op.create_table(
        "payment_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=True),
        sa.Column("hold_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total_cents", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("charge_id", sa.Uuid(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        _ts("expires_at"),
        _ts("created_at"),
        _ts("decided_at", True),
        sa.CheckConstraint("total_cents > 0", name=op.f("ck_payment_requests_total_positive")),
        sa.CheckConstraint(
            "status IN ('pending','approved','declined','expired','cancelled')",
            name=op.f("ck_payment_requests_status_known"),
        ),
        _fk("payment_requests", "organizer_id", "organizers"),
        _fk("payment_requests", "provider_id", "providers"),
        _fk("payment_requests", "wallet_id", "wallets"),
        _fk("payment_requests", "hold_id", "holds"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_requests")),
    )
    op.create_index(
        "ix_payment_requests_status_expires", "payment_requests", ["status", "expires_at"]
    )
    op.create_index("ix_payment_requests_wallet", "payment_requests", ["wallet_id", "status"])

    op.create_table(
        "payment_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _ts("expires_at"),
        _ts("created_at"),
        _ts("used_at", True),
        _fk("payment_tokens", "organizer_id", "organizers"),
        _fk("payment_tokens", "wallet_id", "wallets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_payment_tokens_token_hash")),
    )
    op.create_index("ix_payment_tokens_code", "payment_tokens", ["organizer_id", "code_hash"])
    op.create_index(op.f("ix_payment_tokens_wallet_id"), "payment_tokens", ["wallet_id"])

    op.create_table(
        "qr_cards",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("card_number", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("pin_salt", sa.String(length=64), nullable=True),
        sa.Column("pin_hash", sa.String(length=128), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("issued_by", sa.Uuid(), nullable=True),
        _ts("created_at"),
        _ts("locked_at", True),
        _ts("revoked_at", True),
        sa.CheckConstraint(
            "status IN ('active','locked','revoked')", name=op.f("ck_qr_cards_status_known")
        ),
        sa.CheckConstraint("failed_attempts >= 0", name=op.f("ck_qr_cards_attempts_nonnegative")),
        _fk("qr_cards", "organizer_id", "organizers"),
        _fk("qr_cards", "wallet_id", "wallets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qr_cards")),
        sa.UniqueConstraint("card_number", name=op.f("uq_qr_cards_card_number")),
    )
    op.create_index("ix_qr_cards_wallet", "qr_cards", ["wallet_id"])

    op.create_table(
        "trusted_providers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("provider_id", sa.Uuid(), nullable=False),
        sa.Column("per_charge_cap_cents", sa.BigInteger(), nullable=False),
        sa.Column("monthly_cap_cents", sa.BigInteger(), nullable=True),
        sa.Column("month_period", sa.String(length=7), nullable=True),
        sa.Column("month_spent_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _ts("created_at"),
        sa.CheckConstraint(
            "per_charge_cap_cents > 0", name=op.f("ck_trusted_providers_cap_positive")
        ),
        sa.CheckConstraint(
            "monthly_cap_cents IS NULL OR monthly_cap_cents > 0",
            name=op.f("ck_trusted_providers_monthly_cap_positive"),
        ),
        sa.CheckConstraint(
            "month_spent_cents >= 0", name=op.f("ck_trusted_providers_spent_nonnegative")
        ),
        _fk("trusted_providers", "organizer_id", "organizers"),
        _fk("trusted_providers", "wallet_id", "wallets"),
        _fk("trusted_providers", "provider_id", "providers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trusted_providers")),
        sa.UniqueConstraint(
            "wallet_id", "provider_id", name=op.f("uq_trusted_providers_wallet_id")
        ),
    )


def downgrade() -> None:
    for table in (
        "trusted_providers",
        "qr_cards",
        "payment_tokens",
        "payment_requests",
        "hold_lines",
        "holds",
    ):
        op.drop_table(table)
