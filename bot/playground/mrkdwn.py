"""Slack text as safe HTML, for the playground page.

Slack's ``mrkdwn`` arrives with three characters escaped (``&amp;``, ``&lt;``, ``&gt;``);
``<…>`` sequences are links, mentions, user groups, channels and dates. Everything else is
text: it is unescaped from Slack's three entities once and HTML-escaped once, so nothing in
a message can become markup on the page. Formatting (bold, italic, strike, code, quotes)
and emoji shortcodes are applied to the escaped text; links only ever get ``http``,
``https`` or ``mailto`` addresses.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["EMOJI", "ICONS", "Names", "emoji", "mrkdwn_html", "plain_html", "safe_url", "slack_unescape"]

#: The shortcodes the bot uses, and a few more it is likely to; others stay as text.
EMOJI: Mapping[str, str] = {
    "white_check_mark": "\u2705",
    "heavy_check_mark": "\u2714\ufe0f",
    "warning": "\u26a0\ufe0f",
    "no_entry": "\u26d4",
    "no_entry_sign": "\U0001f6ab",
    "x": "\u274c",
    "key": "\U0001f511",
    "lock": "\U0001f512",
    "link": "\U0001f517",
    "hourglass": "\u231b",
    "hourglass_flowing_sand": "\u23f3",
    "wastebasket": "\U0001f5d1\ufe0f",
    "mag": "\U0001f50d",
    "thinking_face": "\U0001f914",
    "test_tube": "\U0001f9ea",
    "rotating_light": "\U0001f6a8",
    "bell": "\U0001f514",
    "zap": "\u26a1",
    "bulb": "\U0001f4a1",
    "information_source": "\u2139\ufe0f",
    "red_circle": "\U0001f534",
    "large_green_circle": "\U0001f7e2",
    "double_vertical_bar": "\u23f8\ufe0f",
    "arrow_forward": "\u25b6\ufe0f",
    "arrows_counterclockwise": "\U0001f504",
    "repeat": "\U0001f501",
    "gear": "\u2699\ufe0f",
    "electric_plug": "\U0001f50c",
    "package": "\U0001f4e6",
    "rocket": "\U0001f680",
    "tada": "\U0001f389",
    "memo": "\U0001f4dd",
    "calendar": "\U0001f4c5",
    "bar_chart": "\U0001f4ca",
    "fire": "\U0001f525",
    "eyes": "\U0001f440",
    "wave": "\U0001f44b",
    "robot_face": "\U0001f916",
    "heavy_plus_sign": "\u2795",
    "+1": "\U0001f44d",
}

#: Drawings for the shortcodes the bot uses, so they look the same on every machine (a
#: browser without an emoji font, like the one that takes the README's pictures, would
#: show empty boxes). 20×20 SVG shapes; the rest of :data:`EMOJI` stays as characters.
ICONS: Mapping[str, str] = {
    "white_check_mark": '<rect x="1" y="1" width="18" height="18" rx="4" fill="#3aa757"/>'
    '<path d="M5 10.5l3.2 3.2L15 7" fill="none" stroke="#fff" stroke-width="2.4" '
    'stroke-linecap="round" stroke-linejoin="round"/>',
    "heavy_check_mark": '<path d="M3.5 10.5l4.2 4.2 8.8-9.2" fill="none" stroke="#3b3b3b" stroke-width="3" '
    'stroke-linecap="round" stroke-linejoin="round"/>',
    "warning": '<path d="M10 1.8 19 17.5H1z" fill="#f4c430" stroke="#d89b00" stroke-linejoin="round"/>'
    '<rect x="9" y="6.5" width="2" height="6" rx="1" fill="#222"/>'
    '<circle cx="10" cy="15" r="1.2" fill="#222"/>',
    "no_entry": '<circle cx="10" cy="10" r="9" fill="#e0245e"/><rect x="4" y="8.5" width="12" height="3" '
    'rx="1" fill="#fff"/>',
    "x": '<path d="M4.5 4.5l11 11m0-11-11 11" stroke="#e0245e" stroke-width="3.2" stroke-linecap="round"/>',
    "key": '<circle cx="6" cy="10" r="4" fill="none" stroke="#d4a017" stroke-width="2.4"/>'
    '<path d="M10 10h8m-3 0v3m2.5-3v2.5" stroke="#d4a017" stroke-width="2.4" stroke-linecap="round"/>',
    "hourglass": '<path d="M5 2h10M5 18h10" stroke="#8a5a2b" stroke-width="2" stroke-linecap="round"/>'
    '<path d="M6 3c0 4 4 5 4 7s-4 3-4 7h8c0-4-4-5-4-7s4-3 4-7z" fill="#cfe8f7" stroke="#6b7b8a"/>'
    '<path d="M7.5 16.5c.5-2 2.5-2.5 2.5-3.5s2 1.5 2.5 3.5z" fill="#e6b450"/>',
    "hourglass_flowing_sand": '<path d="M5 2h10M5 18h10" stroke="#8a5a2b" stroke-width="2" '
    'stroke-linecap="round"/><path d="M6 3c0 4 4 5 4 7s-4 3-4 7h8c0-4-4-5-4-7s4-3 4-7z" fill="#cfe8f7" '
    'stroke="#6b7b8a"/><path d="M7 4.5h6c-.6 2-3 3-3 4.5-.1-1.5-2.4-2.5-3-4.5z" fill="#e6b450"/>'
    '<path d="M8 16.5c.5-1.5 2-2 2-2.8s1.5 1.3 2 2.8z" fill="#e6b450"/>',
    "wastebasket": '<path d="M4 5h12l-1.2 12.5H5.2z" fill="#9aa5b1"/>'
    '<rect x="3" y="3" width="14" height="2.2" rx="1" fill="#6b7682"/>'
    '<path d="M8 8v7m4-7v7" stroke="#e8ecef" stroke-width="1.2"/>',
    "mag": '<circle cx="8" cy="8" r="5.2" fill="#d6eefc" stroke="#4a5a6a" stroke-width="2"/>'
    '<path d="M12 12l5.5 5.5" stroke="#4a5a6a" stroke-width="2.6" stroke-linecap="round"/>',
    "thinking_face": '<circle cx="10" cy="10" r="9" fill="#ffcc4d"/><circle cx="7" cy="8" r="1.2" '
    'fill="#664500"/><circle cx="13" cy="8" r="1.2" fill="#664500"/><path d="M7 13.5h6" stroke="#664500" '
    'stroke-width="1.4" stroke-linecap="round"/>',
    "test_tube": '<g transform="rotate(30 10 10)"><rect x="7.5" y="1.5" width="5" height="16" rx="2.5" '
    'fill="#eef4f8" stroke="#5b6b7b" stroke-width="1.3"/><rect x="8.2" y="10" width="3.6" height="6.8" '
    'rx="1.8" fill="#8bc34a"/></g>',
}

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HOLD = re.compile(r"\x00(\d+)\x00")
_PRE = re.compile(r"```(.+?)```", re.S)
_CODE = re.compile(r"`([^`\n]+)`")
_TOKEN = re.compile(r"<([^<>\n]{1,3000})>")
_EMOJI = re.compile(r":([a-z0-9_+-]{1,50}):")
_SCHEMES = ("http://", "https://", "mailto:")
_SPANS = (
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "strong"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "em"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "s"),
)


@dataclass(frozen=True)
class Names:
    """How mentions are shown: user and channel ids to names (unknown ids are shown as ids)."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    now: Callable[[], datetime] = datetime.now


