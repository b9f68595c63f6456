"""Building blocks shared by every builder: text safety, limits, Block Kit primitives.

Rules kept here so the builders cannot forget them:

- user- or Cyclr-provided text goes into ``mrkdwn`` only through :func:`escape` (or
  :func:`escape_clip`), so ``<!channel>`` in a connector name never becomes a mention;
- every text is clipped to its Slack limit with an ellipsis; lengths are counted in UTF-16
  code units, which is never less than Python's count, so emoji cannot push a text over;
- a sandbox message or view always carries the sandbox banner.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "SANDBOX_NOTE",
    "Block",
    "Message",
    "actions",
    "button",
    "clip",
    "clip_mrkdwn",
    "confirm_dialog",
    "context",
    "divider",
    "escape",
    "escape_clip",
    "first_sentence",
    "header",
    "mention",
    "message",
    "mrkdwn",
    "one_line",
    "pack_lines",
    "plain",
    "section",
    "slack_date",
    "version_label",
    "view_blocks",
]

Block = dict[str, Any]

SANDBOX_NOTE = ":test_tube: Cyclr sandbox — nothing here touches a real Cyclr account."
SANDBOX_BLOCK_ID = "sandbox_banner"
SANDBOX_PREFIX = "[sandbox] "

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_FALLBACK_TEXT = 3000  # Slack allows 40k; a notification needs far less
ELLIPSIS = "…"

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,500}>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_USER_ID = re.compile(r"[UWB][A-Z0-9]{2,30}")


@dataclass(frozen=True)
class Message:
    """A message for ``chat.postMessage``/``chat.update``/``response_url``.

    ``text`` is the notification fallback (already safe mrkdwn); ``blocks`` the Block Kit.
    """

    text: str
    blocks: list[Block]

    def as_kwargs(self) -> dict[str, Any]:
        """``{"text": …, "blocks": …}`` for ``client.chat_postMessage(**m.as_kwargs(), …)``."""
        return {"text": self.text, "blocks": self.blocks}


# -- text -----------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for mrkdwn (and the fallback ``text``)."""
    return text.translate(_ESCAPES)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (UTF-16 units), ending in an ellipsis when cut."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit // 2 or _units(text) <= limit:
        return text
    budget = limit - 1
    used = 0
    for end, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            return text[:end].rstrip() + ELLIPSIS
    return text


def clip_mrkdwn(text: str, limit: int) -> str:
    """Clip already-escaped mrkdwn without leaving half an entity (``&am…``)."""
    cut = clip(text, limit)
    if cut == text:
        return text
    body = cut[: -len(ELLIPSIS)]
    amp = body.rfind("&")
    if amp != -1 and ";" not in body[amp:]:
        body = body[:amp]
    return body.rstrip() + ELLIPSIS


def escape_clip(text: str, limit: int) -> str:
    """Escape for mrkdwn, then clip to ``limit`` characters of the escaped text."""
    return clip_mrkdwn(escape(text), limit)


def one_line(text: str | None, fallback: str = "") -> str:
    """Whitespace (newlines too) collapsed to single spaces; ``fallback`` when empty."""
    flat = " ".join((text or "").split())
    return flat or fallback


def first_sentence(text: str | None, limit: int = 150) -> str:
    """The first sentence of a (possibly HTML) description, as plain text, clipped."""
    if not text:
        return ""
    plain_text = one_line(html.unescape(_TAG.sub(" ", text[:20_000])))
    sentence = _SENTENCE_END.split(plain_text, maxsplit=1)[0]
    return clip(sentence, limit)


def version_label(version: str | None) -> str:
    """``"v2.1"`` for ``"2.1"`` or ``"v2.1"``; empty when unknown."""
    v = one_line(version)
    if not v:
        return ""
    return v if v[:1] in ("v", "V") else f"v{v}"


def mention(user_id: str | None) -> str:
    """``<@U…>`` for a real-looking Slack user id; anything else is escaped text."""
    if user_id and _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return escape(user_id or "someone")


