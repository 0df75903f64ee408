"""SQLite's write turn: writers of one database take turns, within a process and between processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from service.db import Database
from service.sqlite import turn_file

HOLD = 0.4  # seconds the other process keeps the turn


def _holder(url: str, ready: Path) -> subprocess.Popen[bytes]:
    # Another process takes the turn, says so through a file, keeps it HOLD seconds, then writes.
    code = textwrap.dedent(
        f"""
        import pathlib, time
        from service.db import Database
        db = Database({url!r})
        with db.writing():
            pathlib.Path({str(ready)!r}).write_text("held")
            time.sleep({HOLD})
        db.dispose()
        """
    )
    return subprocess.Popen([sys.executable, "-c", code])


def _wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "the other process never took the turn"
        time.sleep(0.01)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'turn.db'}"


def test_a_writer_waits_for_another_process_holding_the_turn_and_enters_as_it_ends(
    sqlite_url: str, tmp_path: Path
) -> None:
    ready = tmp_path / "ready"
    other = _holder(sqlite_url, ready)
    try:
        _wait_for(ready)
        db = Database(sqlite_url)
        started = time.monotonic()
        with db.writing():
            waited = time.monotonic() - started
        db.dispose()
    finally:
        assert other.wait(timeout=20) == 0
    # It waited for the rest of the other's turn, and not much longer: no polling sleeps.
    assert 0.1 < waited < HOLD + 0.3, waited
    assert Path(sqlite_url.removeprefix("sqlite:///") + "-writelock").exists()


def test_the_turn_is_reentrant_within_a_thread_and_exclusive_between_threads(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    inside = threading.Event()
    entered_at: list[float] = []

    def other() -> None:
        with db.writing():
            entered_at.append(time.monotonic())

    with db.writing():
        with db.writing():  # nested: the same thread keeps its turn
            thread = threading.Thread(target=other)
            thread.start()
            inside.wait(0.2)
            assert not entered_at, "another thread entered during our turn"
        released = time.monotonic()
    thread.join(5)
    db.dispose()
    assert entered_at and entered_at[0] >= released


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///orderwatch.db", "orderwatch.db-writelock"),
        ("sqlite:////var/lib/ow/orders.db", "/var/lib/ow/orders.db-writelock"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
    ],
)
def test_the_turn_file_lies_beside_the_database_file(url: str, expected: str | None) -> None:
    assert turn_file(url) == expected
