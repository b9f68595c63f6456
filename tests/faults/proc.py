"""The bot's processes for real: ``cyclr-bot run --http`` (gunicorn master and web worker,
plus the ``cyclr-bot worker`` child it supervises), ``cyclr-bot run --http --no-worker``
(intake only) and ``cyclr-bot worker`` (jobs only). A test can SIGKILL any of them at any
moment and start them again on the same database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.cyclr.sandbox import CyclrSandbox
from bot.playground import payloads as sr
from bot.playground.standin import SlackStandin

CYCLR_BOT = Path(sys.executable).parent / "cyclr-bot"
BOT_TOKEN = "xoxb-test-0001-fault-suite"
NOTIFY_CHANNEL = "CNOTIFY01"
_STRIPPED = ("SLACK_", "CYCLR_", "LOG_", "PORT", "WEB_CONCURRENCY", "WEB_THREADS")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(sandbox: CyclrSandbox, slack: SlackStandin, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a bot talking to this test's sandbox and Slack stand-in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED)}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=sr.SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        CYCLR_API_URL=sandbox.api_url,
        CYCLR_CLIENT_ID=sandbox.client_id,
        CYCLR_CLIENT_SECRET=sandbox.client_secret,
        CYCLR_ACCOUNT_ID=sandbox.default_account_id,
        CYCLR_SERVICE_URL=sandbox.service_url,
        CYCLR_NOTIFY_CHANNEL=NOTIFY_CHANNEL,
        CYCLR_BOT_DATABASE_URL=database_url,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BotProcess:
    """One start of a bot process, in its own process group; output to
    ``<workdir>/<role>-<n>.{out,err}``.

    ``role``: ``bot`` (``run --http``: intake and its worker child), ``intake``
    (``run --http --no-worker``) or ``worker`` (``cyclr-bot worker``, no HTTP).
    """

    def __init__(self, env: dict[str, str], workdir: Path, number: int, role: str = "bot") -> None:
        if not CYCLR_BOT.exists():
            pytest.fail(f"the console script {CYCLR_BOT} is not installed (pip install -e .)")
        if role not in ("bot", "intake", "worker"):
            raise ValueError(f"unknown role {role!r}")
        self.role = role
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.out_path = workdir / f"{role}-{number}.out"
        self.err_path = workdir / f"{role}-{number}.err"
        self.http = requests.Session()
        if role == "worker":
            command = [str(CYCLR_BOT), "--env-file", os.devnull, "worker"]
        else:
            command = [str(CYCLR_BOT), "--env-file", os.devnull, "run", "--http"]
            command += ["--host", "127.0.0.1", "--port", str(self.port)]
            if role == "intake":
                command.append("--no-worker")
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                command,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: killpg reaches the worker too
            )

    def output(self) -> str:
        parts = []
        for path in (self.out_path, self.err_path):
            parts.append(path.read_text(errors="replace") if path.exists() else "")
        return "\n".join(parts)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Intake: until GET /healthz answers 200. A worker: until it logs that it runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.role == "worker":
                if self.proc.poll() is not None:
                    pytest.fail(
                        f"cyclr-bot worker exited (code {self.proc.returncode})\n{self.output()[-4000:]}"
                    )
                if "worker running" in self.output():
                    return
                time.sleep(0.05)
                continue
            if self.proc.poll() is not None:
                pytest.fail(
                    f"cyclr-bot exited (code {self.proc.returncode}) before it was healthy\n"
                    f"{self.output()[-4000:]}"
                )
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.05)
        what = "the worker did not start" if self.role == "worker" else "GET /healthz not 200"
        pytest.fail(f"{what} within {timeout:g}s\n{self.output()[-4000:]}")

    def post(self, request: tuple[bytes, dict[str, str]], timeout: float = 10) -> requests.Response:
        body, headers = request
        return requests.post(self.url + "/slack/events", data=body, headers=headers, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL master and worker at once, as a crash or an OOM kill would."""
        if group_alive(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.http.close()

    def stop(self, timeout: float = 8.0) -> int | None:
        """SIGTERM as a supervisor would, then make sure nothing is left."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        return code
