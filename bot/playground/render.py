"""Block Kit as HTML: the messages, App Home and modals the bot sends, drawn for the page.

Pure functions of the JSON the bot sent to the stand-in. Every text goes through
:mod:`.mrkdwn` (escaped once); interactive elements carry ``data-`` attributes naming their
block and element, which the page's script sends back so the server can build the request
Slack would send from the stored blocks (the page never says what a button's value is).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.playground.mrkdwn import Names, mrkdwn_html, plain_html, safe_url

__all__ = ["Surface", "block_id_of", "render_blocks", "render_messages", "render_modal", "render_text"]

Block = Mapping[str, Any]

#: Slack's default ``min_query_length`` for external selects.
DEFAULT_MIN_QUERY = 3


@dataclass(frozen=True)
class Surface:
    """Where blocks are drawn: what the script sends back to act on them."""

    kind: str  #: "message", "ephemeral", "view"
    key: Mapping[str, str]  #: {"channel", "ts"}, {"id"} or {"view_id"}
    names: Names = field(default_factory=Names)
    errors: Mapping[str, str] = field(default_factory=dict)  #: input block id -> error text

    def attributes(self) -> str:
        data = json.dumps({"kind": self.kind, **self.key}, separators=(",", ":"))
        return f'data-surface="{_attr(data)}"'

    @property
    def prefix(self) -> str:
        return "-".join([self.kind, *self.key.values()])


def _attr(text: str) -> str:
    return plain_html(text, with_emoji=False)


def block_id_of(block: Block, index: int) -> str:
    """The block's id, or the stable one the playground gives a block without one."""
    block_id = block.get("block_id")
    return block_id if isinstance(block_id, str) and block_id else f"pg-{index}"


