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

from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from operator import attrgetter, itemgetter
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


class RawJSON(str):
    """JSON text to store as it is (a JSON column's value already serialized)."""


def _json(value: Any) -> Any:
    if value is None or isinstance(value, RawJSON):
        return value
    return orjson.dumps(value).decode()


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


@cache
def _row_type(table: sa.Table) -> Any:
    return namedtuple(f"{table.name}_row", [c.name for c in table.c])


def _sqlite_reader(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    kind = _base_type(column)
    if isinstance(kind, sa.DateTime):
        return _read_sqlite_datetime
    if isinstance(kind, sa.JSON):
        return _read_json
    if isinstance(kind, sa.Boolean):
        return _read_bool
    return None


def _read_sqlite_datetime(value: Any) -> Any:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _read_json(value: Any) -> Any:
    return None if value is None else orjson.loads(value)


def _read_bool(value: Any) -> Any:
    return None if value is None else bool(value)


def select(
    conn: Connection,
    table: sa.Table,
    where: tuple[str, str],
    values: Sequence[Any],
    *,
    order_by: Sequence[str] = ("id",),
    for_update: bool = False,
) -> list[Any]:
    """Whole rows of ``table`` as named tuples, straight from the driver.

    ``where`` names the key: ``("id_in", column)`` for integer ids, or
    ``("pair_in", "col1,col2")`` for (str, str) pairs such as (platform, order_id).
    """
    if not values:
        return []
    names = [c.name for c in table.c]
    kind, spec = where
    dialect = conn.dialect.name
    raw: Any = conn.connection.dbapi_connection
    head = f"SELECT {', '.join('t.' + n for n in names)} FROM {table.name} AS t"
    order = ", ".join(f"t.{name}" for name in order_by)
    lock = " FOR UPDATE OF t" if for_update and dialect == "postgresql" else ""
    if dialect == "postgresql":
        if kind == "id_in":
            sql = f"{head} WHERE t.{spec} = ANY(%(a)b) ORDER BY {order}{lock}"
            params: Any = {"a": list(values)}
        else:
            first, second = spec.split(",")
            sql = (
                f"{head} JOIN unnest(CAST(%(a)b AS text[]), CAST(%(b)b AS text[])) AS k(a, b) "
                f"ON t.{first} = k.a AND t.{second} = k.b ORDER BY {order}{lock}"
            )
            params = {"a": [v[0] for v in values], "b": [v[1] for v in values]}
        with raw.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        factory = _row_type(table)
        return [factory._make(row) for row in rows]
    found: list[Any] = []
    readers = [(i, f) for i, f in enumerate(_sqlite_reader(c) for c in table.c) if f is not None]
    factory = _row_type(table)
    cursor = raw.cursor()
    step = 400
    for start in range(0, len(values), step):
        chunk = values[start : start + step]
        if kind == "id_in":
            sql = f"{head} WHERE t.{spec} IN ({', '.join('?' * len(chunk))}) ORDER BY {order}"
            params = list(chunk)
        else:
            first, second = spec.split(",")
            pairs = ", ".join(["(?, ?)"] * len(chunk))
            sql = f"{head} WHERE (t.{first}, t.{second}) IN ({pairs}) ORDER BY {order}"
            params = [item for pair in chunk for item in pair]
        for row in cursor.execute(sql, params).fetchall():
            values_ = list(row)
            for i, read in readers:
                values_[i] = read(values_[i])
            found.append(factory._make(values_))
    if len(values) > step:
        found.sort(key=attrgetter(*order_by))
    return found


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
