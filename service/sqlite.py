"""SQLite's own parts, shared by the database (service/db.py) and the push spool
(service/spool.py): the write turn that writers of one file take, and the WAL's
autocheckpoint size. Both files are SQLite databases with the same discipline; keeping
it here lets the database open the spool without the spool importing the database.
"""

from __future__ import annotations

import os
import threading

import sqlalchemy as sa

try:
    import fcntl
except ImportError:  # not on POSIX: SQLite's own lock alone keeps processes apart
    fcntl = None  # type: ignore[assignment]

AUTOCHECKPOINT_PAGES = 16_000  # about 64 MB of WAL


class WriteTurn:
    """Writers of one SQLite file take turns: within the process on a lock, and between
    processes on an ``flock`` of a file beside it.

    SQLite lets one writer in at a time; a writer that finds the lock taken sleeps and
    polls (1 to 100 ms at a time), so a writer would wait far longer than the other's
    transaction takes. Taking turns instead hands the turn over at once: the kernel wakes
    the ``flock``'s waiters as soon as it is freed. Re-entrant within a thread.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path  # None: in memory, or not on POSIX: SQLite's own lock alone
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: tuple[int, int] | None = None  # (pid, fd): a forked child opens its own

    def __enter__(self) -> None:
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1:
            fd = self._descriptor()
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    self._depth -= 1
                    self._lock.release()
                    raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._depth == 1 and self._fd is not None and self._fd[0] == os.getpid():
                fcntl.flock(self._fd[1], fcntl.LOCK_UN)
        finally:
            self._depth -= 1
            self._lock.release()

    def _descriptor(self) -> int | None:
        # Opened once per process: a file descriptor inherited across fork would share
        # its lock with the parent instead of excluding it.
        if self.path is None or fcntl is None:
            return None
        pid = os.getpid()
        if self._fd is None or self._fd[0] != pid:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:  # a read-only directory, say: SQLite's own lock still holds
                self.path = None
                return None
            self._fd = (pid, fd)
        return self._fd[1]

    def close(self) -> None:
        """Close the lock file (it is opened again if the turn is taken again)."""
        if self._fd is not None and self._fd[0] == os.getpid():
            os.close(self._fd[1])
        self._fd = None


def turn_file(url: str) -> str | None:
    """The file whose ``flock`` is the cross-process write turn of the database at ``url``;
    none for an in-memory database."""
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path + "-writelock"
