"""The shipped sample catalogue (``data/catalogue.json``), parsed once per process.

The parsed connectors are shared by every sandbox in the process and must never be
mutated: the state replaces a connector with a modified copy instead (copy-on-write),
which keeps a sandbox start-up to a few milliseconds however many tests create one.
The data file is written by ``scripts/make_sandbox_catalogue.py``; do not edit it by hand.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

__all__ = ["CATALOGUE_RESOURCE", "load_catalogue"]

CATALOGUE_RESOURCE = "data/catalogue.json"


@functools.cache
def load_catalogue() -> tuple[Mapping[str, Any], ...]:
    """Every shipped connector as Cyclr's ``GET /v1.0/connectors`` item, ordered by ``Id``."""
    text = (
        resources.files(__package__ or "bot.cyclr.sandbox")
        .joinpath(CATALOGUE_RESOURCE)
        .read_text(encoding="utf-8")
    )
    data = json.loads(text)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError(f"{CATALOGUE_RESOURCE} must hold a JSON array of connector objects")
    return tuple(sorted(data, key=lambda item: int(item["Id"])))
