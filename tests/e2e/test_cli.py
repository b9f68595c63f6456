"""The ``cyclr-bot`` command line as an operator runs it: a real process, real exit codes.

``check`` runs against the built-in Cyclr sandbox and a Slack Web API stand-in; settings come
from the environment only (``--env-file`` points at a file that does not exist, and the
working directory is the test's own), except in the test about ``.env`` itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import __version__
from bot.playground import payloads as sr
from bot.playground.standin import BOT_USER_ID, TEAM_ID, SlackStandin

BOT_TOKEN = "xoxb-test-0001-cli"
CYCLR_BOT = Path(sys.executable).parent / "cyclr-bot"
_STRIPPED = ("SLACK_", "CYCLR_", "LOG_", "PORT", "WEB_CONCURRENCY", "WEB_THREADS")
CHECK_NAMES = ("configuration", "Cyclr token", "Cyclr catalogue", "Slack auth.test")


def run_cli(
    args: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    *,
    module: bool = False,
    env_file: bool = False,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run ``cyclr-bot ARGS`` (or ``python -m bot ARGS``) with only ``env`` as its settings."""
    if not module and not CYCLR_BOT.exists():
        pytest.fail(f"the console script {CYCLR_BOT} is not installed (pip install -e .)")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED)}
    full_env.update(env or {})
    command = [sys.executable, "-m", "bot"] if module else [str(CYCLR_BOT)]
    if not env_file and args and not args[0].startswith("-"):
        command += ["--env-file", str(cwd / "no-such.env")]
    return subprocess.run(
        command + args,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def show(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"


def check_lines(stdout: str) -> list[tuple[str, str]]:
    """``[(status, check name), ...]`` from ``check``'s one-line-per-check output."""
    lines = []
    for line in stdout.splitlines():
        status, _, rest = line.partition(" ")
        lines.append((status, rest.strip().split(":", 1)[0]))
    return lines


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def slack() -> Iterator[SlackStandin]:
    with SlackStandin() as standin:
        yield standin


def good_env(slack_api_url: str, workdir: Path) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": sr.SIGNING_SECRET,
        "SLACK_API_URL": slack_api_url,
        "CYCLR_BOT_DATABASE_URL": f"sqlite:///{workdir / 'bot.db'}",
        "CYCLR_NOTIFY_CHANNEL": "CNOTIFY01",
    }


# -- check -------------------------------------------------------------------------------------------


def test_check_sandbox_passes_every_check(slack: SlackStandin, tmp_path: Path) -> None:
    result = run_cli(["check", "--sandbox"], tmp_path, good_env(slack.api_url, tmp_path))
    assert result.returncode == 0, show(result)
    assert check_lines(result.stdout) == [("ok", name) for name in CHECK_NAMES], show(result)
    assert "sandbox" in result.stdout.splitlines()[0].lower()
    [call] = slack.calls("auth.test")
    assert call.token == BOT_TOKEN
    assert BOT_USER_ID in result.stdout and TEAM_ID in result.stdout
    assert "Traceback" not in result.stderr


def test_check_reports_slack_rejecting_the_token(slack: SlackStandin, tmp_path: Path) -> None:
    slack.error_next("auth.test", error="invalid_auth")
    result = run_cli(["check", "--sandbox"], tmp_path, good_env(slack.api_url, tmp_path))
    assert result.returncode == 1, show(result)
    lines = check_lines(result.stdout)
    assert lines[:3] == [("ok", name) for name in CHECK_NAMES[:3]], show(result)
    assert lines[3] == ("FAIL", "Slack auth.test"), show(result)
    assert "invalid_auth" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert BOT_TOKEN not in result.stdout + result.stderr  # secrets never echoed


def test_check_output_is_redacted(slack: SlackStandin, tmp_path: Path) -> None:
    """An error text quoting a secret (here Slack's answer quotes the signing secret) is masked."""
    slack.error_next("auth.test", error=f"invalid_auth for {sr.SIGNING_SECRET}")
    result = run_cli(["check", "--sandbox"], tmp_path, good_env(slack.api_url, tmp_path))
    assert result.returncode == 1, show(result)
    assert check_lines(result.stdout)[3] == ("FAIL", "Slack auth.test"), show(result)
    assert "Slack answered 'invalid_auth for [redacted]'" in result.stdout, show(result)
    assert sr.SIGNING_SECRET not in result.stdout + result.stderr


def test_check_reports_slack_unreachable(tmp_path: Path) -> None:
    nothing = f"http://127.0.0.1:{free_port()}/api/"
    result = run_cli(["check", "--sandbox"], tmp_path, good_env(nothing, tmp_path))
    assert result.returncode == 1, show(result)
    assert check_lines(result.stdout)[-1] == ("FAIL", "Slack auth.test"), show(result)
    assert "Traceback" not in result.stdout + result.stderr


def test_check_reports_cyclr_unreachable_and_skips_the_catalogue(slack: SlackStandin, tmp_path: Path) -> None:
    env = good_env(slack.api_url, tmp_path) | {
        "CYCLR_API_URL": f"http://127.0.0.1:{free_port()}",
        "CYCLR_CLIENT_ID": "client",
        "CYCLR_CLIENT_SECRET": "secret-0123",
        "CYCLR_ACCOUNT_ID": "acct",
        "CYCLR_SERVICE_URL": "http://127.0.0.1:9",
        "CYCLR_CONNECT_TIMEOUT": "1",
    }
    result = run_cli(["check"], tmp_path, env)
    assert result.returncode == 1, show(result)
    statuses = dict((name, status) for status, name in check_lines(result.stdout))
    assert statuses == {
        "configuration": "ok",
        "Cyclr token": "FAIL",
        "Cyclr catalogue": "skip",
        "Slack auth.test": "ok",
    }, show(result)
    assert "secret-0123" not in result.stdout + result.stderr


# -- configuration errors ---------------------------------------------------------------------------

BAD_ENV = {
    "SLACK_BOT_TOKEN": "bad",
    "CYCLR_API_URL": "ftp://x",
    "CYCLR_BOT_ADMINS": "nobody",
}
BAD_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "CYCLR_API_URL",
    "CYCLR_CLIENT_ID",
    "CYCLR_CLIENT_SECRET",
    "CYCLR_ACCOUNT_ID",
    "CYCLR_SERVICE_URL",
    "CYCLR_BOT_ADMINS",
)


