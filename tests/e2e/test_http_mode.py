"""``cyclr-bot run --http --sandbox`` as an operator starts it: a real process tree on a real port.

The bot runs as a subprocess (gunicorn master plus worker) with the built-in Cyclr sandbox and
talks to a :class:`~bot.playground.standin.SlackStandin` started here. Tests reach it only over
HTTP, as Slack and a load balancer would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import pytest
import requests

from bot.playground import payloads as sr
from bot.playground.standin import Call, SlackStandin
from bot.slack.blocks.common import SANDBOX_BLOCK_ID, SANDBOX_PREFIX

BOT_TOKEN = "xoxb-test-0001-http-mode"
NOTIFY_CHANNEL = "CNOTIFY01"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 8.0
CYCLR_BOT = Path(sys.executable).parent / "cyclr-bot"
_STRIPPED = ("SLACK_", "CYCLR_", "LOG_", "PORT", "WEB_CONCURRENCY", "WEB_THREADS")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (read from /proc, Linux)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def unexpected_tracebacks(output: str) -> list[str]:
    """Every traceback in ``output`` (a clean stop prints none)."""
    return output.split("Traceback (most recent call last):")[1:]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class BotProcess:
    """``cyclr-bot run --http`` running in its own process group; output goes to files."""

    proc: subprocess.Popen[bytes]
    url: str
    slack: SlackStandin
    out_path: Path
    err_path: Path
    http: requests.Session = field(default_factory=requests.Session)

    def output(self) -> str:
        out = self.out_path.read_text(errors="replace") if self.out_path.exists() else ""
        err = self.err_path.read_text(errors="replace") if self.err_path.exists() else ""
        return f"exit code: {self.proc.poll()}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"

    def post(self, request: tuple[bytes, dict[str, str]], path: str = "/slack/events") -> requests.Response:
        body, headers = request
        return self.http.post(self.url + path, data=body, headers=headers, timeout=10)

    def command(self, text: str, **fields: Any) -> requests.Response:
        fields.setdefault("response_url", self.slack.response_url())
        fields.setdefault("trigger_id", self.slack.new_trigger_id())
        return self.post(sr.slash_command_request(text, **fields))

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"cyclr-bot exited before it was healthy\n{self.output()}")
            try:
                response = requests.get(self.url + "/healthz", timeout=2)
            except requests.RequestException as error:  # not listening yet, or slow (a loaded CI)
                last = f"no answer: {error}"
            else:
                if response.status_code == 200:
                    body: dict[str, Any] = response.json()
                    return body
                last = f"{response.status_code} {response.text}"
            time.sleep(0.1)
        pytest.fail(f"GET /healthz not 200 within {timeout:g}s (last: {last})\n{self.output()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM the master as a process supervisor would; the exit code, or None if it hung."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Leave nothing behind: SIGKILL the whole process group (master and workers)."""
        if group_alive(self.proc.pid):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.http.close()


def bot_env(slack: SlackStandin, workdir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED)}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=sr.SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        CYCLR_BOT_DATABASE_URL=f"sqlite:///{workdir / 'bot.db'}",
        CYCLR_NOTIFY_CHANNEL=NOTIFY_CHANNEL,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_bot(slack: SlackStandin, workdir: Path) -> BotProcess:
    if not CYCLR_BOT.exists():
        pytest.fail(f"the console script {CYCLR_BOT} is not installed (pip install -e .)")
    port = free_port()
    out_path, err_path = workdir / "bot.out", workdir / "bot.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [
                str(CYCLR_BOT),
                "--env-file",
                str(workdir / "no-such.env"),
                "run",
                "--http",
                "--sandbox",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=workdir,
            env=bot_env(slack, workdir),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group, so kill() reaches the workers too
        )
    return BotProcess(proc, f"http://127.0.0.1:{port}", slack, out_path, err_path)


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandin]:
    with SlackStandin() as standin:
        yield standin


