"""The playground's renderer: Slack's text and Block Kit as HTML that shows what Slack shows and
can inject nothing (no tag, attribute or link the bot's text did not mean as formatting)."""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from bot.playground.mrkdwn import Names, mrkdwn_html, plain_html
from bot.playground.render import Surface, render_blocks, render_messages, render_modal
from bot.slack import blocks as kit
from bot.slack.blocks.common import button, confirm_dialog, escape

NAMES = Names(users={"U0ADA": "Ada Admin"}, channels={"C0TEAM": "integrations"})

#: Every tag mrkdwn may produce, and the attributes each may carry.
ALLOWED = {
    "strong": set(),
    "em": set(),
    "s": set(),
    "code": set(),
    "pre": set(),
    "br": set(),
    "blockquote": set(),
    "time": set(),
    "span": {"class"},
    "a": {"href", "target", "rel"},
    "svg": {"class", "viewbox", "role", "aria-label"},
    "rect": {"x", "y", "width", "height", "rx", "fill", "stroke", "stroke-width"},
    "circle": {"cx", "cy", "r", "fill", "stroke", "stroke-width"},
    "path": {"d", "fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin"},
    "g": {"transform"},
}


class Tags(HTMLParser):
    """Collects the tags and attributes of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(fragment: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(fragment)
    parser.close()
    return parser.tags


def text_of(fragment: str) -> str:
    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(fragment)
    return "".join(parser.parts)


def only_allowed(fragment: str) -> None:
    for tag, attrs in tags(fragment):
        assert tag in ALLOWED, (tag, fragment)
        assert set(attrs) <= ALLOWED[tag], (tag, attrs, fragment)
        if tag == "a":
            assert (attrs["href"] or "").startswith(("http://", "https://", "mailto:")), fragment


# -- mrkdwn ------------------------------------------------------------------------------------------


def test_formatting_links_mentions_and_emoji() -> None:
    out = mrkdwn_html(
        "*bold* _it_ ~gone~ `code` <https://example.com/a?b=1&amp;c=2|the docs> <@U0ADA> "
        "<!subteam^S0TEAM|@installers> <#C0TEAM> <!here> :white_check_mark: :warning: :no_entry: :key:",
        NAMES,
    )
    assert "<strong>bold</strong>" in out and "<em>it</em>" in out and "<s>gone</s>" in out
    assert "<code>code</code>" in out
    assert (
        '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">the docs</a>'
        in out
    )
    assert '<span class="mention">@Ada Admin</span>' in out
    assert '<span class="mention">@installers</span>' in out
    assert '<span class="mention">#integrations</span>' in out
    assert '<span class="mention">@here</span>' in out
    for name in ("white check mark", "warning", "no entry", "key"):
        assert f'aria-label="{name}"' in out
    only_allowed(out)


def test_slack_escapes_show_as_the_characters_and_stay_text() -> None:
    out = mrkdwn_html("a &lt;b&gt; &amp; c &amp;lt;", NAMES)
    assert text_of(out) == "a <b> & c &lt;"
    assert tags(out) == []


def test_html_in_the_text_is_shown_not_run() -> None:
    for text in (
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        "</span><script>alert(1)</script>",
        "<style>body{display:none}</style>",
    ):
        out = mrkdwn_html(text, NAMES)
        assert tags(out) == [], out
        assert text_of(out) == text


def test_links_only_to_web_addresses_and_attributes_cannot_be_broken_out_of() -> None:
    out = mrkdwn_html(
        '<javascript:alert(1)|click> <data:text/html,hi|x> <https://a.example/"onclick="x|y> '
        "<https://b.example/ x|z>",
        NAMES,
    )
    only_allowed(out)
    hrefs = [attrs["href"] for tag, attrs in tags(out) if tag == "a"]
    assert hrefs == ['https://a.example/"onclick="x'], out  # the quote stays inside the value
    assert "javascript:" not in "".join(h or "" for h in hrefs)
    assert "click" in text_of(out)


def test_labels_and_mention_names_are_escaped() -> None:
    evil = Names(users={"U0EVIL": "<b>Eve</b>"}, channels={"C0EVIL": "<i>x</i>"})
    out = mrkdwn_html("<@U0EVIL> <#C0EVIL> <https://ok.example|<b>label</b>>", evil)
    only_allowed(out)
    assert "@<b>Eve</b>" in text_of(out) and "#<i>x</i>" in text_of(out)


def test_null_bytes_cannot_forge_a_placeholder() -> None:
    out = mrkdwn_html("`<b>` \x000\x00 <https://x.example|x>", NAMES)
    only_allowed(out)
    assert out.count("<code>") == 1 and out.count("<a ") == 1


def test_dates_in_the_readers_time() -> None:
    epoch = int(datetime(2030, 1, 2, 15, 4).timestamp())
    names = Names(now=lambda: datetime(2030, 1, 2, 9, 0))
    out = mrkdwn_html(f"<!date^{epoch}^{{date_short_pretty}} {{time}}|2030-01-02 15:04 UTC>", names)
    assert text_of(out) == "Today 15:04"
    assert text_of(mrkdwn_html("<!date^nope^{time}|fallback &amp; more>", names)) == "fallback & more"


def test_quotes_and_code_blocks() -> None:
    out = mrkdwn_html("&gt; quoted *line*\nplain\n```\n<b>x</b> *not bold*\n```", NAMES)
    assert "<blockquote>quoted <strong>line</strong></blockquote>" in out
    assert "<pre>&lt;b&gt;x&lt;/b&gt; *not bold*</pre>" in out


@given(st.text(alphabet=st.sampled_from(list("<>&|!@#^*_~`:\"' \n\x00abcU0:/.=")), max_size=80))
def test_any_text_gives_only_the_allowed_tags(text: str) -> None:
    out = mrkdwn_html(text, NAMES)
    only_allowed(out)
    assert not re.search(
        r"<(?!/?(strong|em|s|code|pre|br|blockquote|time|span|a|svg|rect|circle|path|g)[ >])", out
    )


def test_plain_text_is_literal() -> None:
    assert plain_html("<b>*x*</b> :warning:", with_emoji=False) == "&lt;b&gt;*x*&lt;/b&gt; :warning:"
    assert "svg" in plain_html(":warning:")


# -- Block Kit ---------------------------------------------------------------------------------------


def test_every_text_of_a_block_is_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": evil}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": escape(evil)},
            "fields": [{"type": "plain_text", "text": evil}],
            "accessory": button(
                evil, "a1", value="v", confirm=confirm_dialog(title=evil, text=escape(evil), confirm=evil)
            ),
        },
        {
            "type": "context",
            "elements": [
                {"type": "plain_text", "text": evil},
                {"type": "image", "image_url": "https://x/y.png", "alt_text": evil},
            ],
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "static_select",
                    "action_id": "s",
                    "placeholder": {"type": "plain_text", "text": evil},
                    "options": [{"text": {"type": "plain_text", "text": evil}, "value": '"><script>'}],
                },
                button("Open", "u", url='https://ok.example/"onmouseover="x'),
                button("Bad", "b2", url="javascript:alert(1)"),
            ],
        },
        {
            "type": "input",
            "block_id": '"><b>',
            "label": {"type": "plain_text", "text": evil},
            "element": {
                "type": "plain_text_input",
                "action_id": "t",
                "initial_value": '"></textarea><script>',
            },
        },
        {"type": "rich_text", "elements": []},
    ]
    html = render_blocks(blocks, Surface("view", {"view_id": '"><x>'}, NAMES))
    names = [tag for tag, _ in tags(html)]
    assert "img" not in names and "script" not in names and "b" not in names and "x" not in names
    hrefs = [attrs.get("href") for tag, attrs in tags(html) if tag == "a"]
    assert hrefs == ['https://ok.example/"onmouseover="x']  # the javascript: URL is not a link
    assert "https://x/y.png" not in html  # nothing is fetched from outside the machine
    assert "does not draw “rich_text” blocks" in html


def test_elements_carry_what_the_script_sends_back() -> None:
    view = kit.install_modal(metadata="{}", notice="Pick one", sandbox=True)
    view |= {"id": "V1", "hash": "h1"}
    html = render_modal(view, NAMES, {"name": "Too long"}, depth=1)
    assert 'data-testid="modal"' in html and 'data-testid="modal-submit"' in html
    connector = [attrs for tag, attrs in tags(html) if attrs.get("data-action-id") == "connector"][0]
    assert connector["data-kind"] == "external_select" and connector["data-dispatch"] == "true"
    assert any(attrs.get("role") == "combobox" for _, attrs in tags(html))
    labels = [attrs["for"] for tag, attrs in tags(html) if tag == "label"]
    ids = {attrs.get("id") for _, attrs in tags(html)}
    assert labels and all(label in ids for label in labels)  # every input has its label
    assert "Too long" in text_of(html)


def test_conversation_puts_replies_in_their_thread_and_marks_ephemerals() -> None:
    messages = [
        {"ts": "100.000001", "text": "parent", "bot_id": "B1"},
        {"ts": "100.000003", "text": "reply two", "thread_ts": "100.000001", "bot_id": "B1"},
        {"ts": "100.000002", "text": "reply one", "thread_ts": "100.000001", "bot_id": "B1"},
        {"ts": "100.000004", "text": "later", "user": "U0ADA"},
    ]
    ephemerals = [{"id": "E1", "ts": "100.000005", "text": "just you", "channel": "C0TEAM", "user": "U0ADA"}]
    html = render_messages(messages, ephemerals, channel="C0TEAM", names=NAMES, authors={}, empty="none")
    text = text_of(html)
    assert text.index("parent") < text.index("2 replies") < text.index("reply one") < text.index("reply two")
    assert (
        text.index("reply two")
        < text.index("later")
        < text.index("Only visible to you")
        < text.index("just you")
    )
