"""Many-row INSERT and UPDATE, fast on both backends.

SQLite gets SQLAlchemy's executemany (the driver loops in C). On PostgreSQL one
statement takes each column as an array and ``unnest``s it: the statement text stays
small and constant (psycopg parses and prepares it once) and a batch of any size is one
round trip, where executemany or a many-VALUES statement would cost a round trip per row
or a parse of thousands of placeholders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects import postgresql, sqlite
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
        stmt: Any = sqlite.insert(table)
        if conflict:
            where = sa.text(conflict_where) if conflict_where else None
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict), index_where=where)
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
            return list(conn.execute(stmt, list(rows)).all())
        conn.execute(stmt, list(rows))
        return []
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
        stmt = table.update().where(table.c.id == sa.bindparam("b_id"))
        conn.execute(
            stmt.values({name: sa.bindparam(name) for name in names}),
            [{"b_id": row["id"], **{n: row[n] for n in names}} for row in rows],
        )
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