def slack_date(when: datetime, fmt: str = "{date_short_pretty} {time}", *, with_date: bool = True) -> str:
    """Slack date formatting, shown in the reader's time zone, with a UTC fallback."""
    moment = when if when.tzinfo else when.replace(tzinfo=UTC)
    epoch = int(moment.timestamp())
    fallback = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC" if with_date else "%H:%M UTC")
    return f"<!date^{epoch}^{fmt}|{fallback}>"


def pack_lines(lines: Iterable[str], limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join lines with newlines into as few texts of at most ``limit`` characters as possible.

    A single line longer than ``limit`` gets a text of its own (the section clips it).
    """
    chunks: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


# -- composition objects and blocks -----------------------------------------------------


def plain(text: str, limit: int = MAX_SECTION_TEXT) -> Block:
    """A ``plain_text`` object (no escaping needed: Slack renders it literally)."""
    return {"type": "plain_text", "text": clip(text or " ", limit), "emoji": True}


def mrkdwn(text: str, limit: int = MAX_SECTION_TEXT) -> Block:
    """A ``mrkdwn`` object from text that is already safe (escaped where needed)."""
    return {"type": "mrkdwn", "text": clip_mrkdwn(text or " ", limit)}


def section(text: str, *, accessory: Block | None = None, block_id: str | None = None) -> Block:
    """A mrkdwn section; ``text`` must already be escaped."""
    block: Block = {"type": "section", "text": mrkdwn(text)}
    if accessory is not None:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def context(*texts: str, block_id: str | None = None) -> Block:
    """A context block of up to 10 mrkdwn texts (already escaped)."""
    block: Block = {"type": "context", "elements": [mrkdwn(t) for t in texts[:MAX_CONTEXT_ELEMENTS]]}
    if block_id:
        block["block_id"] = block_id
    return block


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER)}


def divider() -> Block:
    return {"type": "divider"}


def actions(*elements: Block, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements[:MAX_ACTIONS_ELEMENTS])}
    if block_id:
        block["block_id"] = block_id
    return block


def confirm_dialog(*, title: str, text: str, confirm: str, deny: str = "Cancel") -> Block:
    """A ``confirm`` object (title ≤ 100, text ≤ 300, buttons ≤ 30); ``text`` already escaped."""
    return {
        "title": plain(title, 100),
        "text": mrkdwn(text, 300),
        "confirm": plain(confirm, 30),
        "deny": plain(deny, 30),
        "style": "danger",
    }


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
    confirm: Block | None = None,
) -> Block:
    """A button. A value or URL over Slack's limit is a bug upstream: it raises, never clips.

    The error never quotes the URL or value, which may hold a secret.
    """
    el: Block = {"type": "button", "action_id": action_id, "text": plain(text, MAX_BUTTON_TEXT)}
    if value is not None:
        if not value or len(value) > MAX_BUTTON_VALUE:
            raise ValueError(f"button value must be 1-{MAX_BUTTON_VALUE} characters")
        el["value"] = value
    if url is not None:
        if not url or len(url) > MAX_URL:
            raise ValueError(f"button url must be 1-{MAX_URL} characters")
        el["url"] = url
    if style:
        el["style"] = style
    if confirm is not None:
        el["confirm"] = confirm
    return el


# -- surfaces ---------------------------------------------------------------------------


def _banner() -> Block:
    return context(SANDBOX_NOTE, block_id=SANDBOX_BLOCK_ID)


def message(text: str, blocks: list[Block], *, sandbox: bool = False) -> Message:
    """A :class:`Message`; ``text`` is safe mrkdwn. Adds the sandbox banner and prefix."""
    if sandbox:
        blocks = [_banner(), *blocks]
        text = SANDBOX_PREFIX + text
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks; a message holds at most {MAX_MESSAGE_BLOCKS}")
    return Message(text=clip_mrkdwn(one_line(text, "Cyclr"), MAX_FALLBACK_TEXT), blocks=blocks)


def view_blocks(blocks: list[Block], *, sandbox: bool = False) -> list[Block]:
    """A view's blocks with the sandbox banner first when ``sandbox``; at most 100."""
    if sandbox:
        blocks = [_banner(), *blocks]
    if len(blocks) > MAX_VIEW_BLOCKS:
        raise ValueError(f"{len(blocks)} blocks; a view holds at most {MAX_VIEW_BLOCKS}")
    return blocks
