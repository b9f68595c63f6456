"""Locks that the processes sharing one SQLite file (gunicorn workers, the CLI) take together.

:class:`WriteLock`: SQLite lets one connection write at a time. A connection that finds the
database locked sleeps and tries again (its busy handler sleeps in steps of up to 100 ms),
so two workers writing at the same moment lose tens of milliseconds to each other, inside
acks. Writers therefore queue here first: on a ``threading.Lock`` inside the process, then
on a blocking ``flock`` of a file beside the database, which the kernel hands to the next
process the moment it is released. SQLite's own locking still guarantees correctness.

:class:`KeyedLock`: one holder per key (an install's id) at a time, for work that must not
run twice at once in different processes, such as posting an install's first message.

Both fall back to locking threads only where there is no file (in-memory databases, a lock
file that cannot be opened, Windows); a lock held by a process that dies is released.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["KeyedLock", "WriteLock", "lock_path_for"]

log = logging.getLogger(__name__)


def lock_path_for(database: str | None, kind: str) -> str | None:
    """The lock file ``<database>.<kind>``; None for in-memory and URI databases."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}.{kind}"


class _LockFile:
    """A lock file opened once per process: ``flock`` and ``lockf`` locks belong to the
    process's open file (a descriptor inherited across ``fork`` would share the parent's)."""

    def __init__(self, path: str | None) -> None:
        self.path = path if fcntl is not None else None
        self._fd: int | None = None
        self._pid: int | None = None
        self._opening = threading.Lock()

    def fd(self) -> int | None:
        if self.path is None:
            return None
        if self._pid == os.getpid():  # opened already: every write passes here, twice
            return self._fd
        with self._opening:
            if self._pid != os.getpid():
                fd = None
                try:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                except OSError as error:
                    # Not fatal: the thread locks still hold, and SQLite keeps writes apart.
                    log.warning(
                        "cannot open the lock file %s (%s); processes will not queue on it",
                        self.path,
                        error.strerror,
                    )
                self._fd = fd
                self._pid = os.getpid()  # last: the unlocked check above reads it first
            return self._fd

    def close(self) -> None:
        with self._opening:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._pid = None
            self._fd = None


class WriteLock:
    """Held around each write transaction; see the module docstring."""

    def __init__(self, path: str | None) -> None:
        self._file = _LockFile(path)
        self._threads = threading.Lock()

    @property
    def path(self) -> str | None:
        return self._file.path

    def __enter__(self) -> WriteLock:
        self._threads.acquire()
        try:
            fd = self._file.fd()
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
            fd = self._file.fd()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def close(self) -> None:
        self._file.close()


class KeyedLock:
    """One holder per non-negative integer key at a time, in this process and across processes.

    Between processes each key is one byte of the lock file, locked with ``lockf``. Such
    locks belong to a process, not a thread, so the threads of one process first queue on
    one of :data:`STRIPES` thread locks (keys sharing a stripe take turns in the process).
    """

    STRIPES = 64

    def __init__(self, path: str | None) -> None:
        self._file = _LockFile(path)
        self._stripes = [threading.Lock() for _ in range(self.STRIPES)]

    @contextmanager
    def hold(self, key: int) -> Iterator[None]:
        if key < 0:
            raise ValueError(f"lock keys are non-negative, not {key}")
        with self._stripes[key % self.STRIPES]:
            fd = self._file.fd()
            if fd is None:
                yield
                return
            _lock_byte(fd, key)
            try:
                yield
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN, 1, key)

    def close(self) -> None:
        self._file.close()


def _lock_byte(fd: int, offset: int) -> None:
    """``lockf`` one byte, waiting. The kernel reports a deadlock between two *processes*
    that each hold a byte the other waits for, although each byte's holder is another thread,
    which waits for nothing; so that report is waited out."""
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX, 1, offset)
            return
        except OSError as error:
            if error.errno != errno.EDEADLK:
                raise
            time.sleep(0.005)
