"""Reading what a person entered in a view: its state values, by block id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["input_value", "state_values"]


def state_values(view: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """``view.state.values``, or an empty mapping for anything not shaped like it."""
    state = view.get("state") or {}
    values = state.get("values") if isinstance(state, Mapping) else None
    return values if isinstance(values, Mapping) else {}


def input_value(values: Mapping[str, Mapping[str, Any]], block_id: str) -> str | None:
    """The text typed or the option chosen in ``block_id`` (action id is the same word)."""
    block = values.get(block_id)
    if not isinstance(block, Mapping):
        return None
    element = block.get(block_id)
    if not isinstance(element, Mapping):
        element = next((e for e in block.values() if isinstance(e, Mapping)), None)
        if element is None:
            return None
    option = element.get("selected_option")
    if isinstance(option, Mapping):
        value = option.get("value")
        return str(value) if value is not None else None
    value = element.get("value")
    return str(value) if isinstance(value, str | int) else None
