"""outbox notify: on PostgreSQL a transaction that adds outbox rows notifies at its commit

Deployed, the web processes only answer requests (``wallet serve --web-only``) and the outbox
dispatcher runs in ``wallet worker``. A commit in this process wakes its own dispatcher at once
(notifications.dispatcher), but the worker saw the web processes' commits only at its next
poll, up to a second later: every live balance and Web Push waited for it. Now each statement
that inserts outbox rows queues a ``NOTIFY wallet_outbox``; PostgreSQL sends it when (and only
if) the transaction commits, once per transaction, and the dispatcher listens for it. Nothing on
SQLite (one process, a trial).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION wallet_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('wallet_outbox', '');
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
        FOR EACH STATEMENT EXECUTE FUNCTION wallet_outbox_notify()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS wallet_outbox_notify()")
