"""Many-row INSERT and UPDATE, fast on both backends.

Both go straight to the driver: SQLAlchemy's per-row parameter handling would cost more
than the database's work. Rows are tuples in the order of a list of column names (the
``*_dicts`` variants take dicts). On SQLite: ``executemany`` (the driver loops in C), or
a prepared single-row statement per row when rows must be returned. On PostgreSQL one
statement takes each column as an array and ``unnest``s it: the statement text stays
small and constant (psycopg prepares it once) and a batch of any size is one round trip,
where executemany or a many-VALUES statement would cost a round trip per row or a parse
of thousands of placeholders. Arrays go in binary, so strings need no quoting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]

Rows = Sequence[Sequence[Any]]


def _base_type(column: sa.Column[Any]) -> Any:
    kind = column.type
    return kind.impl_instance if isinstance(kind, sa.types.TypeDecorator) else kind


@cache
def _pg_type(column: sa.Column[Any]) -> str:
    kind = _base_type(column)
    if isinstance(kind, sa.JSON):
        return "jsonb"
    return str(kind.dialect_impl(_PG).compile(dialect=_PG))


def _json(value: Any) -> Any:
    return None if value is None else orjson.dumps(value).decode()


def _sqlite_datetime(value: datetime | None) -> str | None:
    # The format SQLAlchemy's SQLite DATETIME reads back; UTCDateTime stores naive UTC.
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


@cache
def _converter(column: sa.Column[Any], dialect: str) -> Callable[[Any], Any] | None:
    kind = _base_type(column)
    if isinstance(kind, sa.JSON):
        return _json
    if dialect == "sqlite" and isinstance(kind, sa.DateTime):
        return _sqlite_datetime
    return None


def _columns(table: sa.Table, names: Sequence[str], rows: Rows, dialect: str) -> list[list[Any]]:
    """The rows transposed into one list per column, converted for the driver."""
    columns = [list(values) for values in zip(*rows, strict=True)] if rows else [[] for _ in names]
    for i, name in enumerate(names):
        convert = _converter(table.c[name], dialect)
        if convert is not None:
            columns[i] = list(map(convert, columns[i]))
    return columns


def _conflict(conflict: Sequence[str] | None, conflict_where: str | None) -> str:
    if not conflict:
        return ""
    clause = f" ON CONFLICT ({', '.join(conflict)})"
    if conflict_where:
        clause += f" WHERE {conflict_where}"
    return clause + " DO NOTHING"


def insert(
    conn: Connection,
    table: sa.Table,
    names: Sequence[str],
    rows: Rows,
    *,
    conflict: Sequence[str] | None = None,
    conflict_where: str | None = None,
    returning: Sequence[str] = (),
) -> list[Any]:
    """Insert ``rows`` (tuples in ``names`` order); with ``conflict``, skip rows that clash
    on those columns. Returns the ``returning`` columns of the rows inserted."""
    if not rows:
        return []
    dialect = conn.dialect.name
    columns = _columns(table, names, rows, dialect)
    raw: Any = conn.connection.dbapi_connection
    tail = _conflict(conflict, conflict_where) + (f" RETURNING {', '.join(returning)}" if returning else "")
    if dialect == "postgresql":
        arrays = ", ".join(f"CAST(%({name})b AS {_pg_type(table.c[name])}[])" for name in names)
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}){tail}"
        with raw.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(sql, dict(zip(names, columns, strict=True)))
            return list(cursor.fetchall()) if returning else []
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}){tail}"
    cursor = raw.cursor()
    params = list(zip(*columns, strict=True))
    if not returning:
        cursor.executemany(sql, params)
        return []
    # executemany returns no rows: the driver caches this one prepared statement instead.
    found = []
    for values in params:
        cursor.execute(sql, values)
        returned = cursor.fetchone()
        if returned is not None:
            found.append(_Row(returning, returned))
    return found


def update(conn: Connection, table: sa.Table, names: Sequence[str], rows: Rows) -> None:
    """Update rows by primary key: ``names[0]`` is ``id``, the rest the columns to set."""
    if not rows:
        return
    if names[0] != "id":
        raise ValueError("the first column of a bulk update must be id")
    dialect = conn.dialect.name
    columns = _columns(table, names, rows, dialect)
    raw: Any = conn.connection.dbapi_connection
    targets = names[1:]
    if dialect == "postgresql":
        arrays = ", ".join(f"CAST(%({name})b AS {_pg_type(table.c[name])}[])" for name in names)
        sets = ", ".join(f"{name} = v.{name}" for name in targets)
        sql = (
            f"UPDATE {table.name} AS t SET {sets} FROM unnest({arrays}) "
            f"AS v({', '.join(names)}) WHERE t.id = v.id"
        )
        with raw.cursor() as cursor:
            cursor.execute(sql, dict(zip(names, columns, strict=True)))
        return
    sets = ", ".join(f"{name} = ?" for name in targets)
    params = list(zip(*columns[1:], columns[0], strict=True))
    raw.cursor().executemany(f"UPDATE {table.name} SET {sets} WHERE id = ?", params)


def insert_dicts(
    conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], **options: Any
) -> list[Any]:
    """:func:`insert` for rows given as dicts with the same keys."""
    if not rows:
        return []
    names = list(rows[0])
    return insert(
        conn,
        table,
        names,
        [itemgetter(*names)(row) if len(names) > 1 else (row[names[0]],) for row in rows],
        **options,
    )


def update_dicts(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """:func:`update` for rows given as dicts holding ``id`` and the new values."""
    if not rows:
        return
    names = ["id", *(name for name in rows[0] if name != "id")]
    getter = itemgetter(*names)
    update(conn, table, names, [getter(row) for row in rows])


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """Send the statements of the block without waiting for each answer (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        yield
        return
    raw: Any = conn.connection.dbapi_connection
    with raw.pipeline():
        yield


class _Row:
    """A returned row with attribute access, like SQLAlchemy's."""

    __slots__ = ("_values",)

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        self._values = dict(zip(names, values, strict=True))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None
