from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Bot, running_bot


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Bot]:
    with running_bot(tmp_path) as b:
        yield b


@pytest.fixture
def warm_bot(bot: Bot) -> Bot:
    """A bot whose catalogue and account list are already cached (the usual state)."""
    bot.services.catalogue.get(bot.services.accounts.default_account_id, timeout=30)
    bot.services.accounts.all()
    return bot
