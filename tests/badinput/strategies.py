"""Hypothesis strategies for bad input: what users type, and what a broken or hostile client sends."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "ANY_CHARACTER",
    "JSON_VALUES",
    "NOT_TEXT",
    "PRINTABLE_ASCII",
    "Mutation",
    "account_junk",
    "apply_all",
    "command_texts",
    "header_text",
    "huge_text",
    "link_refs",
    "mutations",
    "not_json_objects",
    "odd_text",
    "subcommand_texts",
    "uncarriable_accounts",
]

SUBCOMMAND_WORDS = (
    "help", "search", "install", "list", "auth", "uninstall", "accounts", "account", "history",
    "?", "-h", "--help", "ls", "rm", "authorize", "HELP", "Install:", "“search”", "instal", "histroy",
)  # fmt: skip

#: Slack's own escapes and entities, well formed and broken.
SLACK_ESCAPES = (
    "<@U0001|ann>", "<@U0001>", "<@UADMIN01|admin>", "<#C0001|integrations>", "<#C1>", "<!channel>",
    "<!here>", "<!everyone>", "<!subteam^S0001|@team>", "<!subteam^>", "<!date^1392734382^x|y>",
    "<https://example.com|a link>", "<https://example.com>", "<mailto:a@example.com|a>", "&amp;",
    "&lt;", "&gt;", "&amp;lt;", "&#x27;", "&quot;", "<>", "<", ">", "<@>", "<#>", "<!>", "<|>", "<@|>",
    "<<@U1>>", "&", "&amp", "`", "```", "*bold*", "_it_", "~s~", ":smile:", "\\", "\\n", "%00", "%",
)  # fmt: skip

#: Characters keyboards and pastes produce that parsers trip on.
ODD_CHARACTERS = (
    "\x00", "\x01", "\x07", "\x08", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\xa0",
    "\u00ad", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2028", "\u2029", "\u202e",
    "\u2060", "\u2066", "\ufeff", "\ufffd", "\ufff9", "\U000e0001", "\U0001f600",
    "\U0001f468\u200d\U0001f469",
    "\u0301", "\u0338", "\ue000", "\U0010ffff", "\u3000", "\u201c", "\u201d", "\u2018", "\u2019",
    "\uff49\uff4e\uff53\uff54\uff41\uff4c\uff4c",  # fullwidth "install"
    "ﬁ", "ß", "İ", "ǅ", "Ω", "\u0130", "\u1e9e", "\u0000\u0000",
)  # fmt: skip

#: Any character that UTF-8 can carry (all of Unicode but lone surrogates).
ANY_CHARACTER = st.characters(codec="utf-8")


def odd_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short text mixing any Unicode with control, format and Slack escape pieces."""
    piece = st.one_of(
        st.text(ANY_CHARACTER, max_size=12),
        st.sampled_from(ODD_CHARACTERS),
        st.sampled_from(SLACK_ESCAPES),
        st.text(st.characters(categories=["Cc", "Cf", "Co", "Zs", "Zl", "Zp", "Mn"]), min_size=1, max_size=4),
    )
    return st.lists(piece, max_size=max(1, max_size // 4)).map("".join).map(lambda s: s[:max_size])


def huge_text() -> st.SearchStrategy[str]:
    """One piece repeated up to 20,000 characters (long pastes, past every cap)."""
    return st.builds(
        lambda piece, n: (piece * n)[: 20 * 1024],
        st.one_of(
            st.sampled_from(ODD_CHARACTERS + SLACK_ESCAPES), st.text(ANY_CHARACTER, min_size=1, max_size=5)
        ),
        st.integers(min_value=100, max_value=20 * 1024),
    )


def command_texts() -> st.SearchStrategy[str]:
    """What could follow ``/cyclr``: anything at all."""
    return st.one_of(
        st.text(ANY_CHARACTER, max_size=200),
        odd_text(120),
        huge_text(),
    )


def subcommand_texts() -> st.SearchStrategy[str]:
    """A subcommand (or a near miss) followed by junk, so every subcommand meets bad arguments."""
    return st.builds(
        lambda word, sep, junk: f"{word}{sep}{junk}",
        st.sampled_from(SUBCOMMAND_WORDS),
        st.sampled_from([" ", "  ", "\t", "\u00a0", "\n", "", " \u200b"]),
        st.one_of(odd_text(60), st.text(ANY_CHARACTER, max_size=60), huge_text(), st.just("payload")),
    )


# -- JSON ----------------------------------------------------------------------------------------

JSON_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(ANY_CHARACTER, max_size=20),
)

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(ANY_CHARACTER, max_size=10), children, max_size=4),
    ),
    max_leaves=12,
)