def render_text(obj: Any, names: Names) -> str:
    """A text object (``plain_text`` or ``mrkdwn``) as HTML; anything else as nothing."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("text"), str):
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn_html(obj["text"], names)
    return plain_html(obj["text"], with_emoji=obj.get("emoji", True) is not False)


def _plain(obj: Any) -> str:
    return obj["text"] if isinstance(obj, Mapping) and isinstance(obj.get("text"), str) else ""


# -- blocks ------------------------------------------------------------------------------------


def render_blocks(blocks: Sequence[Block], surface: Surface) -> str:
    return "".join(_block(block, index, surface) for index, block in enumerate(blocks))


def _block(block: Block, index: int, surface: Surface) -> str:
    if not isinstance(block, Mapping):
        return ""
    kind = str(block.get("type") or "")
    block_id = block_id_of(block, index)
    body = _BLOCKS.get(kind, _unsupported)(block, index, surface)
    return (
        f'<div class="block block-{_attr(kind)}" data-block-index="{index}" '
        f'data-block-id="{_attr(block_id)}">{body}</div>'
    )


def _section(block: Block, index: int, surface: Surface) -> str:
    parts = []
    text = render_text(block.get("text"), surface.names)
    if text:
        parts.append(f'<div class="text">{text}</div>')
    fields = block.get("fields")
    if isinstance(fields, list) and fields:
        cells = "".join(f'<div class="field">{render_text(f, surface.names)}</div>' for f in fields)
        parts.append(f'<div class="fields">{cells}</div>')
    main = f'<div class="section-main">{"".join(parts)}</div>'
    accessory = block.get("accessory")
    if isinstance(accessory, Mapping):
        main += f'<div class="accessory">{_element(accessory, index, -1, surface)}</div>'
    return main


def _header(block: Block, index: int, surface: Surface) -> str:
    return f"<h3>{render_text(block.get('text'), surface.names)}</h3>"


def _divider(block: Block, index: int, surface: Surface) -> str:
    return "<hr>"


def _context(block: Block, index: int, surface: Surface) -> str:
    items = []
    for element in block.get("elements") or []:
        if isinstance(element, Mapping) and element.get("type") == "image":
            items.append(_image(element))
        else:
            items.append(f"<span>{render_text(element, surface.names)}</span>")
    return "".join(items)


def _actions(block: Block, index: int, surface: Surface) -> str:
    elements = block.get("elements") or []
    return "".join(
        _element(element, index, position, surface)
        for position, element in enumerate(elements)
        if isinstance(element, Mapping)
    )


def _input(block: Block, index: int, surface: Surface) -> str:
    element = block.get("element")
    if not isinstance(element, Mapping):
        return _unsupported(block, index, surface)
    element_id = f"{surface.prefix}-{index}"
    optional = ' <span class="optional">(optional)</span>' if block.get("optional") else ""
    label = (
        f'<label for="{_attr(element_id)}">{render_text(block.get("label"), surface.names)}{optional}</label>'
    )
    control = _element(element, index, 0, surface, element_id=element_id, in_input=block)
    hint = render_text(block.get("hint"), surface.names)
    hint_html = f'<div class="hint" id="{_attr(element_id)}-hint">{hint}</div>' if hint else ""
    error = surface.errors.get(block_id_of(block, index), "")
    error_html = f'<div class="error" role="alert">{plain_html(error)}</div>' if error else ""
    return f"{label}{control}{hint_html}{error_html}"


def _image_block(block: Block, index: int, surface: Surface) -> str:
    title = render_text(block.get("title"), surface.names)
    return (f"<div>{title}</div>" if title else "") + _image(block)


def _image(element: Block) -> str:
    """Only ``data:`` images are drawn: the page fetches nothing from outside the machine."""
    alt = _attr(str(element.get("alt_text") or ""))
    url = str(element.get("image_url") or "")
    if url.startswith("data:image/") and len(url) < 200_000:
        return f'<img class="image" src="{_attr(url)}" alt="{alt}">'
    return f'<span class="image-alt" title="image not loaded in the playground">[{alt or "image"}]</span>'


def _unsupported(block: Block, index: int, surface: Surface) -> str:
    kind = _attr(str(block.get("type") or "?"))
    return f'<div class="unsupported">The playground does not draw “{kind}” blocks.</div>'


_BLOCKS = {
    "section": _section,
    "header": _header,
    "divider": _divider,
    "context": _context,
    "actions": _actions,
    "input": _input,
    "image": _image_block,
}


# -- elements ----------------------------------------------------------------------------------


def _element(
    element: Block,
    block_index: int,
    position: int,
    surface: Surface,
    *,
    element_id: str | None = None,
    in_input: Block | None = None,
) -> str:
    kind = str(element.get("type") or "")
    where = f'data-element-index="{position}" data-action-id="{_attr(str(element.get("action_id") or ""))}"'
    if kind == "button":
        return _button(element, where, surface)
    if kind == "image":
        return _image(element)
    dispatch = in_input is None or bool(in_input.get("dispatch_action"))
    where += f' data-dispatch="{"true" if dispatch else "false"}"'
    element_id = element_id or f"{surface.prefix}-{block_index}-{position}"
    described = f' aria-describedby="{_attr(element_id)}-hint"' if in_input and in_input.get("hint") else ""
    if kind == "plain_text_input":
        return _text_input(element, where, element_id, described)
    if kind == "static_select":
        return _static_select(element, where, element_id, described)
    if kind == "external_select":
        return _external_select(element, where, element_id, described)
    return f'<span class="unsupported" {where}>The playground does not draw “{_attr(kind)}” elements.</span>'


def _button(element: Block, where: str, surface: Surface) -> str:
    label = render_text(element.get("text"), surface.names) or "Button"
    style = element.get("style")
    classes = "btn" + (f" btn-{style}" if style in ("primary", "danger") else "")
    confirm = _confirm(element.get("confirm"), surface.names)
    if element.get("url") is not None:
        url = safe_url(str(element.get("url")))
        if url is None:
            return f'<span class="{classes} disabled" title="not an http(s) link">{label}</span>'
        link = (
            f'<a class="{classes}" data-kind="url-button" {where} href="{_attr(url)}" '
            f'target="_blank" rel="noopener noreferrer">{label}</a>'
        )
        return f'<span class="el">{link}{confirm}</span>'
    button = f'<button type="button" class="{classes}" data-kind="button" {where}>{label}</button>'
    return f'<span class="el">{button}{confirm}</span>'


def _confirm(confirm: Any, names: Names) -> str:
    """A confirm dialog's content, kept in a template until the button is pressed."""
    if not isinstance(confirm, Mapping):
        return ""
    style = "danger" if confirm.get("style") == "danger" else "primary"
    return (
        f'<template class="confirm" data-style="{style}">'
        f'<h2 class="confirm-title">{render_text(confirm.get("title"), names)}</h2>'
        f'<div class="confirm-text">{render_text(confirm.get("text"), names)}</div>'
        f'<span class="confirm-yes">{render_text(confirm.get("confirm"), names) or "Yes"}</span>'
        f'<span class="confirm-no">{render_text(confirm.get("deny"), names) or "Cancel"}</span>'
        "</template>"
    )


