"""transfer kinds: a CHECK that ``transfers.kind`` is one the ledger knows

``payments.vocabulary.TransferKind`` names the nine kinds every writer of the ledger uses; the
database now refuses any other, as it already does for account kinds, hold and request
statuses and roles. Every row written so far has one of these kinds (they are the only ones
the code has ever written). An existing row of any other kind makes the upgrade fail and
change nothing, on both engines: PostgreSQL checks the rows when it adds the constraint, and
on SQLite this revision counts them first.

SQLite cannot add a constraint to a table, and batch mode's rebuild (copy, drop, rename) does
not work for ``transfers``: settlements and their lines refer to it, and with foreign keys on
(always, see ``payments.db``) dropping a parent of existing rows fails at commit, while
``PRAGMA foreign_keys`` cannot be switched off inside the migration's transaction. So on SQLite
the constraint is written into the table's stored definition instead, SQLite's own procedure
for a change that leaves every stored row as it is (https://sqlite.org/lang_altertable.html,
section 7): the rows are checked first, in the same write transaction, then ``sqlite_master``
gets the new ``CREATE TABLE`` text and the schema version moves on, so every connection reads
the new definition. No row is copied, however many transfers there are.

The list is written out here, not read from the enum, so this revision keeps meaning what it
meant when a kind is added later (a new kind needs a new revision).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
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
NAME = "ck_transfers_kind_known"
CONDITION = "kind IN (" + ",".join(f"'{k}'" for k in KINDS) + ")"
# The clause as SQLAlchemy writes a table's constraints in SQLite's stored CREATE TABLE.
CLAUSE = f", \n\tCONSTRAINT {NAME} CHECK ({CONDITION})"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.create_check_constraint(op.f(NAME), "transfers", CONDITION)
        return
    unknown = bind.exec_driver_sql(
        f"SELECT count(*) FROM transfers WHERE NOT ({CONDITION})"
    ).scalar_one()
    if unknown:
        raise RuntimeError(f"{NAME}: {unknown} transfers have a kind outside {KINDS}")
    sql = _table_sql(bind)
    if NAME in sql:
        return
    body = sql[: sql.rindex(")")].rstrip()
    _set_table_sql(bind, body + CLAUSE + "\n)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(NAME), "transfers", type_="check")
        return
    sql = _table_sql(bind)
    if CLAUSE not in sql:
        raise RuntimeError(f"{NAME} is not in the stored definition of transfers: {sql}")
    _set_table_sql(bind, sql.replace(CLAUSE, ""))


def _table_sql(bind: Connection) -> str:
    return str(
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'transfers'"
        ).scalar_one()
    )


def _set_table_sql(bind: Connection, sql: str) -> None:
    """Replace the stored CREATE TABLE of ``transfers`` (a change no stored row sees)."""
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'transfers'",
            (sql,),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA quick_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"transfers after the change: {problems}")
