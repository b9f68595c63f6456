""".env.example lists every variable the settings read, and nothing they do not."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_matches_the_settings() -> None:
    config = (ROOT / "bot" / "config.py").read_text()
    read = set(re.findall(r'reader\.\w+\(\s*"([A-Z_]+)"', config))
    assert {"SLACK_BOT_TOKEN", "CYCLR_API_URL", "CYCLR_BOT_PUBLIC_URL", "LOG_FORMAT"} <= read
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert read - listed == set(), f"missing from .env.example: {sorted(read - listed)}"
    assert listed - read == set(), f"not read by the bot: {sorted(listed - read)}"
    readme = (ROOT / "README.md").read_text()
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "CYCLR_API_URL"):
        assert name in readme