@pytest.mark.parametrize("args", [["check"], ["run", "--http"]], ids=["check", "run"])
def test_bad_configuration_exits_2_naming_every_problem_at_once(args: list[str], tmp_path: Path) -> None:
    result = run_cli(args, tmp_path, BAD_ENV, timeout=20)
    assert result.returncode == 2, show(result)
    assert result.stdout == "", show(result)
    err = result.stderr
    for name in BAD_NAMES:
        assert name in err, f"{name} not named\n{show(result)}"
    assert err.count("problem(s)") == 1, show(result)  # one message, not one per problem
    assert "'nobody'" in err and "'ftp://x'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "bot.db").exists() and not (tmp_path / "cyclr-bot.db").exists()


def test_socket_mode_needs_no_signing_secret_but_a_valid_app_token(tmp_path: Path) -> None:
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xoxb-not-an-app-token"}
    result = run_cli(["check", "--sandbox"], tmp_path, env, timeout=20)
    assert result.returncode == 2, show(result)
    assert "SLACK_APP_TOKEN" in result.stderr
    assert "SLACK_SIGNING_SECRET" not in result.stderr


def test_a_public_url_over_plain_http_exits_2_unless_on_loopback(slack: SlackStandin, tmp_path: Path) -> None:
    env = good_env(slack.api_url, tmp_path)
    result = run_cli(["check", "--sandbox"], tmp_path, env | {"CYCLR_BOT_PUBLIC_URL": "http://example.com"})
    assert result.returncode == 2, show(result)
    assert "CYCLR_BOT_PUBLIC_URL must be an https URL" in result.stderr, show(result)
    for url in ("http://127.0.0.1:3000", "https://example.com"):
        result = run_cli(["check", "--sandbox"], tmp_path, env | {"CYCLR_BOT_PUBLIC_URL": url})
        assert result.returncode == 0, show(result)


