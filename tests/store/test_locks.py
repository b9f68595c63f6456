"""The locks the processes on one SQLite file share: exclusive between processes, handed over
without polling, and only threads where there is no file."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.store.locks import KeyedLock, WriteLock, lock_path_for

# A second process that takes a lock, says when it has it, and lets go.
_CHILD = """
import sys, time
from bot.store.locks import KeyedLock, WriteLock
path, key = sys.argv[1], int(sys.argv[2])
with (WriteLock(path) if key < 0 else KeyedLock(path).hold(key)):
    print(f"{time.time():.6f}", flush=True)
"""


def _child(path: str, key: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", _CHILD, path, str(key)], stdout=subprocess.PIPE, text=True)


def test_lock_files_sit_beside_a_database_file_only() -> None:
    assert lock_path_for(None, "writer-lock") is None
    assert lock_path_for(":memory:", "writer-lock") is None
    assert lock_path_for("file:bot.db?mode=memory", "writer-lock") is None
    assert lock_path_for("/var/lib/bot/bot.db", "writer-lock") == "/var/lib/bot/bot.db.writer-lock"


@pytest.mark.parametrize("key", [-1, 7])  # -1: the writer lock; 7: install 7's key
def test_another_process_waits_while_the_lock_is_held_and_gets_it_at_once(tmp_path: Path, key: int) -> None:
    path = str(tmp_path / "bot.db.lock")
    lock = WriteLock(path) if key < 0 else KeyedLock(path)
    with lock if isinstance(lock, WriteLock) else lock.hold(key):
        child = _child(path, key)
        time.sleep(0.5)  # long enough for the child to start and block on the lock
        assert child.poll() is None, "the other process took the lock while this one held it"
        released = time.time()
    out, _ = child.communicate(timeout=30)
    took = float(out)
    assert took >= released
    # Handed over by the kernel, not found by a retry loop (SQLite's busy wait sleeps up to 100 ms).
    assert took - released < 0.05
    lock.close()


def test_another_processs_other_key_is_not_held_up(tmp_path: Path) -> None:
    path = str(tmp_path / "bot.db.message-locks")
    lock = KeyedLock(path)
    with lock.hold(7):
        child = _child(path, 8)
        out, _ = child.communicate(timeout=30)
    assert float(out) > 0
    lock.close()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    writer = WriteLock(str(tmp_path / "t.writer-lock"))
    keyed = KeyedLock(str(tmp_path / "t.message-locks"))
    inside: dict[str, int] = {"writer": 0, "key 3": 0}
    most: dict[str, int] = {"writer": 0, "key 3": 0}
    guard = threading.Lock()

    def enter(name: str) -> None:
        with guard:
            inside[name] += 1
            most[name] = max(most[name], inside[name])
        time.sleep(0)
        with guard:
            inside[name] -= 1

    def work() -> None:
        for _ in range(100):
            with writer:
                enter("writer")
            with keyed.hold(3):
                enter("key 3")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == {"writer": 1, "key 3": 1}
    writer.close()
    keyed.close()


def test_a_lock_file_that_cannot_be_opened_leaves_threads_locking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = WriteLock(str(tmp_path / "missing-dir" / "db.writer-lock"))
    with caplog.at_level(logging.WARNING, logger="bot.store.locks"), lock:
        assert not lock._threads.acquire(blocking=False)  # the thread lock is held
    assert "cannot open the lock file" in caplog.text
    assert lock._threads.acquire(blocking=False)  # and released on the way out
    lock._threads.release()


def test_keys_are_non_negative(tmp_path: Path) -> None:
    with pytest.raises(ValueError), KeyedLock(str(tmp_path / "k")).hold(-1):
        pass
