"""PostgreSQL going away under the push writer: 503s, a clean log, and storing again after."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from service import pushes
from service.db import Database, StorageUnavailable
from service.pushes import store_pushes
from tests.service.test_push_groups import NOW, received
from tests.shopee_pushes import status_push
from tests.tcp_proxy import Proxy


@pytest.fixture
def proxied(database_url: str) -> Iterator[tuple[Database, Proxy]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server to lose: PostgreSQL only (SQLite is a file in this process)")
    url = sa.engine.make_url(database_url)
    proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    db = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        yield db, proxy
    finally:
        proxy.cut()
        db.dispose()


def test_a_dropped_server_refuses_pushes_without_a_traceback_per_connection(
    proxied: tuple[Database, Proxy], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, proxy = proxied
    assert store_pushes(db, [received(status_push("OUT1", "UNPAID"))], NOW) == [True]
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.pool")
    insert = pushes._insert_postgres

    def server_goes_away_mid_push(*args: object) -> set[str]:
        proxy.cut()  # after the pool's ping, before the insert: the connection dies in use
        return insert(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pushes, "_insert_postgres", server_goes_away_mid_push)
    with pytest.raises(StorageUnavailable):
        store_pushes(db, [received(status_push("OUT-MID", "UNPAID"))], NOW)
    monkeypatch.setattr(pushes, "_insert_postgres", insert)
    for n in range(6):
        with pytest.raises(StorageUnavailable):
            store_pushes(db, [received(status_push(f"OUT-DOWN{n}", "UNPAID"))], NOW)
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("sqlalchemy")]
    assert noisy == [], [r.getMessage() for r in noisy]
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]
    proxy.restore()
    assert store_pushes(db, [received(status_push("OUT2", "UNPAID"))], NOW) == [True]
    with db.read() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM pushes")).scalar_one()
    assert stored == 2  # nothing refused was stored, nothing stored was lost
