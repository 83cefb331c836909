"""Many rows as one bound parameter: a statement over a batch, compiled once.

A batch statement (the charge pipeline's conditional updates) joins its table to the batch's
rows. Written as ``VALUES (…), (…)`` its SQL changes with the number of rows, so SQLAlchemy
compiles it again for every batch, and that compiling cost more CPU than the statements saved
(py-spy on ``bench.charge_cpu``). Here the rows travel as one JSON text instead, read back as a
table by the engine's own JSON functions (``jsonb_to_recordset`` on PostgreSQL, ``json_each``
on SQLite), so each statement is built and compiled once per engine.

The same holds for a list a statement tests with ``IN``: an expanding parameter
(``bindparam(..., expanding=True)``) is rendered into the SQL anew for every length of the list,
and on PostgreSQL each new text is also prepared anew by the driver. :meth:`JsonRows.has` tests
against the rows instead, one text whatever the length; :class:`PerEngine` builds such a
statement once for each engine on first use.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BindParameter,
    Text,
    bindparam,
    column,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql import ColumnElement, FromClause
from sqlalchemy.types import TypeEngine

T = TypeVar("T")


class JsonRows:
    """A batch's rows with named, typed columns, for one engine: use :attr:`table` in a
    statement (built once) and :meth:`param` to bind a batch's rows to it."""

    def __init__(self, dialect: Dialect, name: str, **columns: TypeEngine[Any]) -> None:
        self.dialect = dialect
        self.columns = columns
        self.param: BindParameter[str] = bindparam(f"{name}_rows", type_=Text)
        self._process = {
            key: type_.dialect_impl(dialect).bind_processor(dialect)
            for key, type_ in columns.items()
        }
        if dialect.name == "postgresql":
            self.table: FromClause = (
                func.jsonb_to_recordset(sql_cast(self.param, JSONB))
                .table_valued(*(column(key, type_) for key, type_ in columns.items()))
                .render_derived(name=name, with_types=True)
            )
        else:
            value: ColumnElement[Any] = literal_column("value")
            self.table = (
                select(
                    *(
                        func.json_extract(value, f"$.{key}", type_=type_).label(key)
                        for key, type_ in columns.items()
                    )
                )
                .select_from(func.json_each(self.param))
                .subquery(name)
            )

    def bind(self, rows: list[tuple[Any, ...]]) -> dict[str, str]:
        """The parameter for ``rows`` (tuples in the columns' order), each value as the engine
        stores it (a UUID as SQLite's 32 hex digits, say)."""
        keys = list(self.columns)
        out = []
        for row in rows:
            item = {}
            for key, value in zip(keys, row, strict=True):
                process = self._process[key]
                item[key] = process(value) if process is not None and value is not None else value
            out.append(item)
        return {self.param.key: json.dumps(out, default=str)}

    def bind_each(self, values: Iterable[Any]) -> dict[str, str]:
        """:meth:`bind` for rows of one column: one row per value."""
        return self.bind([(value,) for value in values])

    def has(self, *what: ColumnElement[Any] | QueryableAttribute[Any]) -> ColumnElement[bool]:
        """``what IN`` the rows: one column against the rows' one column, or a tuple of
        columns against all of them, in order."""
        mine = [self.table.c[key] for key in self.columns]
        if len(what) != len(mine):
            raise ValueError(f"{len(what)} columns against rows of {len(mine)}")
        if len(what) == 1:
            return what[0].in_(select(mine[0]))
        return tuple_(*what).in_(select(*mine))


class PerEngine(Generic[T]):
    """Something built from the engine's dialect (a statement over :class:`JsonRows`), built
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
    s: AsyncSession, built: PerEngine[tuple[JsonRows, Any]], values: Iterable[Any]
) -> tuple[Any, dict[str, str]]:
    """A statement that tests one list (built over :class:`JsonRows` of one column), for this
    session's engine, and its parameters with ``values`` bound: ``s.execute(*with_list(...))``."""
    asked, stmt = built.of(s)
    return stmt, asked.bind_each(values)
