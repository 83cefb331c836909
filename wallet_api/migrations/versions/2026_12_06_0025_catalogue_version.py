"""catalogue version: a token that every change to what a charge is priced by replaces

Issue 21. The charge pipeline keeps each provider's listings of the day in its process
(payments.marketplace.listings_cache) instead of reading them at the head of every batch: that
read cost more to plan than to run. A kept listing may be used only while nothing it came from
has changed, in any process. So every change to ``providers``, ``provider_prices``,
``provider_price_versions`` or ``service_categories`` gives the one row of
``catalogue_versions`` a new random token, in the same transaction, and a batch compares the
token its own statements read with the one its listings were read with.

- A random token, not a counter: a database emptied (the tests delete every row with triggers
  off) or restored from a backup could count back to a number a process already holds.
- The triggers write the row with an upsert, so a deleted row comes back at the next change;
  until then a batch sees no token and reads the listings every time.
- PostgreSQL: deferred constraint triggers, so a transaction takes the row's lock at its
  commit, after every other lock it takes; two catalogue changes never deadlock on it.
- SQLite: row triggers, on its one writer.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("providers", "provider_prices", "provider_price_versions", "service_categories")
# A new token: 53 random bits on PostgreSQL, 64 on SQLite.
_PG_RANDOM = "(random() * 9007199254740991)::bigint"
_SQLITE_RANDOM = "random()"


def upgrade() -> None:
    op.create_table(
        "catalogue_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_catalogue_versions_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_versions")),
    )
    on_postgres = op.get_bind().dialect.name == "postgresql"
    token = _PG_RANDOM if on_postgres else _SQLITE_RANDOM
    op.execute(f"INSERT INTO catalogue_versions (id, token) VALUES (1, {token})")
    upsert = (
        f"INSERT INTO catalogue_versions (id, token) VALUES (1, {token}) "
        "ON CONFLICT (id) DO UPDATE SET token = excluded.token"
    )
    if on_postgres:
        op.execute(
            f"""
            CREATE FUNCTION wallet_catalogue_changed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {upsert};
                RETURN NULL;
            END
            $$
            """
        )
        for table in TABLES:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER catalogue_changed AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION wallet_catalogue_changed()"
            )
            op.execute(
                f"CREATE TRIGGER catalogue_truncated AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION wallet_catalogue_changed()"
            )
        return
    for table in TABLES:
        for change in ("insert", "update", "delete"):
            op.execute(
                f"CREATE TRIGGER catalogue_{change}_{table} AFTER {change.upper()} ON {table} "
                f"FOR EACH ROW BEGIN {upsert}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS catalogue_changed ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS catalogue_truncated ON {table}")
        op.execute("DROP FUNCTION IF EXISTS wallet_catalogue_changed()")
    else:
        for table in TABLES:
            for change in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS catalogue_{change}_{table}")
    op.drop_table("catalogue_versions")
