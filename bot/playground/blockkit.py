"""Block Kit checks that fail where Slack fails.

Slack rejects a whole message or view when one field breaks a limit, and it says why in
``response_metadata.messages`` as ``"[ERROR] <reason> [json-pointer:<path>]"``. These
functions return such lines (an empty list means Slack would accept the payload), so
the Slack stand-in can answer like Slack and tests can check the bot's blocks offline.

Limits from https://docs.slack.dev/reference/block-kit and slack_sdk's models.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_VIEW_BYTES = 250_000
MAX_TITLE = 24  # modal title, submit and close
MAX_PRIVATE_METADATA = 3000
MAX_ID = 255  # block_id, action_id, callback_id, external_id
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_BUTTON_TEXT = 75
MAX_BUTTON_URL = 3000
MAX_BUTTON_VALUE = 2000
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTIONS = 100
MAX_PLACEHOLDER = 150
MAX_LABEL = 2000

_TEXT_TYPES = ("plain_text", "mrkdwn")
_SELECTS_WITH_OPTIONS = ("static_select", "multi_static_select")
_EXTERNAL_SELECTS = ("external_select", "multi_external_select")
_OTHER_SELECTS = (
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
)
_TEXT_INPUTS = ("plain_text_input", "email_text_input", "url_text_input", "number_input")
_PICKERS = ("datepicker", "timepicker", "datetimepicker")
_CHOICES = ("checkboxes", "radio_buttons")
_INTERACTIVE = (
    ("button", "overflow") + _SELECTS_WITH_OPTIONS + _EXTERNAL_SELECTS + _OTHER_SELECTS + _PICKERS + _CHOICES
)
_INPUT_ELEMENTS = (
    _SELECTS_WITH_OPTIONS + _EXTERNAL_SELECTS + _OTHER_SELECTS + _TEXT_INPUTS + _PICKERS + _CHOICES
)
_PASSTHROUGH_BLOCKS = ("rich_text", "file", "video", "markdown")


class _Checker:
    """Collects ``[ERROR] … [json-pointer:…]`` lines while walking a payload."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, pointer: str, reason: str) -> None:
        self.errors.append(f"[ERROR] {reason} [json-pointer:{pointer}]")

    # -- primitives -----------------------------------------------------------------

    def string(self, value: Any, ptr: str, *, max_len: int, required: bool = False, min_len: int = 0) -> None:
        if value is None:
            if required:
                self.error(ptr, "missing required field")
            return
        if not isinstance(value, str):
            self.error(ptr, "must be a string")
            return
        if len(value) > max_len:
            self.error(ptr, f"must be less than {max_len + 1} characters")
        elif len(value) < min_len:
            self.error(ptr, f"must be more than {min_len - 1} characters")

    def text(
        self,
        obj: Any,
        ptr: str,
        *,
        max_len: int,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        if obj is None:
            if required:
                self.error(ptr, "missing required field")
            return
        if not isinstance(obj, dict):
            self.error(ptr, "must be a text object")
            return
        kind = obj.get("type")
        if kind not in _TEXT_TYPES:
            self.error(f"{ptr}/type", "must be one of plain_text, mrkdwn")
        elif plain_only and kind != "plain_text":
            self.error(f"{ptr}/type", "must be plain_text")
        self.string(obj.get("text"), f"{ptr}/text", max_len=max_len, required=True, min_len=1)

    def identifier(self, value: Any, ptr: str, *, required: bool = False) -> None:
        self.string(value, ptr, max_len=MAX_ID, required=required, min_len=1)

    def array(self, value: Any, ptr: str, *, max_items: int, min_items: int = 0) -> list[Any]:
        if not isinstance(value, list):
            self.error(ptr, "must be an array")
            return []
        if len(value) > max_items:
            self.error(ptr, f"no more than {max_items} items allowed")
        if len(value) < min_items:
            self.error(ptr, f"must provide at least {min_items} items")
        return value

    # -- composition objects --------------------------------------------------------

    def option(self, opt: Any, ptr: str, *, plain_only: bool = True) -> None:
        if not isinstance(opt, dict):
            self.error(ptr, "must be an option object")
            return
        self.text(opt.get("text"), f"{ptr}/text", max_len=MAX_OPTION_TEXT, plain_only=plain_only)
        self.string(opt.get("value"), f"{ptr}/value", max_len=MAX_OPTION_VALUE, required=True, min_len=1)
        if "description" in opt:
            self.text(opt["description"], f"{ptr}/description", max_len=MAX_OPTION_TEXT)
        if "url" in opt:
            self.string(opt["url"], f"{ptr}/url", max_len=MAX_BUTTON_URL)

    def options(self, obj: dict[str, Any], ptr: str, *, max_items: int, plain_only: bool = True) -> list[Any]:
        """Check ``options`` xor ``option_groups``; returns every option seen."""
        has_options = "options" in obj
        has_groups = "option_groups" in obj
        if has_options == has_groups:
            self.error(ptr, "must provide exactly one of options, option_groups")
            return []
        seen: list[Any] = []
        if has_options:
            for i, opt in enumerate(self.array(obj["options"], f"{ptr}/options", max_items=max_items)):
                self.option(opt, f"{ptr}/options/{i}", plain_only=plain_only)
                seen.append(opt)
            return seen
        groups = self.array(obj["option_groups"], f"{ptr}/option_groups", max_items=max_items)
        for g, group in enumerate(groups):
            gptr = f"{ptr}/option_groups/{g}"
            if not isinstance(group, dict):
                self.error(gptr, "must be an option group")
                continue
            self.text(group.get("label"), f"{gptr}/label", max_len=MAX_OPTION_TEXT, plain_only=True)
            for i, opt in enumerate(self.array(group.get("options"), f"{gptr}/options", max_items=max_items)):
                self.option(opt, f"{gptr}/options/{i}")
                seen.append(opt)
        return seen

    def confirm(self, obj: Any, ptr: str) -> None:
        if not isinstance(obj, dict):
            self.error(ptr, "must be a confirm object")
            return
        self.text(obj.get("title"), f"{ptr}/title", max_len=100, plain_only=True)
        self.text(obj.get("text"), f"{ptr}/text", max_len=300)
        self.text(obj.get("confirm"), f"{ptr}/confirm", max_len=30, plain_only=True)
        self.text(obj.get("deny"), f"{ptr}/deny", max_len=30, plain_only=True)

    # -- elements -------------------------------------------------------------------

    def element(self, el: Any, ptr: str, *, allowed: Iterable[str], action_ids: set[str]) -> None:
        if not isinstance(el, dict):
            self.error(ptr, "must be an element object")
            return
        kind = el.get("type")
        if kind == "image":
            if "image" in tuple(allowed):
                self.string(el.get("image_url"), f"{ptr}/image_url", max_len=3000, required=True, min_len=1)
                self.string(el.get("alt_text"), f"{ptr}/alt_text", max_len=2000, required=True, min_len=1)
            else:
                self.error(f"{ptr}/type", "image is not allowed here")
            return
        if kind not in tuple(allowed):
            self.error(f"{ptr}/type", f"unsupported or not allowed element type {kind!r}")
            return
        action_id = el.get("action_id")
        self.identifier(action_id, f"{ptr}/action_id")
        if isinstance(action_id, str):
            if action_id in action_ids:
                self.error(f"{ptr}/action_id", f"duplicate action_id {action_id!r} in this block")
            action_ids.add(action_id)
        if "placeholder" in el:
            self.text(el["placeholder"], f"{ptr}/placeholder", max_len=MAX_PLACEHOLDER, plain_only=True)
        if "confirm" in el:
            self.confirm(el["confirm"], f"{ptr}/confirm")

        if kind == "button":
            self.text(el.get("text"), f"{ptr}/text", max_len=MAX_BUTTON_TEXT, plain_only=True)
            self.string(el.get("url"), f"{ptr}/url", max_len=MAX_BUTTON_URL, min_len=1)
            self.string(el.get("value"), f"{ptr}/value", max_len=MAX_BUTTON_VALUE)
            if "style" in el and el["style"] not in ("primary", "danger"):
                self.error(f"{ptr}/style", "must be one of primary, danger")
        elif kind in _SELECTS_WITH_OPTIONS:
            opts = self.options(el, ptr, max_items=MAX_OPTIONS)
            values = [o.get("value") for o in opts if isinstance(o, dict)]
            initial = [el["initial_option"]] if "initial_option" in el else el.get("initial_options", [])
            key = "initial_option" if "initial_option" in el else "initial_options"
            for item in initial if isinstance(initial, list) else [initial]:
                self.option(item, f"{ptr}/{key}")
                if isinstance(item, dict) and item.get("value") not in values:
                    self.error(f"{ptr}/{key}", "must match one of the provided options")
        elif kind in _EXTERNAL_SELECTS:
            if "initial_option" in el:
                self.option(el["initial_option"], f"{ptr}/initial_option")
            for i, opt in enumerate(el.get("initial_options", []) or []):
                self.option(opt, f"{ptr}/initial_options/{i}")
            mql = el.get("min_query_length")
            if mql is not None and (not isinstance(mql, int) or isinstance(mql, bool) or mql < 0):
                self.error(f"{ptr}/min_query_length", "must be a non-negative integer")
        elif kind == "overflow":
            for i, opt in enumerate(
                self.array(el.get("options"), f"{ptr}/options", max_items=5, min_items=1)
            ):
                self.option(opt, f"{ptr}/options/{i}")
        elif kind in _CHOICES:
            for i, opt in enumerate(
                self.array(el.get("options"), f"{ptr}/options", max_items=10, min_items=1)
            ):
                self.option(opt, f"{ptr}/options/{i}", plain_only=False)
        elif kind == "plain_text_input":
            self.string(el.get("initial_value"), f"{ptr}/initial_value", max_len=3000)
            for key in ("min_length", "max_length"):
                n = el.get(key)
                if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 3000):
                    self.error(f"{ptr}/{key}", "must be an integer between 0 and 3000")

    # -- blocks ---------------------------------------------------------------------

    def blocks(self, blocks: Any, ptr: str, *, max_blocks: int, surface: str) -> None:
        items = self.array(blocks, ptr, max_items=max_blocks)
        block_ids: set[str] = set()
        for i, block in enumerate(items):
            self.block(block, f"{ptr}/{i}", surface=surface, block_ids=block_ids)

    def block(self, block: Any, ptr: str, *, surface: str, block_ids: set[str]) -> None:
        if not isinstance(block, dict):
            self.error(ptr, "must be a block object")
            return
        block_id = block.get("block_id")
        self.identifier(block_id, f"{ptr}/block_id")
        if isinstance(block_id, str):
            if block_id in block_ids:
                self.error(f"{ptr}/block_id", f"duplicate block_id {block_id!r}")
            block_ids.add(block_id)
        action_ids: set[str] = set()
        kind = block.get("type")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.error(ptr, "must provide at least one of text, fields")
            if "text" in block:
                self.text(block["text"], f"{ptr}/text", max_len=MAX_SECTION_TEXT)
            if "fields" in block:
                fields = self.array(
                    block["fields"], f"{ptr}/fields", max_items=MAX_SECTION_FIELDS, min_items=1
                )
                for f, field in enumerate(fields):
                    self.text(field, f"{ptr}/fields/{f}", max_len=MAX_FIELD_TEXT)
            if "accessory" in block:
                self.element(
                    block["accessory"],
                    f"{ptr}/accessory",
                    allowed=_INTERACTIVE + ("image",),
                    action_ids=action_ids,
                )
        elif kind == "divider":
            pass
        elif kind == "header":
            self.text(block.get("text"), f"{ptr}/text", max_len=MAX_HEADER_TEXT, plain_only=True)
        elif kind == "context":
            elements = self.array(
                block.get("elements"), f"{ptr}/elements", max_items=MAX_CONTEXT_ELEMENTS, min_items=1
            )
            for e, el in enumerate(elements):
                eptr = f"{ptr}/elements/{e}"
                if isinstance(el, dict) and el.get("type") == "image":
                    self.element(el, eptr, allowed=("image",), action_ids=action_ids)
                else:
                    self.text(el, eptr, max_len=MAX_SECTION_TEXT)
        elif kind == "actions":
            elements = self.array(
                block.get("elements"), f"{ptr}/elements", max_items=MAX_ACTIONS_ELEMENTS, min_items=1
            )
            for e, el in enumerate(elements):
                self.element(el, f"{ptr}/elements/{e}", allowed=_INTERACTIVE, action_ids=action_ids)
        elif kind == "input":
            self.text(block.get("label"), f"{ptr}/label", max_len=MAX_LABEL, plain_only=True)
            if "hint" in block:
                self.text(block["hint"], f"{ptr}/hint", max_len=MAX_LABEL, plain_only=True)
            if "element" not in block:
                self.error(f"{ptr}/element", "missing required field")
            else:
                self.element(
                    block["element"], f"{ptr}/element", allowed=_INPUT_ELEMENTS, action_ids=action_ids
                )
            for flag in ("optional", "dispatch_action"):
                if flag in block and not isinstance(block[flag], bool):
                    self.error(f"{ptr}/{flag}", "must be a boolean")
        elif kind == "image":
            self.string(block.get("image_url"), f"{ptr}/image_url", max_len=3000, min_len=1)
            self.string(block.get("alt_text"), f"{ptr}/alt_text", max_len=2000, required=True, min_len=1)
            if "title" in block:
                self.text(block["title"], f"{ptr}/title", max_len=2000, plain_only=True)
        elif kind in _PASSTHROUGH_BLOCKS:
            pass
        else:
            self.error(f"{ptr}/type", f"unsupported type {kind!r}")


