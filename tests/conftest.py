"""Fixtures: a migrated database per test on SQLite or on the real PostgreSQL.

``ORDERWATCH_TEST_DATABASE_URL`` picks the backend: ``sqlite`` (the default) gives each
test a copy of a migrated SQLite file; a ``postgresql+psycopg://`` URL names a server on
which each test worker creates its own database, migrated by Alembic, emptied between
tests (row by row, and its sequences restarted: cheaper than TRUNCATE on tables this small).

At the end of every test that used ``db``, every push stored in it (so every push the
test's receivers answered 200) must be applicable: the ones left unapplied are applied,
and none may have failed (:func:`unapplicable_pushes`). A test that stores failing pushes
on purpose says so with ``@pytest.mark.failing_pushes``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import settings as hypothesis_settings

from service.db import Database
from service.inbox import Parsers, apply_pending, pending_count
from service.marketplace import push_parsers
from service.marketplaces import installed
from service.migrate import upgrade
from service.models import Base, Push
from service.spool import spool_file
from tests import secret_scan

secret_scan.install()  # before the test modules make their secrets

hypothesis_settings.register_profile("ci", deadline=None, print_blob=True)
hypothesis_settings.load_profile("ci")

# Dependent tables first, so that emptying them one by one meets no foreign key.
TABLES = list(reversed(Base.metadata.sorted_tables))
# What TRUNCATE ... RESTART IDENTITY did: every sequence starts again.
RESTART_SEQUENCES = sa.text(
    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
    "FROM pg_sequences WHERE schemaname = current_schema()"
)


@pytest.fixture(autouse=True)
def _no_secret_in_any_log(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every log line of the test process is searched for every configured secret
    (tests/secret_scan.py); a test whose logs show one fails. A test that itself sends a
    secret in an address, to show it is refused, is marked ``sends_secret_in_address``: its
    own client's request lines (httpx) are not held against the app."""
    own_client = request.node.get_closest_marker("sends_secret_in_address") is not None
    scanner = secret_scan.Scanner(ignore=("httpx",) if own_client else ())
    loggers = [logging.getLogger(), *map(logging.getLogger, secret_scan.OWN_LOGGERS)]
    raised = [logging.getLogger(n) for n in secret_scan.INFO_LOGGERS if not (own_client and n == "httpx")]
    levels = [logger.level for logger in raised]
    for logger in raised:
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    for logger in loggers:
        logger.addHandler(scanner)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(scanner)
        for logger, level in zip(raised, levels, strict=True):
            logger.setLevel(level)
    assert scanner.leaks == [], "a configured secret is in the log"


@pytest.fixture(scope="session", autouse=True)
def _one_ssl_context() -> Iterator[None]:
    """httpx clients of the test process share their SSL context.

    Each new client loaded the CA bundle again: about 50 ms of CPU, and a run makes some
    500 clients (the tests', the sandboxes', the app's). All of them speak plain HTTP to
    loopback, so the context is never even used."""
    with pytest.MonkeyPatch.context() as patch:
        # Where httpx's transports look the function up (a private module: raises if it moves).
        shared = functools.cache(httpx.create_ssl_context)
        patch.setattr("httpx._transports.default.create_ssl_context", shared)
        yield


@pytest.fixture(scope="session", autouse=True)
def _short_uvicorn_sleeps() -> Iterator[None]:
    """The test servers' uvicorn sleeps at most 5 ms at a time.

    uvicorn's Server sleeps 100 ms between looks at ``should_exit``, once while it shuts
    down, and between looks at the connections still open; the suite waits for each of its
    some 350 servers to stop. What the server waits for is unchanged."""

    async def short_sleep(delay: float, result: Any = None) -> Any:
        return await asyncio.sleep(min(delay, 0.005), result)

    quick = types.SimpleNamespace(**{**vars(asyncio), "sleep": short_sleep})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("uvicorn.server.asyncio", quick)  # only uvicorn/server.py sees it
        yield


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "failing_pushes: the test stores pushes that fail to apply on purpose (the end-of-test "
        "check that every stored push applies is off)",
    )
    config.addinivalue_line(
        "markers",
        "sends_secret_in_address: the test sends a configured secret in an address on purpose (its "
        "own client's request lines are not searched for secrets)",
    )


# The installed marketplaces' push parsers, as orderwatch serve and worker apply pushes with.
PARSERS = push_parsers(installed())


def unapplicable_pushes(db: Database, parsers: Parsers = PARSERS) -> list[str]:
    """What keeps the pushes stored in ``db`` from being all applied: the ones left
    unapplied are applied first (as the next applier would), then each push that failed
    is named with its error. Empty when every stored push is applied.

    One query when nothing is left to apply or failed (a glance at the spool too when its
    file exists), so the check costs little in the many tests that store no push."""
    unsettled = sa.select(sa.func.count()).where(Push.applied_at.is_(None) | Push.error.is_not(None))
    with db.read() as conn:
        left = conn.execute(unsettled).scalar_one()
    spool = spool_file(db.url) if not db.is_postgres else None
    if not left and not (spool and os.path.exists(spool) and db.spool is not None and db.spool.count()):
        return []
    for _ in range(1000):
        if not pending_count(db):
            break
        apply_pending(db, parsers)
    with db.read() as conn:
        failed = conn.execute(sa.select(Push.id, Push.code, Push.error).where(Push.error.is_not(None)))
        wrong = [f"push {row.id} (code {row.code}) failed to apply: {row.error}" for row in failed]
    return wrong or ([] if not pending_count(db) else ["stored pushes are left that the applier cannot take"])


def backend_url() -> str:
    return os.environ.get("ORDERWATCH_TEST_DATABASE_URL", "sqlite") or "sqlite"


def is_postgres() -> bool:
    return backend_url().startswith("postgresql")


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: a SQLite file to copy, or a PostgreSQL database of this worker."""
    url = backend_url()
    if not url.startswith("postgresql"):
        path = tmp_path_factory.mktemp("template") / "template.db"
        upgrade(f"sqlite:///{path}")
        yield f"sqlite:///{path}"
        return
    name = f"ow_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    test_url = sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(test_url)
        yield test_url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    """An empty, migrated database for one test."""
    if database_template.startswith("sqlite"):
        target = tmp_path / "test.db"
        shutil.copyfile(database_template.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    # TRUNCATE gave each of the 18 tables new files, about 0.15 s a test; DELETE a tenth of that.
    engine = sa.create_engine(database_template, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(table.delete())
        conn.execute(RESTART_SEQUENCES)
    engine.dispose()
    return database_template


@pytest.fixture
def db(database_url: str, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A :class:`Database` on an empty, migrated database; at the end, every push stored in
    it must apply (unless the test is marked ``failing_pushes``)."""
    database = Database(database_url)
    yield database
    try:
        if request.node.get_closest_marker("failing_pushes") is None:
            wrong = unapplicable_pushes(database)
            if wrong:
                pytest.fail("stored pushes are not all applicable:\n" + "\n".join(wrong[:20]), pytrace=False)
    finally:
        database.dispose()
