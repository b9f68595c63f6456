"""``cyclr-bot playground`` and ``make run``'s ``run --playground-if-no-slack`` as real processes:
without Slack settings the playground starts after one line saying so; with them, ``run`` is what
it always was (here: a configuration error naming the other missing settings)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.e2e.test_cli import _STRIPPED, CYCLR_BOT, free_port, run_cli, show


def start(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, *, command: list[str] | None = None
) -> tuple[subprocess.Popen[str], list[str]]:
    """Start ``cyclr-bot ARGS`` and read its output until it prints the page's URL.

    ``env`` None: this environment without any setting; else exactly ``env``.
    """
    full_env = (
        env if env is not None else {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED)}
    )
    process = subprocess.Popen(
        [*(command or [str(CYCLR_BOT)]), *args],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Open "):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(60):
        process.kill()
        raise AssertionError("no URL printed:\n" + "\n".join(lines))
    return process, lines


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()


def test_run_without_slack_settings_starts_the_playground_after_saying_so(tmp_path: Path) -> None:
    port = free_port()
    process, lines = start(["run", "--playground-if-no-slack", "--port", str(port)], tmp_path)
    try:
        assert lines[0].startswith("No Slack settings (SLACK_BOT_TOKEN) in the environment or .env")
        assert "To connect a real workspace" in lines[0]
        assert lines[-1].startswith(f"Open http://127.0.0.1:{port}/")
    finally:
        assert stop(process) == 0


def test_run_with_a_slack_token_is_run_as_before(tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-from-the-environment"}
    result = run_cli(["run", "--playground-if-no-slack", "--sandbox"], tmp_path, env, timeout=60)
    assert result.returncode == 2, show(result)
    assert "SLACK_SIGNING_SECRET is required" in result.stderr and "playground" not in result.stdout

    (tmp_path / ".env").write_text("# the token is in .env only\nSLACK_BOT_TOKEN='xoxb-from-dotenv'\n")
    result = run_cli(["run", "--playground-if-no-slack", "--sandbox"], tmp_path, env_file=True, timeout=60)
    assert result.returncode == 2, show(result)
    assert "SLACK_SIGNING_SECRET is required" in result.stderr and "playground" not in result.stdout


def test_playground_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["playground", "--port", str(port)], tmp_path, timeout=60)
    assert result.returncode == 1, show(result)
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli(["playground", "--port", "70000"], tmp_path, timeout=60)
    assert result.returncode == 2 and "--port must be between 0 and 65535" in result.stderr, show(result)


def test_python_m_bot_playground_needs_no_setting(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bot"]
    process, lines = start(["playground", "--port", str(free_port())], tmp_path, {}, command=command)
    try:
        assert lines[-1].startswith("Open http://127.0.0.1:")
    finally:
        assert stop(process) == 0
