"""A batch's rows as bound parameters: a statement over a batch, compiled once.

A batch statement (the charge pipeline's conditional updates) joins its table to the batch's
rows. Written as ``VALUES (…), (…)`` its SQL changes with the number of rows, so SQLAlchemy
compiles it again for every batch, and that compiling cost more CPU than the statements saved
(py-spy on ``bench.charge_cpu``). Here the rows travel as parameters whose number does not
change with the batch's size, read back as a table by the engine itself, so each statement is
built and compiled once per engine:

- PostgreSQL: one typed array per column, ``unnest($1::uuid[], $2::bigint[]) AS v(a, b)``.
  The planner knows an array's length (``unnest``'s row estimate reads it from the bound
  value), so a batch of a few rows is joined to its table by index probes. The JSON text
  (``jsonb_to_recordset``) these replaced is always estimated at 100 rows, and once the
  planner had statistics it scanned whole tables (accounts, clients, outbox) to hash-join
  them, 0.3-2 ms a statement (EXPLAIN ANALYZE, docs/performance.md).
- SQLite: one JSON text, read by ``json_each``.

The same holds for a list a statement tests with ``IN``: an expanding parameter
(``bindparam(..., expanding=True)``) is rendered into the SQL anew for every length of the list,
and on PostgreSQL each new text is also prepared anew by the driver. :meth:`BatchRows.has`
tests against the rows instead, one text whatever the length; :class:`PerEngine` builds such a
statement once for each engine on first use. On PostgreSQL a test of one column is
``col = ANY($1::uuid[])``, not ``col IN (SELECT unnest(…))``: the same index probes, but the
planner has one relation fewer to order, and planning was most of what the batch's reads cost
(the envelopes' read planned for 1.3 ms and ran for 0.3; with ``= ANY`` it plans for 0.8:
PostgreSQL's statement log, docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BindParameter,
    Table,
    Text,
    any_,
    bindparam,
    column,
    func,
    insert,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.types import TypeEngine

T = TypeVar("T")


class BatchRows:
    """A batch's rows with named, typed columns, for one engine: use :attr:`table` in a
    statement (built once) and :meth:`bind` to bind a batch's rows to it."""

    def __init__(self, dialect: Dialect, name: str, **columns: TypeEngine[Any]) -> None:
        self.dialect = dialect
        self.name = name
        self.columns = columns
        self._on_postgres = dialect.name == "postgresql"
        if self._on_postgres:
            arrays = [
                sql_cast(bindparam(f"{name}_{key}", type_=ARRAY(type_)), ARRAY(type_))
                for key, type_ in columns.items()
            ]
            self._arrays = arrays
            self.table: FromClause = (
                func.unnest(*arrays)
                .table_valued(*(column(key, type_) for key, type_ in columns.items()))
                .render_derived(name=name)
            )
        else:
            # SQLite's JSON text carries each value as the column would store it; PostgreSQL's
            # arrays are processed by SQLAlchemy's array type.
            self._process = {
                key: type_.dialect_impl(dialect).bind_processor(dialect)
                for key, type_ in columns.items()
            }
            self._param: BindParameter[str] = bindparam(f"{name}_rows", type_=Text)
            value: ColumnElement[Any] = literal_column("value")
            self.table = (
                select(
                    *(
                        func.json_extract(value, f"$.{key}", type_=type_).label(key)
                        for key, type_ in columns.items()
                    )
                )
                .select_from(func.json_each(self._param))
                .subquery(name)
            )

    def bind(self, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
        """The parameters for ``rows`` (tuples in the columns' order)."""
        keys = list(self.columns)
        if self._on_postgres:
            # The driver sends each list as a typed array; SQLAlchemy's type processes the
            # values as it does any column's.
            return {f"{self.name}_{key}": [row[i] for row in rows] for i, key in enumerate(keys)}
        # SQLite: each value as the engine stores it (a UUID as 32 hex digits, say).
        out = []
        for row in rows:
            item = {}
            for key, value in zip(keys, row, strict=True):
                process = self._process[key]
                item[key] = process(value) if process is not None and value is not None else value
            out.append(item)
        return {self._param.key: json.dumps(out, default=str)}

    def bind_dicts(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """:meth:`bind` for rows as dicts keyed by the columns' names. On PostgreSQL each
        column's array is read straight from the dicts, with no tuple per row between (the
        group commit binds some 250 values a table per batch this way)."""
        if self._on_postgres:
            return {f"{self.name}_{key}": [row[key] for row in rows] for key in self.columns}
        return self.bind([tuple(row[key] for key in self.columns) for row in rows])

    def bind_each(self, values: Iterable[Any]) -> dict[str, Any]:
        """:meth:`bind` for rows of one column: one row per value."""
        return self.bind([(value,) for value in values])

    def has(self, *what: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[bool]:
        """``what IN`` the rows: one column against the rows' one column, or a tuple of
        columns against all of them, in order. (PostgreSQL, one column: ``= ANY`` the column's
        array, which plans faster than a semi-join to ``unnest``; see the module.)"""
        mine = [self.table.c[key] for key in self.columns]
        if len(what) != len(mine):
            raise ValueError(f"{len(what)} columns against rows of {len(mine)}")
        if len(what) == 1:
            if self._on_postgres:
                return what[0] == any_(self._arrays[0])
            return what[0].in_(select(mine[0]))
        return tuple_(*what).in_(select(*mine))


class PerEngine(Generic[T]):
    """Something built from the engine's dialect (a statement over :class:`BatchRows`), built
    once per engine on first use: ``_STATEMENT.of(session)``."""

    def __init__(self, build: Callable[[Dialect], T]) -> None:
        self._build = build
        self._built: dict[str, T] = {}

    def of(self, s: AsyncSession) -> T:
        dialect = s.get_bind().dialect
        built = self._built.get(dialect.name)
        if built is None:
            built = self._built[dialect.name] = self._build(dialect)
        return built


def with_list(
    s: AsyncSession, built: PerEngine[tuple[BatchRows, Any]], values: Iterable[Any]
) -> tuple[Any, dict[str, Any]]:
    """A statement that tests one list (built over :class:`BatchRows` of one column), for this
    session's engine, and its parameters with ``values`` bound: ``s.execute(*with_list(...))``."""
    asked, stmt = built.of(s)
    return stmt, asked.bind_each(values)


_INSERTS: dict[tuple[str, str, tuple[str, ...]], tuple[BatchRows, Any]] = {}


async def insert_many(s: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` with one statement,
    ``INSERT … SELECT`` from the batch's rows, whose text does not change with their number.

    Not an executemany: SQLAlchemy sends that as one statement per row, each one executed by
    PostgreSQL on its own (0.02-0.05 ms each in its log, 23 rows to a batch, for each of the
    group commit's four tables)."""
    if rows:
        await _insert_rows(s, s.get_bind().dialect, table, rows)


async def _insert_rows(
    s: AsyncSession, dialect: Dialect, table: Table, rows: list[dict[str, Any]]
) -> None:
    batch, stmt = _insert(dialect, table, tuple(rows[0]))
    await s.execute(stmt, batch.bind_dicts(rows))


def _insert(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> tuple[BatchRows, Any]:
    """:func:`insert_many`'s statement for these columns of ``table``, built once."""
    key = (dialect.name, table.name, columns)
    built = _INSERTS.get(key)
    if built is None:
        batch = BatchRows(dialect, table.name, **{c: table.c[c].type for c in columns})
        stmt = insert(table).from_select(
            list(columns), select(*(batch.table.c[c] for c in columns))
        )
        built = _INSERTS[key] = (batch, stmt)
    return built


_WRITES: dict[tuple[Any, ...], Any] = {}


async def insert_all(
    s: AsyncSession,
    writes: list[tuple[Table, list[dict[str, Any]]]],
    then: tuple[Any, dict[str, Any]] | None = None,
) -> None:
    """:func:`insert_many` for each (table, rows) of ``writes``, each table once; then
    ``then``, a statement built once (``UPDATE … FROM`` a :class:`BatchRows`, say) and its
    parameters.

    On PostgreSQL in one statement, one round trip: all but the last insert, and ``then``, are
    data-modifying ``WITH`` queries of the last insert. PostgreSQL runs each of them once and
    to its end, all on the statement's one snapshot, and checks the foreign keys between them
    (a charge's lines name their charge) at the statement's end, when all the rows
    are in; so ``then`` must not need to see the inserted rows. SQLite has no data-modifying
    ``WITH``: the same statements, one each, in order."""
    writes = [(table, rows) for table, rows in writes if rows]
    dialect = s.get_bind().dialect
    if dialect.name != "postgresql" or not writes:
        for table, rows in writes:
            await _insert_rows(s, dialect, table, rows)
        if then is not None:
            await s.execute(*then)
        return
    built = [_insert(dialect, table, tuple(rows[0])) for table, rows in writes]
    key = (
        tuple((table.name, tuple(rows[0])) for table, rows in writes),
        None if then is None else id(then[0]),
    )
    stmt = _WRITES.get(key)
    if stmt is None:
        *first, (_, last) = built
        ctes = [insert.cte(f"insert_{i}") for i, (_, insert) in enumerate(first)]
        if then is not None:
            ctes.append(then[0].cte("then_write"))
        stmt = _WRITES[key] = last.add_cte(*ctes) if ctes else last
    params: dict[str, Any] = dict(then[1]) if then is not None else {}
    for (batch, _), (_, rows) in zip(built, writes, strict=True):
        params.update(batch.bind_dicts(rows))
    await s.execute(stmt, params)
