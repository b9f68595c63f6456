"""One SQLite writer at a time, across this process's threads and the machine's processes.

SQLite lets one connection write at a time. A connection that finds the database locked
sleeps and tries again (its busy handler sleeps in steps of up to 100 ms), so two gunicorn
workers writing at the same moment lose tens of milliseconds to each other, inside acks.
Writers therefore queue here first: on a ``threading.Lock`` inside the process, then on a
blocking ``flock`` of a file beside the database, which the kernel hands to the next
process the moment it is released. SQLite's own locking still guarantees correctness; the
lock only decides who waits, and how.
"""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads only, SQLite's busy wait between processes
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriteLock", "lock_path_for"]

log = logging.getLogger(__name__)


def lock_path_for(database: str | None) -> str | None:
    """The lock file of an SQLite database path; None for in-memory and URI databases."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database + ".writer-lock"


class WriteLock:
    """A context manager held around each write transaction; see the module docstring.

    The lock file is opened once per process (``flock`` belongs to an open file, so a
    descriptor inherited across ``fork`` would be shared with the parent, not exclusive).
    """

    def __init__(self, path: str | None) -> None:
        self.path = path if fcntl is not None else None
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None

    def __enter__(self) -> WriteLock:
        self._threads.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._fd is not None and self._pid == os.getpid():
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._pid != os.getpid():
            self._pid = os.getpid()
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as error:
                # Not fatal: SQLite's busy wait still keeps the processes' writes apart.
                log.warning(
                    "cannot open the SQLite writer lock %s (%s); processes will take turns more slowly",
                    self.path,
                    error.strerror,
                )
                self._fd = None
        return self._fd

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None
        self._pid = None