def validate_blocks(blocks: Any, *, surface: str = "message", pointer: str = "/blocks") -> list[str]:
    """Problems with a ``blocks`` array for a message (≤ 50) or a view (≤ 100)."""
    checker = _Checker()
    limit = MAX_MESSAGE_BLOCKS if surface == "message" else MAX_VIEW_BLOCKS
    checker.blocks(blocks, pointer, max_blocks=limit, surface=surface)
    return checker.errors


def validate_message(args: dict[str, Any]) -> list[str]:
    """Problems with a message payload (``chat.*`` arguments or a ``response_url`` body).

    ``text`` or ``blocks`` (or ``attachments``) is required, like Slack's ``no_text``.
    """
    checker = _Checker()
    text = args.get("text")
    blocks = args.get("blocks")
    attachments = args.get("attachments")
    if not text and not blocks and not attachments:
        checker.error("/text", "must provide text, blocks or attachments")
    if text is not None and not isinstance(text, str):
        checker.error("/text", "must be a string")
    if blocks is not None:
        checker.blocks(blocks, "/blocks", max_blocks=MAX_MESSAGE_BLOCKS, surface="message")
    if isinstance(attachments, list):
        for a, attachment in enumerate(attachments):
            if isinstance(attachment, dict) and "blocks" in attachment:
                checker.blocks(
                    attachment["blocks"],
                    f"/attachments/{a}/blocks",
                    max_blocks=MAX_MESSAGE_BLOCKS,
                    surface="message",
                )
    return checker.errors


