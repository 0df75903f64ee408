"""Many-row INSERT and UPDATE, fast on both backends.

Both go straight to the driver: SQLAlchemy's per-row parameter handling would cost more
than the database's work. On SQLite, ``executemany`` (the driver loops in C), or one
many-VALUES statement when rows must be returned. On PostgreSQL one
statement takes each column as an array and ``unnest``s it: the statement text stays
small and constant (psycopg parses and prepares it once) and a batch of any size is one
round trip, where executemany or a many-VALUES statement would cost a round trip per row
or a parse of thousands of placeholders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Row

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


@cache
def _pg_type(column: sa.Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sa.JSON):
        return "jsonb"
    return str(kind.dialect_impl(_PG).compile(dialect=_PG))


def _pg_value(column: sa.Column[Any], value: Any) -> Any:
    if value is not None and _pg_type(column) == "jsonb":
        return json.dumps(value)
    return value


def insert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] | None = None,
    conflict_where: str | None = None,
    returning: Sequence[str] = (),
) -> list[Row[Any]]:
    """Insert ``rows`` (dicts with the same keys); with ``conflict``, skip rows that clash
    on those columns. Returns the ``returning`` columns of the rows inserted."""
    if not rows:
        return []
    names = list(rows[0])
    if conn.dialect.name != "postgresql":
        return _sqlite_insert(conn, table, names, rows, conflict, conflict_where, returning)
    columns = [table.c[name] for name in names]
    arrays = ", ".join(f"CAST(%({c.name})b AS {_pg_type(c)}[])" for c in columns)
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays})"
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)})"
        if conflict_where:
            sql += f" WHERE {conflict_where}"
        sql += " DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    params = {c.name: [_pg_value(c, row[c.name]) for row in rows] for c in columns}
    return _pg_execute(conn, sql, params, returning)


def update(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Update rows by primary key ``id``: each dict holds ``id`` and the new values."""
    if not rows:
        return
    names = [name for name in rows[0] if name != "id"]
    if conn.dialect.name != "postgresql":
        sets = ", ".join(f"{name} = ?" for name in names)
        values = _sqlite_rows(table, [*names, "id"], rows)
        _sqlite_cursor(conn).executemany(f"UPDATE {table.name} SET {sets} WHERE id = ?", values)
        return
    columns = [table.c.id, *(table.c[name] for name in names)]
    arrays = ", ".join(f"CAST(%({c.name})b AS {_pg_type(c)}[])" for c in columns)
    sets = ", ".join(f"{name} = v.{name}" for name in names)
    sql = (
        f"UPDATE {table.name} AS t SET {sets} FROM unnest({arrays}) "
        f"AS v({', '.join(c.name for c in columns)}) WHERE t.id = v.id"
    )
    params = {c.name: [_pg_value(c, row[c.name]) for row in rows] for c in columns}
    _pg_execute(conn, sql, params, ())


def _pg_execute(conn: Connection, sql: str, params: dict[str, Any], returning: Sequence[str]) -> list[Any]:
    # Straight to psycopg in binary: arrays of strings need no quoting or escaping.
    raw: Any = conn.connection.dbapi_connection
    with raw.cursor(row_factory=namedtuple_row) as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if returning else []


def _sqlite_cursor(conn: Connection) -> Any:
    raw: Any = conn.connection.dbapi_connection
    return raw.cursor()


def _sqlite_datetime(value: datetime | None) -> str | None:
    # The format SQLAlchemy's SQLite DATETIME reads back; UTCDateTime stores naive UTC.
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _identity(value: Any) -> Any:
    return value


def _sqlite_json(value: Any) -> Any:
    return None if value is None else json.dumps(value)


def _sqlite_rows(table: sa.Table, names: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[Any]:
    """Rows as driver-ready lists, in ``names`` order."""
    getter = itemgetter(*names)
    converters = [
        (i, f) for i, f in enumerate(_sqlite_converter(table.c[n]) for n in names) if f is not _identity
    ]
    if len(names) == 1:
        return [[getter(row)] for row in rows]
    out = []
    for row in rows:
        values = list(getter(row))
        for i, convert in converters:
            values[i] = convert(values[i])
        out.append(values)
    return out


@cache
def _sqlite_converter(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, sa.DateTime):
        return _sqlite_datetime
    if isinstance(kind, sa.JSON):
        return _sqlite_json
    return _identity


def _sqlite_insert(
    conn: Connection,
    table: sa.Table,
    names: list[str],
    rows: Sequence[dict[str, Any]],
    conflict: Sequence[str] | None,
    conflict_where: str | None,
    returning: Sequence[str],
) -> list[Any]:
    params = _sqlite_rows(table, names, rows)
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
    tail = ""
    if conflict:
        tail = f" ON CONFLICT ({', '.join(conflict)})"
        if conflict_where:
            tail += f" WHERE {conflict_where}"
        tail += " DO NOTHING"
    cursor = _sqlite_cursor(conn)
    group = "(" + ", ".join("?" * len(names)) + ")"
    if not returning:
        cursor.executemany(head + group + tail, params)
        return []
    # executemany returns no rows: one many-VALUES statement per chunk instead.
    found: list[Any] = []
    per_chunk = max(1, 30_000 // len(names))
    for start in range(0, len(params), per_chunk):
        chunk = params[start : start + per_chunk]
        sql = head + ", ".join([group] * len(chunk)) + tail + f" RETURNING {', '.join(returning)}"
        cursor.execute(sql, [value for row in chunk for value in row])
        found.extend(_Row(dict(zip(returning, values, strict=True))) for values in cursor.fetchall())
    return found


class _Row:
    """A returned row with attribute access, like SQLAlchemy's."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None
