"""The authorisation link in a real browser: headless Chromium opens the page from the DM;
Continue before the owner's click in Slack is refused; after the click (the URL button's
signed ``block_actions``, which may well arrive after the browser's GET, as here) Continue
follows the 303 to the sandbox's consent page, Allow lands back on the bot's "you can close
this tab" page. A screenshot of each page goes to the test's temp dir. The flow completing in
a real browser also proves that the pages' Content-Security-Policy (``form-action``) lets the
Continue form and its redirect through, and that the cross-site check lets the page's own
form through (Chromium sends ``Origin: null`` and ``Sec-Fetch-Site: same-origin``).

Needs the ``playwright`` package (the Python driver only; never ``playwright install``) and
Debian's ``chromium``. Without them the test skips, unless ``CYCLR_BOT_REQUIRE_BROWSER=1``
(set by ``.ci/run``), when it fails instead so CI cannot silently skip it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.store import InstallState
from tests.e2e.harness import Bot, running_bot
from tests.e2e.test_links import buttons, install_oauth, mints, press_link

# Read at import: the autouse env cleaner strips CYCLR_* before each test runs.
REQUIRE_BROWSER = os.environ.get("CYCLR_BOT_REQUIRE_BROWSER", "").strip().lower() in ("1", "true", "yes")
CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 20_000
MIN_PNG_BYTES = 1024


def _missing_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    chromium = _chromium_path()
    if chromium is None:
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


def _chromium_path() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@dataclass
class ConsoleLog:
    """Console errors and uncaught page errors, each with the URL of the page it came from."""

    errors: list[tuple[str, str]] = field(default_factory=list)

    def on_bot(self, bot_url: str) -> list[tuple[str, str]]:
        return [(url, text) for url, text in self.errors if url.startswith(bot_url)]


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[tuple[Any, ConsoleLog]]:
    """A fresh Chromium page (own profile dir), plus the console errors it reports."""
    problem = _missing_browser()
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"CYCLR_BOT_REQUIRE_BROWSER is set but {problem}")
        pytest.skip(problem)
    from playwright.sync_api import sync_playwright

    log = ConsoleLog()
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    with sync_playwright() as p:
        # launch_persistent_context is how Playwright takes a --user-data-dir of our own.
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=_chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1024, "height": 768},
            locale="en-GB",
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            page = context.pages[0] if context.pages else context.new_page()
            page.on(
                "console",
                lambda msg: log.errors.append((page.url, msg.text)) if msg.type == "error" else None,
            )
            page.on("pageerror", lambda exc: log.errors.append((page.url, f"uncaught: {exc}")))
            yield page, log
        finally:
            context.close()


def _screenshot(page: Any, path: Path) -> Path:
    page.screenshot(path=str(path), full_page=True)
    return path


def _fits_narrow_screen(page: Any) -> bool:
    """No horizontal scrolling on a 360px-wide phone screen."""
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 740})
    try:
        return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
    finally:
        page.set_viewport_size(size)


def test_link_flow_in_a_real_browser(tmp_path: Path, browser_page: tuple[Any, ConsoleLog]) -> None:
    page, console = browser_page
    with running_bot(tmp_path, public=True) as bot:
        _run_flow(bot, page, console, tmp_path)


def _run_flow(bot: Bot, page: Any, console: ConsoleLog, tmp_path: Path) -> None:
    bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
    bot.services.notifier.first_check = 0.2
    dm, record = install_oauth(bot)
    page_url = buttons(dm)["open_link"]["url"]
    assert page_url.startswith(bot.url + "/authorise/")
    ref = page_url.rsplit("/", 1)[1]

    # 1. The link page: shows the connector and a Continue button; opening it mints nothing.
    response = page.goto(page_url)
    assert response is not None and response.status == 200
    assert page.title() == "Authorise Salesforce"
    assert page.get_by_role("heading", level=1).inner_text() == "Authorise Salesforce"
    text = page.locator("main").inner_text()
    assert "Salesforce" in text and "Acme" in text
    continue_button = page.get_by_role("button", name="Continue")
    assert continue_button.is_visible() and continue_button.is_enabled()
    assert page.evaluate("document.documentElement.lang") == "en"
    assert _fits_narrow_screen(page)
    shots = [_screenshot(page, tmp_path / "1-authorise.png")]
    assert bot.sandbox.signin_tokens_issued == 0

    # 2. Continue before the owner's click in Slack reached the bot: refused, nothing minted.
    with page.expect_navigation() as navigation:
        continue_button.click()
    refused = navigation.value
    assert refused is not None and refused.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Press the button in Slack first"
    assert _fits_narrow_screen(page)
    shots.append(_screenshot(page, tmp_path / "2-press-in-slack.png"))
    assert bot.sandbox.signin_tokens_issued == 0 and mints(bot) == 0
    # The 403 itself is the only console error so far; later pages must add none.
    assert len(console.errors) == 1 and "status of 403" in console.errors[0][1], console.errors
    console.errors.clear()

    # 3. The owner presses the DM's button (Slack tells the bot; the browser shows the page).
    press_link(bot, dm)
    response = page.goto(page_url)
    assert response is not None and response.status == 200
    continue_button = page.get_by_role("button", name="Continue")

    # 4. Continue POSTs; the bot answers 303 to the sandbox's authorisation route.
    with page.expect_navigation() as navigation:
        continue_button.click()
    consent = navigation.value
    assert consent is not None and consent.status == 200
    minted = consent.request.redirected_from
    assert minted is not None and minted.method == "POST" and minted.url == page_url
    assert minted.response() is not None and minted.response().status == 303
    assert page.url.startswith(bot.sandbox.service_url + "/connectorauth/"), page.url
    assert "Salesforce" in page.get_by_role("heading", level=1).inner_text()
    shots.append(_screenshot(page, tmp_path / "4-consent.png"))
    assert bot.sandbox.signin_tokens_issued == 1 and mints(bot) == 1

    # 5. Allow: the sandbox authenticates and 302s back to the bot's closing page, whose
    #    address (Cyclr's targetOrigin) is not the ref.
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Allow").click()
    back = navigation.value
    assert back is not None and back.status == 200
    assert page.url.startswith(f"{bot.url}/authorised/") and ref not in page.url, page.url
    closing = page.locator("main").inner_text()
    assert "is authorised" in closing and "close this tab" in closing, closing
    assert page.get_by_role("heading", level=1).inner_text() == "Salesforce is authorised"
    assert _fits_narrow_screen(page)
    shots.append(_screenshot(page, tmp_path / "5-authorised.png"))

    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > MIN_PNG_BYTES, (shot, len(data))

    bot.wait_idle()
    settled = bot.services.store.get_install(record.id)
    assert settled is not None and settled.state is InstallState.AUTHENTICATED
    assert bot.sandbox.signin_tokens_issued == 1 and mints(bot) == 1
    # A CSP that blocked the form or its redirect would show here (and the flow would not finish).
    assert console.on_bot(bot.url) == [], console.errors