def slack_unescape(text: str) -> str:
    """Undo Slack's escaping of ``&``, ``<`` and ``>`` (and nothing else)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def emoji(escaped: str) -> str:
    """Known ``:shortcodes:`` as emoji (drawn, or characters), in already-escaped text."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ICONS:
            return (
                f'<svg class="emoji" viewBox="0 0 20 20" role="img" aria-label="{name.replace("_", " ")}">'
                f"{ICONS[name]}</svg>"
            )
        return EMOJI.get(name, match.group(0))

    return _EMOJI.sub(one, escaped)


def safe_url(url: str) -> str | None:
    """``url`` when it is an http(s) or mailto address without control characters, else None."""
    candidate = url.strip()
    if _CONTROL.search(candidate) or any(c.isspace() for c in candidate):
        return None
    return candidate if candidate.lower().startswith(_SCHEMES) else None


def plain_html(text: str, *, with_emoji: bool = True) -> str:
    """A ``plain_text`` object's text: literal, shortcodes as emoji when asked."""
    escaped = _escape(_CONTROL.sub("", text))
    return emoji(escaped) if with_emoji else escaped


def mrkdwn_html(text: str, names: Names | None = None) -> str:
    """Slack ``mrkdwn`` as HTML that shows it as Slack would, and can inject nothing."""
    names = names or Names()
    held: list[str] = []

    def hold(fragment: str) -> str:
        held.append(fragment)
        return f"\x00{len(held) - 1}\x00"

    text = _CONTROL.sub("", text)
    text = _PRE.sub(lambda m: hold(f"<pre>{_escape(slack_unescape(m.group(1).strip(chr(10))))}</pre>"), text)
    text = _CODE.sub(lambda m: hold(f"<code>{_escape(slack_unescape(m.group(1)))}</code>"), text)
    text = _TOKEN.sub(lambda m: hold(_token(m.group(1), names)), text)
    out = _escape(slack_unescape(text))
    for pattern, tag in _SPANS:
        out = pattern.sub(rf"<{tag}>\1</{tag}>", out)
    out = emoji(_quotes(out))
    out = out.replace("\n", "<br>")
    return _HOLD.sub(lambda m: held[int(m.group(1))], out)


