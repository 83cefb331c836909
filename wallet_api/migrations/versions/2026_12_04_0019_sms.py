"""sms: opt-ins, texts on their way, reply codes, and each organizer's monthly use and cap

Issue 20: receipts, alerts and approval by reply for clients with a basic phone.

* ``sms_optins``: a number (the client's or a carer's) that receives a wallet's texts, its
  language and chosen events, and its confirmation (the code's hash, expiry and attempts).
* ``sms_messages``: one text to one number, enqueued by the dispatcher once per (opt-in,
  event) (the unique key), sent and retried by the SMS sender.
* ``sms_reply_codes``: a payment request's one-time reply code (its hash), per opt-in.
* ``sms_usage`` and ``sms_budgets``: texts sent and refused per organizer and month, and an
  organizer's own cap.

New tables only. Downgrade drops them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, so this revision keeps its meaning.
STATUSES = ("pending", "sent", "failed", "refused")


def upgrade() -> None:
    op.create_table(
        "sms_optins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("principal_id", sa.Uuid(), nullable=False),
        sa.Column("phone_e164", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organizer_id"], ["organizers.id"], name=op.f("fk_sms_optins_organizer_id_organizers")
        ),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_sms_optins_wallet_id_wallets")
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"], ["principals.id"], name=op.f("fk_sms_optins_principal_id_principals")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["principals.id"], name=op.f("fk_sms_optins_created_by_principals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_optins")),
        sa.UniqueConstraint("wallet_id", "phone_e164", name=op.f("uq_sms_optins_wallet_id")),
    )
    op.create_index("ix_sms_optins_phone", "sms_optins", ["phone_e164"])
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("optin_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("phone_e164", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("code_ref", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("gateway_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN (" + ",".join(f"'{s}'" for s in STATUSES) + ")",
            name=op.f("ck_sms_messages_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["optin_id"],
            ["sms_optins.id"],
            name=op.f("fk_sms_messages_optin_id_sms_optins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
        sa.UniqueConstraint("optin_id", "event_id", name=op.f("uq_sms_messages_optin_id")),
    )
    op.create_index("ix_sms_messages_due", "sms_messages", ["status", "next_attempt_at"])
    op.create_table(
        "sms_reply_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("optin_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["payment_requests.id"],
            name=op.f("fk_sms_reply_codes_request_id_payment_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["optin_id"],
            ["sms_optins.id"],
            name=op.f("fk_sms_reply_codes_optin_id_sms_optins"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_reply_codes")),
        sa.UniqueConstraint("request_id", "optin_id", name=op.f("uq_sms_reply_codes_request_id")),
    )
    op.create_table(
        "sms_usage",
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organizer_id"], ["organizers.id"], name=op.f("fk_sms_usage_organizer_id_organizers")
        ),
        sa.PrimaryKeyConstraint("organizer_id", "period", name=op.f("pk_sms_usage")),
    )
    op.create_table(
        "sms_budgets",
        sa.Column("organizer_id", sa.Uuid(), nullable=False),
        sa.Column("monthly_cap", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organizer_id"],
            ["organizers.id"],
            name=op.f("fk_sms_budgets_organizer_id_organizers"),
        ),
        sa.PrimaryKeyConstraint("organizer_id", name=op.f("pk_sms_budgets")),
    )


def downgrade() -> None:
    op.drop_table("sms_budgets")
    op.drop_table("sms_usage")
    op.drop_table("sms_reply_codes")
    op.drop_index("ix_sms_messages_due", table_name="sms_messages")
    op.drop_table("sms_messages")
    op.drop_index("ix_sms_optins_phone", table_name="sms_optins")
    op.drop_table("sms_optins")