def validate_view(view: Any, *, pointer: str = "/view") -> list[str]:
    """Problems with a modal or Home tab view, as ``views.open``/``update``/``push``/``publish`` see it."""
    checker = _Checker()
    if not isinstance(view, dict):
        checker.error(pointer, "must be a view object")
        return checker.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        checker.error(f"{pointer}/type", "must be one of modal, home")
    if kind == "modal":
        checker.text(view.get("title"), f"{pointer}/title", max_len=MAX_TITLE, plain_only=True)
    elif "title" in view:
        checker.text(view["title"], f"{pointer}/title", max_len=MAX_TITLE, plain_only=True)
    for key in ("submit", "close"):
        if key in view and view[key] is not None:
            checker.text(view[key], f"{pointer}/{key}", max_len=MAX_TITLE, plain_only=True)
    if "blocks" not in view:
        checker.error(f"{pointer}/blocks", "missing required field")
    else:
        checker.blocks(view["blocks"], f"{pointer}/blocks", max_blocks=MAX_VIEW_BLOCKS, surface=str(kind))
        blocks = view["blocks"] if isinstance(view["blocks"], list) else []
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        if kind == "modal" and has_input and not view.get("submit"):
            checker.error(f"{pointer}/submit", "must provide submit when the view has input blocks")
    checker.string(view.get("private_metadata"), f"{pointer}/private_metadata", max_len=MAX_PRIVATE_METADATA)
    checker.string(view.get("callback_id"), f"{pointer}/callback_id", max_len=MAX_ID)
    checker.string(view.get("external_id"), f"{pointer}/external_id", max_len=MAX_ID)
    return checker.errors


def view_too_large(view: Any) -> bool:
    """Slack answers ``view_too_large`` past 250 kB of view JSON."""
    return len(json.dumps(view, ensure_ascii=False).encode()) > MAX_VIEW_BYTES


def validate_options_response(payload: dict[str, Any]) -> list[str]:
    """Problems with an answer to a ``block_suggestion`` (external select options load).

    ``{"options": [...]}`` or ``{"option_groups": [...]}``; at most 100 of either, option
    text ≤ 75 chars (plain_text), value ≤ 150 chars.
    """
    checker = _Checker()
    if not isinstance(payload, dict):
        checker.error("", "must be an object")
        return checker.errors
    checker.options(payload, "", max_items=MAX_OPTIONS)
    return checker.errors
