"""The SQLite writer lock: exclusive between processes, handed over without polling."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.store.writelock import WriteLock, lock_path_for

# A second process that takes the lock, says when it has it, and lets go.
_CHILD = """
import sys, time
from bot.store.writelock import WriteLock
with WriteLock(sys.argv[1]):
    print(f"{time.time():.6f}", flush=True)
"""


def test_in_memory_and_uri_databases_lock_threads_only() -> None:
    assert lock_path_for(None) is None
    assert lock_path_for(":memory:") is None
    assert lock_path_for("file:bot.db?mode=memory") is None
    assert lock_path_for("/var/lib/bot/bot.db") == "/var/lib/bot/bot.db.writer-lock"


def test_another_process_waits_while_the_lock_is_held_and_gets_it_at_once(tmp_path: Path) -> None:
    path = str(tmp_path / "bot.db.writer-lock")
    lock = WriteLock(path)
    with lock:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, path], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)  # long enough for the child to start and block on the lock
        assert child.poll() is None, "the other process took the lock while this one held it"
        released = time.time()
    out, _ = child.communicate(timeout=30)
    took = float(out)
    assert took >= released
    # Handed over by the kernel, not found by a retry loop (SQLite's busy wait sleeps up to 100 ms).
    assert took - released < 0.05
    lock.close()


def test_threads_of_one_process_take_turns(tmp_path: Path) -> None:
    import threading

    lock = WriteLock(str(tmp_path / "t.writer-lock"))
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(200):
            with lock:
                with guard:
                    inside += 1
                    most = max(most, inside)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
    lock.close()


def test_a_lock_file_that_cannot_be_opened_leaves_threads_locking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lock = WriteLock(str(tmp_path / "missing-dir" / "db.writer-lock"))
    with caplog.at_level(logging.WARNING, logger="bot.store.writelock"), lock:
        assert not lock._threads.acquire(blocking=False)  # the thread lock is held
    assert "cannot open the SQLite writer lock" in caplog.text
    assert lock._threads.acquire(blocking=False)  # and released on the way out
    lock._threads.release()