#: Any JSON value but a string: where the bot expects text, the wrong type.
NOT_TEXT: st.SearchStrategy[Any] = JSON_VALUES.filter(lambda value: not isinstance(value, str))


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def not_json_objects(templates: list[str]) -> st.SearchStrategy[str]:
    """Text that is not a JSON object: junk, JSON of another type, truncated or nested too deep."""
    truncated = st.sampled_from(templates).flatmap(
        lambda text: st.integers(min_value=0, max_value=len(text) - 1).map(lambda n: text[:n])
    )
    # nested past json's recursion limit, and still under the 1 MiB body limit once form-encoded
    deep = st.builds(
        lambda n, open_: open_ * n, st.integers(min_value=2_000, max_value=60_000), st.sampled_from("[{")
    )
    return st.one_of(
        st.text(ANY_CHARACTER, max_size=80),
        JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
        truncated,
        deep.map(lambda s: s.replace("{", '{"a":')),
        st.sampled_from(["", "{", "}", "{}}", "[]", "null", "NaN", "-Infinity", '"x"', "1e999", "{'a': 1}"]),
    ).filter(lambda text: not _is_json_object(text))


# -- mutating real payloads -------------------------------------------------------------------------

Path = tuple[str | int, ...]
Mutation = tuple[str, Path, Any]


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    found: list[Path] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, (*prefix, key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, (*prefix, index)))
    return found


def apply(payload: dict[str, Any], mutation: Mutation) -> dict[str, Any]:
    """A deep copy of ``payload`` with ``mutation`` (delete, or set a new value) applied."""
    op, path, new = mutation
    result = copy.deepcopy(payload)
    parent: Any = result
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if op == "delete":
        del parent[last]
    else:
        parent[last] = new
    return result


def mutations(payload: dict[str, Any]) -> st.SearchStrategy[list[Mutation]]:
    """One to three deletions or replacements (by any JSON value or a huge string) in ``payload``."""
    paths = _paths(payload)
    replacement = st.one_of(JSON_VALUES, huge_text(), st.sampled_from(["", "{}", "[]", "null"]))
    one = st.one_of(
        st.tuples(st.just("delete"), st.sampled_from(paths), st.none()),
        st.tuples(st.just("set"), st.sampled_from(paths), replacement),
    )
    return st.lists(one, min_size=1, max_size=3)


def apply_all(payload: dict[str, Any], changes: list[Mutation]) -> dict[str, Any]:
    """Apply each mutation whose path still exists (an earlier one may have removed it)."""
    result = payload
    for change in changes:
        try:
            result = apply(result, change)
        except (KeyError, IndexError, TypeError):
            continue
    return result


# -- headers and link refs -------------------------------------------------------------------------

PRINTABLE_ASCII = st.characters(min_codepoint=0x21, max_codepoint=0x7E)

#: Header values that http.client can send (printable ASCII).
header_text: st.SearchStrategy[str] = st.text(PRINTABLE_ASCII, max_size=80) | st.sampled_from(
    ["", "0", "-1", "+1", "1e3", "0x10", "1_700_000_000", "99999999999999999999", "NaN"]
)


def account_junk() -> st.SearchStrategy[str]:
    """Account ids nobody has that can still travel in an ``X-Cyclr-Account`` header."""
    return st.text(PRINTABLE_ASCII, min_size=1, max_size=30) | st.sampled_from(
        ["../x", "a/b", "?x=1", "%00", "acc-0002 x", "' OR 1=1 --", "<script>", "a" * 300]
    )


def uncarriable_accounts() -> st.SearchStrategy[str]:
    """Account ids the Cyclr client refuses (ValueError) or cannot encode in a header."""
    return st.one_of(
        st.sampled_from(
            ["", " ", " acc", "acc ", "a\x00b", "a\nb", "\x7f", "é\u0100", "\u3000", "\U0001f600"]
        ),
        st.text(ANY_CHARACTER, min_size=1, max_size=10).map(lambda s: s + "\u0100"),
    )


def link_refs(valid_like: Callable[[], str]) -> st.SearchStrategy[str]:
    """Random refs: the right alphabet and length but unknown, wrong alphabets, huge, percent junk."""
    url_safe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return st.one_of(
        st.text(url_safe, min_size=43, max_size=43),
        st.text(url_safe, min_size=0, max_size=200),
        st.text(ANY_CHARACTER, min_size=1, max_size=60),
        st.sampled_from(ODD_CHARACTERS + SLACK_ESCAPES).map(lambda s: s * 3),
        st.builds(lambda n: "a" * n, st.integers(min_value=65, max_value=6000)),
        st.builds(lambda ref, junk: ref + junk, st.builds(valid_like), odd_text(8).filter(bool)),
        st.sampled_from(
            ["%00", "%zz", "%", "%%", "%2F..%2F", "..", ".", "%E2%80%AE", "%FF%FE", "' OR 1=1 --"]
        ),
    )