@pytest.fixture(scope="module")
def http_bot(slack: SlackStandin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    bot = start_bot(slack, tmp_path_factory.mktemp("http-bot"))
    try:
        bot.wait_healthy()
        yield bot
    finally:
        bot.stop()
        bot.kill()


# -- helpers ---------------------------------------------------------------------------------------


def says_sandbox(message: dict[str, Any]) -> bool:
    """A message marks itself as the sandbox: banner block and text prefix."""
    banner = any(b.get("block_id") == SANDBOX_BLOCK_ID for b in message.get("blocks") or [])
    return banner and str(message.get("text", "")).startswith(SANDBOX_PREFIX)


def hook_posts(slack: SlackStandin, name: str, timeout: float = 15.0) -> list[Call]:
    return slack.wait_for(None, predicate=lambda c: c.hook == name, timeout=timeout)


# -- tests -----------------------------------------------------------------------------------------


def test_healthz_reports_ok_sandbox_and_is_served_by_gunicorn(http_bot: BotProcess) -> None:
    response = requests.get(http_bot.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["ok"] is True and body["sandbox"] is True
    server = response.headers.get("Server", "")
    assert "gunicorn" in server.lower(), f"Server header {server!r}: not gunicorn"
    assert "werkzeug" not in server.lower()
    # gunicorn's pre-fork model: the master we started has at least one worker process.
    assert child_pids(http_bot.proc.pid), "no worker process under the gunicorn master"


def test_signed_help_returns_the_help_card_marked_as_sandbox(http_bot: BotProcess) -> None:
    response = http_bot.command("help")
    assert response.status_code == 200, response.text
    card = response.json()
    text = json.dumps(card["blocks"])
    for sub in ("help", "search", "install", "list", "auth", "uninstall"):
        assert f"/cyclr {sub}" in text, sub
    assert says_sandbox(card), card


def test_forged_and_stale_signatures_are_refused(http_bot: BotProcess, slack: SlackStandin) -> None:
    before = len(slack.calls())
    forged = http_bot.post(sr.slash_command_request("help", signing_secret="not-the-secret"))
    assert forged.status_code == 401
    stale = http_bot.post(sr.slash_command_request("help", timestamp=int(time.time()) - 600))
    assert stale.status_code == 401
    unsigned_body, _ = sr.slash_command_request("help")
    unsigned = http_bot.http.post(
        http_bot.url + "/slack/events",
        data=unsigned_body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert unsigned.status_code == 401
    assert "/cyclr" not in forged.text + stale.text + unsigned.text
    assert len(slack.calls()) == before, "a refused request made the bot call Slack"


def test_search_is_answered_and_says_sandbox(http_bot: BotProcess, slack: SlackStandin) -> None:
    url = slack.response_url("http-search")
    response = http_bot.command("search salesforce", response_url=url)
    assert response.status_code == 200, response.text
    ack = response.json()
    assert says_sandbox(ack), ack
    if "Salesforce" in json.dumps(ack["blocks"]):
        return  # the catalogue was already warm: the results came in the ack itself
    assert "Searching" in ack["text"], ack
    [post] = hook_posts(slack, "http-search")
    assert post.status == 200, post.summary()
    assert "Salesforce" in json.dumps(post.args["blocks"])
    assert says_sandbox(post.args), post.args


def test_list_acks_then_posts_to_response_url(http_bot: BotProcess, slack: SlackStandin) -> None:
    url = slack.response_url("http-list")
    response = http_bot.command("list", response_url=url)
    assert response.status_code == 200, response.text
    assert says_sandbox(response.json())
    [post] = hook_posts(slack, "http-list")
    assert post.status == 200, post.summary()
    assert post.args.get("replace_original") is True
    assert says_sandbox(post.args), post.args


def test_every_message_posted_in_sandbox_mode_says_so(http_bot: BotProcess, slack: SlackStandin) -> None:
    acks = [http_bot.command(text).json() for text in ("help", "nonsense words", "search")]
    http_bot.command("list", response_url=slack.response_url("http-all"))
    hook_posts(slack, "http-all")
    posted = [c.args for c in slack.calls() if c.method in ("chat.postMessage", "chat.postEphemeral")]
    posted += [c.args for c in slack.calls("response_url") if not c.args.get("delete_original")]
    for message in acks + posted:
        assert says_sandbox(message), message


def test_oversized_body_is_413_not_500(http_bot: BotProcess) -> None:
    body = b"text=" + b"x" * (1024 * 1024 + 1)
    response = requests.post(  # its own connection: gunicorn closes it after the 413
        http_bot.url + "/slack/events",
        data=body,
        headers=sr.signed_headers(body, "application/x-www-form-urlencoded"),
        timeout=10,
    )
    assert response.status_code == 413, response.text
    assert response.json()["ok"] is False
    # The worker survived: the next request is served normally. A fresh connection, because
    # gunicorn drops the kept-alive one rather than drain a large unread body.
    body, headers = sr.slash_command_request("help")
    after = requests.post(http_bot.url + "/slack/events", data=body, headers=headers, timeout=10)
    assert after.status_code == 200 and says_sandbox(after.json())


def test_unknown_path_and_wrong_method_answer_json(http_bot: BotProcess) -> None:
    missing = requests.get(http_bot.url + "/nope", timeout=5)
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/json")
    assert missing.json()["ok"] is False
    wrong = requests.get(http_bot.url + "/slack/events", timeout=5)
    assert wrong.status_code == 405
    assert wrong.json()["ok"] is False
    assert "Traceback" not in missing.text + wrong.text


def test_sigterm_stops_master_and_workers_promptly(slack: SlackStandin, tmp_path: Path) -> None:
    bot = start_bot(slack, tmp_path)
    try:
        bot.wait_healthy()
        workers = child_pids(bot.proc.pid)
        assert workers, "no gunicorn worker under the master"
        started = time.monotonic()
        code = bot.stop(timeout=STOP_TIMEOUT)
        elapsed = time.monotonic() - started
        assert code is not None, f"still running {STOP_TIMEOUT:g}s after SIGTERM\n{bot.output()}"
        assert code == 0, bot.output()
        assert elapsed < STOP_TIMEOUT
        deadline = time.monotonic() + 3
        while group_alive(bot.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not group_alive(bot.proc.pid), f"worker(s) {workers} outlived the master"
        assert not unexpected_tracebacks(bot.output()), bot.output()
    finally:
        bot.kill()


# -- what reaches stderr -----------------------------------------------------------------------------

API_KEY = "sk_live_SECRETKEY_0123456789"
PASSWORD = "Pa55-SECRET-word!"


def test_a_refused_submission_leaves_no_secret_on_stderr(http_bot: BotProcess) -> None:
    """The review's experiment: a stale (or badly signed) submission put the typed key and
    password on ``cyclr-bot run --http``'s stderr."""
    payload = sr.view_submission_payload(values={"api_key": API_KEY, "password": PASSWORD})
    stale = sr.interactive_request(payload, timestamp=int(time.time()) - 301)
    forged = sr.interactive_request(payload, signing_secret="not-the-signing-secret")
    for request in (stale, forged):
        response = http_bot.post(request)  # logged, if at all, before the answer
        assert response.status_code == 401, response.text
    output = http_bot.output()
    for secret in (API_KEY, PASSWORD):
        for form in (secret, quote_plus(secret), quote(secret, safe="")):
            assert form not in output, f"{form!r} on the bot's output\n{output[-3000:]}"


def test_gunicorns_own_log_lines_are_redacted(http_bot: BotProcess) -> None:
    """gunicorn quotes a malformed request line back in its error log; a secret in it is masked."""
    target = urlsplit(http_bot.url)
    with socket.create_connection((target.hostname or "127.0.0.1", target.port or 80), timeout=5) as sock:
        sock.sendall(f"GET /healthz HTTP/9.9{sr.SIGNING_SECRET}\r\n\r\n".encode())
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    deadline = time.monotonic() + 5
    while "Invalid request" not in http_bot.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    output = http_bot.output()
    assert "Invalid HTTP Version" in output, output[-3000:]  # gunicorn logged the line
    assert sr.SIGNING_SECRET not in output, output[-3000:]


def test_url_verification_and_ssl_check_are_answered_only_when_signed(http_bot: BotProcess) -> None:
    challenge = http_bot.post(sr.url_verification_request("challenge-7"))
    assert challenge.status_code == 200 and challenge.json()["challenge"] == "challenge-7", challenge.text
    ssl_check = sr.form_request({"ssl_check": "1", "token": sr.VERIFICATION_TOKEN})
    answer = http_bot.post(ssl_check)
    assert answer.status_code == 200 and answer.content == b"", answer.text
    for body, headers in (sr.url_verification_request("challenge-8"), ssl_check):
        unsigned = {k: v for k, v in headers.items() if not k.startswith("X-Slack")}
        refused = http_bot.post((body, unsigned))
        assert refused.status_code == 401 and "challenge" not in refused.text, refused.text