def _text_input(element: Block, where: str, element_id: str, described: str) -> str:
    value = _attr(str(element.get("initial_value") or ""))
    placeholder = _attr(_plain(element.get("placeholder")))
    limit = element.get("max_length")
    maxlength = f' maxlength="{int(limit)}"' if isinstance(limit, int) and limit > 0 else ""
    common = (
        f'id="{_attr(element_id)}" class="input" data-kind="plain_text_input" {where} '
        f'placeholder="{placeholder}"{maxlength}{described}'
    )
    if element.get("multiline"):
        return f'<textarea {common} rows="3">{value}</textarea>'
    return f'<input type="text" {common} value="{value}">'


def _options(element: Block) -> Iterable[tuple[str | None, Block]]:
    for option in element.get("options") or []:
        if isinstance(option, Mapping):
            yield None, option
    for group in element.get("option_groups") or []:
        if isinstance(group, Mapping):
            for option in group.get("options") or []:
                if isinstance(option, Mapping):
                    yield _plain(group.get("label")), option


def _static_select(element: Block, where: str, element_id: str, described: str) -> str:
    initial = element.get("initial_option")
    chosen = initial.get("value") if isinstance(initial, Mapping) else None
    placeholder = _plain(element.get("placeholder")) or "Choose an option"
    items = [
        f'<option value="" disabled{" selected" if chosen is None else ""}>{plain_html(placeholder)}</option>'
    ]
    for group, option in _options(element):
        value = str(option.get("value") or "")
        selected = " selected" if value == chosen else ""
        text = plain_html((f"{group}: " if group else "") + _plain(option.get("text")))
        items.append(f'<option value="{_attr(value)}"{selected}>{text}</option>')
    return (
        f'<select id="{_attr(element_id)}" class="input" data-kind="static_select" {where}{described}>'
        f"{''.join(items)}</select>"
    )


def _external_select(element: Block, where: str, element_id: str, described: str) -> str:
    initial = element.get("initial_option")
    selected = json.dumps(initial, separators=(",", ":")) if isinstance(initial, Mapping) else ""
    text = _plain(initial.get("text")) if isinstance(initial, Mapping) else ""
    minimum = element.get("min_query_length")
    minimum = minimum if isinstance(minimum, int) and minimum >= 0 else DEFAULT_MIN_QUERY
    placeholder = _attr(_plain(element.get("placeholder")) or "Type to search")
    listbox = f"{element_id}-options"
    return (
        f'<div class="combo" data-kind="external_select" {where} data-min-query="{minimum}" '
        f'data-selected="{_attr(selected)}">'
        f'<input type="text" id="{_attr(element_id)}" class="input" role="combobox" autocomplete="off" '
        f'aria-autocomplete="list" aria-expanded="false" aria-controls="{_attr(listbox)}" '
        f'placeholder="{placeholder}" value="{_attr(text)}"{described}>'
        f'<ul class="listbox" role="listbox" id="{_attr(listbox)}" hidden></ul></div>'
    )


# -- surfaces ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Author:
    name: str
    initial: str
    bot: bool = False


def _time(ts: str) -> str:
    try:
        return datetime.fromtimestamp(float(ts)).strftime("%H:%M")
    except (ValueError, OverflowError, OSError):
        return ""


def render_message(
    message: Mapping[str, Any], surface: Surface, author: Author, *, ephemeral: bool = False
) -> str:
    """One message (or ephemeral message) with its author, time and blocks or text."""
    blocks = message.get("blocks")
    if isinstance(blocks, list) and blocks:
        body = render_blocks(blocks, surface)
    else:
        text = mrkdwn_html(str(message.get("text") or ""), surface.names)
        body = f'<div class="block"><div class="text">{text}</div></div>'
    edited = ' <span class="edited">(edited)</span>' if message.get("edited") else ""
    note = '<div class="only-you">Only visible to you</div>' if ephemeral else ""
    badge = ' <span class="app-badge">APP</span>' if author.bot else ""
    classes = "message" + (" ephemeral" if ephemeral else "")
    return (
        f'<article class="{classes}" {surface.attributes()}>'
        f'<div class="avatar{" bot" if author.bot else ""}" aria-hidden="true">'
        f"{plain_html(author.initial)}</div>"
        f'<div class="message-body">{note}<div class="meta">'
        f'<span class="author">{plain_html(author.name)}</span>'
        f'{badge} <span class="time">{_time(str(message.get("ts") or ""))}</span>{edited}</div>'
        f"{body}</div></article>"
    )


