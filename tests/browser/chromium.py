"""Headless Debian Chromium driven by Playwright's Python package, launched as the link-page test
launches it (never ``playwright install``). Without the package or Chromium a test skips, unless
``CYCLR_BOT_REQUIRE_BROWSER=1`` (set by ``.ci/run``), when it fails instead."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

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
TIMEOUT_MS = 30_000


def chromium_path() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def skip_without_browser() -> None:
    """Skip (or, when the browser is required, fail) unless Playwright and Chromium are here."""
    problem = None
    if importlib.util.find_spec("playwright") is None:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    elif chromium_path() is None:
        problem = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"CYCLR_BOT_REQUIRE_BROWSER is set but {problem}")
        pytest.skip(problem)


@contextmanager
def browser_context(tmp_path: Path, *, width: int = 1100, height: int = 700) -> Iterator[Any]:
    """A persistent Chromium context with a profile of its own under ``tmp_path``."""
    skip_without_browser()
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            locale="en-GB",
        )
        try:
            context.set_default_timeout(TIMEOUT_MS)
            yield context
        finally:
            context.close()
