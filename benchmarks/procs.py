"""Starting, watching and stopping the app servers the benchmark drives.

Each server runs in its own session (process group) so that stopping it also stops the
gunicorn workers it forked, and nothing is left behind when the benchmark is interrupted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Memory", "ProcessMemory", "ServerProcess", "free_port"]


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _status_kib(pid: int, path: str, field: str) -> int | None:
    """A ``field:  N kB`` line of ``/proc/<pid>/<path>``."""
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@dataclass(frozen=True, slots=True)
class ProcessMemory:
    pid: int
    rss_kib: int  #: VmRSS: pages shared with the master count in full
    pss_kib: int  #: proportional set size: shared pages split between the sharers

    @classmethod
    def of(cls, pid: int) -> ProcessMemory | None:
        rss = _status_kib(pid, "status", "VmRSS")
        if rss is None:
            return None
        return cls(pid, rss, _status_kib(pid, "smaps_rollup", "Pss") or rss)


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident memory of a gunicorn server: its master and its workers."""

    master: ProcessMemory | None
    workers: tuple[ProcessMemory, ...]

    @property
    def worker_rss_mib(self) -> float:
        """RSS of the largest worker (the process that serves the requests)."""
        return max((w.rss_kib for w in self.workers), default=0) / 1024

    @property
    def total_pss_mib(self) -> float:
        """Master and workers together, each shared page counted once."""
        parts = ([self.master] if self.master else []) + list(self.workers)
        return sum(p.pss_kib for p in parts) / 1024


class ServerProcess:
    """One HTTP server subprocess (the bot or the peer), its log file and its health check."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, port: int, log: Path
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.port = port
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._process.pid

    def start(self) -> ServerProcess:
        with self.log.open("ab") as out:
            self._started = time.perf_counter()
            self._process = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_healthy(self, timeout: float = 60.0, path: str = "/healthz") -> float:
        """Seconds from :meth:`start` to the first 200 on ``path``."""
        deadline = self._started + timeout
        while time.perf_counter() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=1) as response:
                    if response.status == 200:
                        return time.perf_counter() - self._started
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.02)
        raise TimeoutError(f"{self.name} was not healthy within {timeout:g} s:\n{self.log_tail()}")

    def memory(self) -> Memory:
        workers = tuple(m for child in _children(self.pid) if (m := ProcessMemory.of(child)) is not None)
        return Memory(ProcessMemory.of(self.pid), workers)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL it after ``grace`` seconds."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(grace)
        # Workers left behind by a master that died first are still in the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