def test_dotenv_in_the_working_directory_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# written by the test\nSLACK_BOT_TOKEN=bad-from-dotenv\nCYCLR_BOT_ADMINS=nobody\n"
    )
    result = run_cli(["check", "--sandbox"], tmp_path, {"SLACK_BOT_TOKEN": BOT_TOKEN}, env_file=True)
    assert result.returncode == 2, show(result)
    assert "CYCLR_BOT_ADMINS" in result.stderr  # read from .env
    assert "SLACK_BOT_TOKEN" not in result.stderr  # the real environment overrides .env
    other = tmp_path / "other.env"
    other.write_text("CYCLR_BOT_INSTALLERS=nobody-either\n")
    args = ["--env-file", str(other), "check", "--sandbox"]
    result = run_cli(args, tmp_path, {"SLACK_BOT_TOKEN": BOT_TOKEN}, env_file=True)
    assert result.returncode == 2, show(result)
    assert "CYCLR_BOT_INSTALLERS" in result.stderr and "CYCLR_BOT_ADMINS" not in result.stderr


def test_slack_client_variables_are_warned_about(slack: SlackStandin, tmp_path: Path) -> None:
    env = good_env(slack.api_url, tmp_path)
    env |= {"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s3cr3t-client"}
    result = run_cli(["check", "--sandbox"], tmp_path, env)
    assert result.returncode == 0, show(result)
    assert "SLACK_CLIENT_ID" in result.stderr and "SLACK_CLIENT_SECRET" in result.stderr, show(result)


# -- help and usage ------------------------------------------------------------------------------------


def test_python_m_bot_help(tmp_path: Path) -> None:
    result = run_cli(["--help"], tmp_path, module=True, timeout=20)
    assert result.returncode == 0, show(result)
    assert "cyclr-bot" in result.stdout
    assert "run" in result.stdout and "check" in result.stdout


def test_no_arguments_prints_help_and_exits_2(tmp_path: Path) -> None:
    result = run_cli([], tmp_path, timeout=20)
    assert result.returncode == 2, show(result)
    assert "usage: cyclr-bot" in result.stdout + result.stderr
    assert "run" in result.stdout and "check" in result.stdout


def test_run_help_lists_its_options_and_version_prints(tmp_path: Path) -> None:
    result = run_cli(["run", "--help"], tmp_path, timeout=20)
    assert result.returncode == 0, show(result)
    for option in ("--http", "--host", "--port", "--sandbox"):
        assert option in result.stdout, option
    version = run_cli(["--version"], tmp_path, timeout=20)
    assert version.returncode == 0, show(version)
    assert version.stdout.strip() == f"cyclr-bot {__version__}"


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli(["frobnicate"], tmp_path, env_file=True, timeout=20)
    assert result.returncode == 2, show(result)
    assert "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_current_with_only_the_database_url(tmp_path: Path) -> None:
    from bot.store import schema

    env = {"CYCLR_BOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
    before = run_cli(["db", "current"], tmp_path, env)
    assert before.returncode == 0, show(before)
    assert before.stdout.startswith("none"), show(before)
    upgraded = run_cli(["db", "upgrade"], tmp_path, env)
    assert upgraded.returncode == 0, show(upgraded)
    assert f"schema at {schema.head()} (was none)" in upgraded.stdout
    after = run_cli(["db", "current"], tmp_path, env)
    assert after.stdout.split()[0] == schema.head(), show(after)


def test_db_current_says_when_the_database_does_not_answer(tmp_path: Path) -> None:
    env = {"CYCLR_BOT_DATABASE_URL": "postgresql://bot:hunter2-secret@127.0.0.1:1/none?connect_timeout=1"}
    result = run_cli(["db", "current"], tmp_path, env)
    assert result.returncode == 1, show(result)
    assert "did not answer" in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
