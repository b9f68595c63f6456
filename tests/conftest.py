"""Shared test set-up: a clean environment for every test, and the fixture plugins."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fixtures.sandbox", "tests.fixtures.slack", "tests.fixtures.store"]

_PREFIXES = ("SLACK_", "CYCLR_", "LOG_")


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    """Strip SLACK_*, CYCLR_* and LOG_* so no test picks up the developer's settings.

    ``CYCLR_BOT_TEST_DATABASE_URL`` is kept aside for the PostgreSQL tests (see ``pg_url``).
    """
    saved = {k: v for k, v in os.environ.items() if k.startswith(_PREFIXES)}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        for key in [k for k in os.environ if k.startswith(_PREFIXES)]:
            del os.environ[key]
        os.environ.update(saved)