def _quotes(escaped: str) -> str:
    """Lines starting with ``>`` (escaped: ``&gt;``) as block quotes."""
    if "&gt;" not in escaped:
        return escaped
    lines = escaped.split("\n")
    out: list[str] = []
    quote: list[str] = []
    for line in lines + [""]:
        if line.startswith("&gt;"):
            quote.append(line[4:].lstrip(" "))
            continue
        if quote:
            out.append("<blockquote>" + "<br>".join(quote) + "</blockquote>")
            quote = []
        out.append(line)
    return "\n".join(out[:-1])


def _token(inner: str, names: Names) -> str:
    """One ``<…>`` sequence as HTML."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user_id = target[1:]
        shown = names.users.get(user_id) or label or user_id
        return f'<span class="mention">@{_escape(slack_unescape(shown))}</span>'
    if target.startswith("#"):
        channel_id = target[1:]
        shown = names.channels.get(channel_id) or label or channel_id
        return f'<span class="mention">#{_escape(slack_unescape(shown))}</span>'
    if target.startswith("!subteam^"):
        shown = label or "@" + target[len("!subteam^") :]
        return f'<span class="mention">{_escape(slack_unescape(shown))}</span>'
    if target in ("!here", "!channel", "!everyone"):
        return f'<span class="mention">@{target[1:]}</span>'
    if target.startswith("!date^"):
        return f"<time>{_escape(_date(target, label, names))}</time>"
    url = safe_url(slack_unescape(target))
    if url is None:
        return _escape(f"<{slack_unescape(inner)}>")
    shown = _escape(slack_unescape(label or target))
    return f'<a href="{_escape(url)}" target="_blank" rel="noopener noreferrer">{shown}</a>'


def _date(target: str, fallback: str, names: Names) -> str:
    """``!date^<epoch>^<format>[^<link>]`` in the reader's (this machine's) time zone."""
    parts = target.split("^")
    try:
        when = datetime.fromtimestamp(int(parts[1]))
        fmt = parts[2]
    except (IndexError, ValueError, OverflowError, OSError):
        return slack_unescape(fallback)
    today = names.now().date()
    day = when.date()
    relative = {today: "Today", today - timedelta(days=1): "Yesterday", today + timedelta(days=1): "Tomorrow"}
    words = {
        "date_num": when.strftime("%Y-%m-%d"),
        "date": f"{when:%B} {when.day}, {when.year}",
        "date_short": f"{when:%b} {when.day}, {when.year}",
        "date_long": f"{when:%A, %B} {when.day}, {when.year}",
        "time": when.strftime("%H:%M"),
        "time_secs": when.strftime("%H:%M:%S"),
    }
    words["date_pretty"] = relative.get(day, words["date"])
    words["date_short_pretty"] = relative.get(day, words["date_short"])
    words["date_long_pretty"] = relative.get(day, words["date_long"])
    return re.sub(r"\{(\w+)\}", lambda m: words.get(m.group(1), m.group(0)), fmt)
