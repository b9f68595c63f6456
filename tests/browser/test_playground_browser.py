"""The playground in a real browser, as a new user meets it: ``cyclr-bot playground`` started with an
empty environment, then headless Chromium on its page. Only the page's ``data-testid``s of
INTERFACE.md (composer, channel, dm, home, modal, modal-submit) and visible text are used.

With ``CYCLR_BOT_SCREENSHOTS=<dir>`` (``make screenshots``), the install test saves the README's
three pictures there: the install modal, the DM with its *Authorise* button, and the team
notification once the connector is authorised.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import browser_context, skip_without_browser

# Read at import: the autouse env cleaner strips CYCLR_* before each test runs.
SCREENSHOTS = os.environ.get("CYCLR_BOT_SCREENSHOTS", "").strip()
START_TIMEOUT = 60.0
WAIT_MS = 30_000
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Running:
    url: str
    process: subprocess.Popen[str]
    output: list[str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """``python -m bot playground --port <free>`` with an empty environment, in an empty directory."""
    skip_without_browser()
    port = _free_port()
    cwd = tmp_path_factory.mktemp("fresh")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "playground", "--port", str(port)],
        cwd=cwd,
        env={},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if line.startswith("Open http://"):
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(START_TIMEOUT):
            pytest.fail("the playground did not print its URL:\n" + "\n".join(output))
        url = f"http://127.0.0.1:{port}/"
        assert any(line.startswith(f"Open {url}") for line in output), output
        yield Running(url, process, output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _shot(page: Any, name: str) -> None:
    """Save a picture for the README when asked to (``make screenshots``)."""
    if not SCREENSHOTS:
        return
    path = Path(SCREENSHOTS) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    data = path.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000, (path, len(data))


def _errors_on(page: Any, url: str) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if msg.type == "error" and page.url.startswith(url) else None,
    )
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    return errors


def test_install_and_authorise_hubspot_from_the_page(playground: Running, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with browser_context(tmp_path, width=1000, height=640) as context:
        page = context.pages[0] if context.pages else context.new_page()
        errors = _errors_on(page, playground.url)
        page.goto(playground.url)
        page.get_by_label("You are").select_option(label="Ada Admin (admin)")
        composer = page.get_by_test_id("composer")
        composer.fill("/cyclr install hubspot")
        composer.press("Enter")

        modal = page.get_by_test_id("modal")
        expect(modal).to_be_visible(timeout=WAIT_MS)
        expect(modal.get_by_role("combobox", name="Connector")).to_have_value(
            re.compile(r"^HubSpot\b"), timeout=WAIT_MS
        )
        expect(modal.get_by_label("Name")).to_have_value("HubSpot")
        _shot(page, "playground-install-modal.png")
        page.get_by_test_id("modal-submit").click()
        expect(modal).to_contain_text("Installed HubSpot", timeout=WAIT_MS)
        modal.get_by_role("button", name="Close").last.click()
        expect(modal).to_be_hidden()

        page.get_by_role("button", name="Cyclr").click()
        dm = page.get_by_test_id("dm")
        authorise = dm.get_by_text("Authorise HubSpot")
        expect(authorise).to_be_visible(timeout=WAIT_MS)
        expect(dm).to_contain_text("Sign in to authorise it")
        _shot(page, "playground-dm-authorise.png")

        # As in Slack: the click reaches the bot (block_actions) and the link opens in a new tab.
        with (
            page.expect_request(lambda r: r.url.endswith("/_playground/api/action")) as clicked,
            context.expect_page() as opened,
        ):
            authorise.click()
        assert clicked.value.method == "POST"
        tab = opened.value
        tab.wait_for_url(re.compile(re.escape(playground.url) + "authorise/"), timeout=WAIT_MS)
        expect(tab.get_by_role("heading", level=1)).to_have_text("Authorise HubSpot")
        tab.get_by_role("button", name="Continue").click()
        tab.wait_for_url(re.compile(r"/connectorauth/"), timeout=WAIT_MS)
        tab.get_by_role("button", name="Allow").click()
        tab.wait_for_url(re.compile(re.escape(playground.url) + "authorised/"), timeout=WAIT_MS)
        expect(tab.get_by_role("heading", level=1)).to_have_text("HubSpot is authorised")
        tab.close()

        expect(dm).to_contain_text("authorised and ready", timeout=WAIT_MS)
        expect(dm.get_by_text("Authorise HubSpot")).to_have_count(0)
        page.get_by_role("button", name="# integrations").click()
        channel = page.get_by_test_id("channel")
        expect(channel).to_contain_text("installed HubSpot", timeout=WAIT_MS)
        expect(channel).to_contain_text("authorised", timeout=WAIT_MS)
        _shot(page, "playground-team-notification.png")
        assert errors == []


def test_a_guest_is_refused(playground: Running, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with browser_context(tmp_path) as context:
        page = context.pages[0] if context.pages else context.new_page()
        errors = _errors_on(page, playground.url)
        page.goto(playground.url)
        page.get_by_label("You are").select_option(label="Gus Guest (guest)")
        page.get_by_role("button", name="# integrations").click()
        composer = page.get_by_test_id("composer")
        composer.fill("/cyclr install hubspot")
        composer.press("Enter")
        channel = page.get_by_test_id("channel")
        expect(channel).to_contain_text("Guests cannot install or manage Cyclr connectors", timeout=WAIT_MS)
        expect(channel).to_contain_text("Only visible to you")
        expect(page.get_by_test_id("modal")).to_have_count(0)
        # Someone else does not see Gus's refusal.
        page.get_by_label("You are").select_option(label="Ian Installer (installer)")
        expect(channel).not_to_contain_text("Guests cannot install", timeout=WAIT_MS)
        assert errors == []


def test_blocks_slack_would_refuse_show_as_an_error_on_the_page(playground: Running, tmp_path: Path) -> None:
    """As if the bot broke a Block Kit limit: the stand-in refuses the call as Slack does, and the
    page says so instead of dropping the message silently."""
    from playwright.sync_api import expect
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    [api_url] = [
        m.group(1) for line in playground.output if (m := re.search(r"Slack stand-in (http://[^,\s]+)", line))
    ]
    with browser_context(tmp_path) as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(playground.url)
        client = WebClient(token="xoxb-any", base_url=api_url + "api/")
        too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C0TEAM", text="too long", blocks=too_long)
        problems = page.get_by_role("alert").filter(has_text="Problems with what the bot sent")
        expect(problems).to_contain_text("Slack refused chat.postMessage: invalid_blocks", timeout=WAIT_MS)
        expect(problems).to_contain_text("json-pointer:/blocks/0/text/text")
        page.get_by_role("button", name="Dismiss").click()
        expect(problems).to_be_hidden()