def render_messages(
    messages: Sequence[Mapping[str, Any]],
    ephemerals: Sequence[Mapping[str, Any]],
    *,
    channel: str,
    names: Names,
    authors: Mapping[str, Author],
    empty: str,
) -> str:
    """A conversation: messages and the user's ephemeral messages by time, replies in threads."""
    replies: dict[str, list[Mapping[str, Any]]] = {}
    top: list[tuple[float, str]] = []
    known = {str(m.get("ts")) for m in messages}
    for message in messages:
        ts, thread = str(message.get("ts")), message.get("thread_ts")
        if isinstance(thread, str) and thread != ts and thread in known:
            replies.setdefault(thread, []).append(message)
    by_ts = {str(m.get("ts")): m for m in messages}
    parts: dict[str, str] = {}
    for ts, message in by_ts.items():
        thread = message.get("thread_ts")
        if isinstance(thread, str) and thread != ts and thread in known:
            continue
        html = _message_html(message, channel, names, authors)
        thread_replies = replies.get(ts, [])
        if thread_replies:
            count = len(thread_replies)
            inner = "".join(
                _message_html(r, channel, names, authors)
                for r in sorted(thread_replies, key=lambda r: float(str(r.get("ts") or 0)))
            )
            html += (
                f'<div class="thread" role="group" aria-label="Thread">'
                f'<div class="thread-count">{count} {"reply" if count == 1 else "replies"}</div>{inner}</div>'
            )
        parts[f"m{ts}"] = html
        top.append((_float(ts), f"m{ts}"))
    for ephemeral in ephemerals:
        surface = Surface("ephemeral", {"id": str(ephemeral.get("id"))}, names)
        key = f"e{ephemeral.get('id')}"
        local = bool(ephemeral.get("local"))
        author = (
            Author("Slackbot", "S") if local else authors.get("bot", Author("Cyclr", "C", True))
        )
        parts[key] = render_message(ephemeral, surface, author, ephemeral=True)
        top.append((_float(str(ephemeral.get("ts"))), key))
    if not top:
        return f'<p class="empty">{plain_html(empty)}</p>'
    return "".join(parts[key] for _, key in sorted(top))


def _float(ts: str) -> float:
    try:
        return float(ts)
    except ValueError:
        return 0.0


def _message_html(
    message: Mapping[str, Any], channel: str, names: Names, authors: Mapping[str, Author]
) -> str:
    surface = Surface("message", {"channel": channel, "ts": str(message.get("ts"))}, names)
    user = str(message.get("user") or "")
    author = authors.get("bot") if message.get("bot_id") else authors.get(user)
    return render_message(message, surface, author or Author(user or "someone", (user or "?")[:1]))


def render_modal(view: Mapping[str, Any], names: Names, errors: Mapping[str, str], *, depth: int) -> str:
    """The top modal of a stack, with its title, blocks and buttons."""
    surface = Surface("view", {"view_id": str(view.get("id"))}, names, errors)
    title = render_text(view.get("title"), names)
    close = render_text(view.get("close"), names) or "Cancel"
    submit = render_text(view.get("submit"), names)
    back = '<span class="back" aria-hidden="true">‹ </span>' if depth > 1 else ""
    submit_html = (
        '<button type="button" class="btn btn-primary" data-testid="modal-submit" data-modal="submit">'
        f"{submit}</button>"
        if submit
        else ""
    )
    return (
        '<div class="modal" role="dialog" aria-modal="true" aria-labelledby="modal-title" '
        'data-testid="modal" '
        f'data-view-id="{_attr(str(view.get("id")))}" data-hash="{_attr(str(view.get("hash")))}" '
        f"{surface.attributes()}>"
        f'<header><h2 id="modal-title">{back}{title}</h2>'
        f'<button type="button" class="close" data-modal="close" aria-label="Close">×</button></header>'
        f'<div class="modal-body">{render_blocks(view.get("blocks") or [], surface)}</div>'
        f'<footer><button type="button" class="btn" data-modal="close">{close}</button>{submit_html}</footer>'
        "</div>"
    )
