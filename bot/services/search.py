"""Typo-tolerant connector search over a prebuilt, immutable index.

Slack's external select asks for options on every keystroke and gives the bot three
seconds for everything, so a query must cost milliseconds. All normalisation happens once,
in :class:`SearchIndex` (built with each catalogue snapshot); a query normalises only
itself and then does dictionary look-ups, binary searches over sorted keys, one C-level
substring scan and, only when those leave room in the result, rapidfuzz passes over short
precomputed strings.

Ranking, best first (see :class:`MatchKind`):

1. ``EXACT``: the whole name, ignoring case, accents, spaces and punctuation
   (``"hub spot"`` = HubSpot, ``"mail chimp"`` = Mailchimp).
2. ``PREFIX``: the start of the name (``"salesforc"``, ``"quickbooks"``, ``"monday"``).
3. ``ALIAS``: an alternative key of the name: initials plus the rest (``"gsheets"`` =
   *G*oogle *Sheets*, ``"gdrive"``), or the acronym (``"gbq"``, ``"qbo"``). Camel case
   counts as a word break (``QuickBooks`` -> quick books).
4. ``ALIAS_PREFIX``: the start of an alternative key (``"gcal"`` -> ``gcalendar``).
5. ``WORD_PREFIX``: the start of a later word (``"dynamics"``, ``"s3"``, ``"bigquery"``), or
   every query word starts some word of the name (``"google sheet"``, ``"big query"``).
6. ``SUBSTRING``: anywhere inside the name (three characters or more).
7. ``FUZZY``: a rapidfuzz similarity of at least :data:`FUZZY_CUTOFF` (``"hubspt"``,
   ``"salesfroce"``, ``"docusgn"``, ``"quikbooks"``, ``"sharepoint online"``).

Within a kind the higher score wins (only fuzzy matches have scores below 100), then the
shorter name, then alphabetical order, then the newer version. A handful of query words
are expanded before matching (:data:`QUERY_ALIASES`, e.g. ``ms`` -> ``microsoft``); the
table is deliberately tiny: initials and fuzzy matching cover the rest.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from bot.cyclr.models import Connector

__all__ = [
    "FUZZY_CUTOFF",
    "MAX_QUERY_LENGTH",
    "POPULAR",
    "QUERY_ALIASES",
    "Match",
    "MatchKind",
    "SearchIndex",
    "compact",
    "normalise",
    "version_key",
]

#: Queries are cut to this many characters: connector names are short, and a pasted essay
#: must not cost more than a name does.
MAX_QUERY_LENGTH = 100

#: The lowest rapidfuzz score (0-100) that counts as a match.
FUZZY_CUTOFF = 70.0

#: Whole query words replaced before matching. Only abbreviations that initials, prefixes
#: and fuzzy matching cannot find belong here; the original query is searched as well.
QUERY_ALIASES: dict[str, str] = {
    "ms": "microsoft",
    "msft": "microsoft",
    "o365": "microsoft",
    "m365": "microsoft",
    "sfdc": "salesforce",
    "aws": "amazon",
    "gcp": "google",
    "postgres": "postgresql",
    "mssql": "microsoft sql server",
}

#: Shown, in this order and when present, for an empty query (then the rest A to Z), so the
#: connector picker opens on something useful.
POPULAR: tuple[str, ...] = (
    "Salesforce",
    "HubSpot",
    "Google Sheets",
    "Slack",
    "Microsoft Teams",
    "Mailchimp",
    "Shopify",
    "Stripe",
    "Xero",
    "QuickBooks Online",
    "Zendesk",
    "Jira",
)

_MAX_UNICODE = "\U0010ffff"
_NOT_ALNUM = re.compile(r"[\W_]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_DIGITS = re.compile(r"\d+")
#: Longest query for which the typed-so-far fuzzy pass runs; longer ones are whole names.
_MAX_HEAD = 32
#: Most words and characters given to WRatio (cut at a word): its cost grows with the
#: words, and past this a name can only be a small part of the query, scoring below the cutoff.
_MAX_TOKEN_WORDS = 6
_MAX_TOKEN_QUERY = 60


class MatchKind(enum.IntEnum):
    """How a connector matched; lower is better."""

    EXACT = 0
    PREFIX = 1
    ALIAS = 2
    ALIAS_PREFIX = 3
    WORD_PREFIX = 4
    SUBSTRING = 5
    FUZZY = 6
    DEFAULT = 7  #: no query: the default list


@dataclass(frozen=True, slots=True)
class Match:
    """One search hit. ``score`` is 100 except for ``FUZZY`` hits (their rapidfuzz score)."""

    connector: Connector
    kind: MatchKind
    score: float


def normalise(text: str) -> str:
    """Casefold, strip accents, turn every run of non-alphanumerics into one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_ALNUM.sub(" ", stripped.casefold()).strip()


def compact(text: str) -> str:
    """:func:`normalise` without the spaces: ``"Hub Spot!"`` -> ``"hubspot"``."""
    return normalise(text).replace(" ", "")


# ---------------------------------------------------------------------------------------

#: Records matches: (entry indexes, kind, score).
_Note = Callable[[Iterable[int], MatchKind, float], None]


@dataclass(frozen=True, slots=True)
class _Entry:
    connector: Connector
    installable: bool
    rank: int  # position in the tie-break order: shorter name, A-Z, newer version, id


@dataclass(frozen=True, slots=True)
class _Query:
    spaced: str
    compact: str
    words: tuple[str, ...]


class _SortedKeys:
    """Sorted ``(key, entry index)`` pairs answering "which keys start with p?" by bisection."""

    __slots__ = ("_keys", "_owners")

    def __init__(self, pairs: Iterable[tuple[str, int]]) -> None:
        ordered = sorted(set(pairs))
        self._keys = [k for k, _ in ordered]
        self._owners = [i for _, i in ordered]

    def starting_with(self, prefix: str) -> list[int]:
        lo = bisect_left(self._keys, prefix)
        hi = bisect_right(self._keys, prefix + _MAX_UNICODE, lo)
        return self._owners[lo:hi]


def _name_words(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The name's words as written, and split at camel case too (``HubSpot`` -> hub, spot)."""
    plain = tuple(normalise(name).split())
    camel = tuple(normalise(_CAMEL.sub(" ", name)).split())
    return plain, camel


def _alternative_keys(plain: Sequence[str], camel: Sequence[str]) -> set[str]:
    """Initials-plus-rest forms and acronyms of a multi-word name (see module docstring)."""
    keys: set[str] = set()
    for words in (plain, camel):
        if len(words) < 2:
            continue
        for cut in range(1, len(words)):
            keys.add("".join(w[0] for w in words[:cut]) + "".join(words[cut:]))
        keys.add("".join(w[0] for w in words))
    return keys


def version_key(version: str | None) -> tuple[int, ...]:
    """The numbers of a version string, for ordering: ``"v2.10"`` -> ``(2, 10)``."""
    return tuple(int(d) for d in _DIGITS.findall(version or "")[:4])


def _prepare(query: str) -> list[_Query]:
    """The normalised query and, when an alias applies, its expansion."""
    spaced = normalise(query[:MAX_QUERY_LENGTH])[:MAX_QUERY_LENGTH].strip()
    if not spaced:
        return []
    words = tuple(spaced.split())
    variants = [_Query(spaced, spaced.replace(" ", ""), words)]
    expanded = ""
    if any(w in QUERY_ALIASES for w in words):
        expanded = " ".join(QUERY_ALIASES.get(w, w) for w in words)
    elif len(words) == 1:  # "msteams", "awss3": an alias glued to the next word
        head = next((k for k in QUERY_ALIASES if spaced.startswith(k) and len(spaced) - len(k) >= 2), "")
        if head:
            expanded = f"{QUERY_ALIASES[head]} {spaced[len(head):]}"
    if expanded:
        variants.append(_Query(expanded, expanded.replace(" ", ""), tuple(expanded.split())))
    return variants


class SearchIndex:
    """Search keys for a fixed list of connectors; build once, query from any thread."""

    def __init__(self, connectors: Iterable[Connector]) -> None:
        items = list(connectors)
        normed = [normalise(c.name) for c in items]
        order = sorted(range(len(items)), key=lambda i: (
            len(normed[i]), normed[i], tuple(-v for v in version_key(items[i].version)), items[i].id))
        ranks = [0] * len(items)
        for position, i in enumerate(order):
            ranks[i] = position
        self._entries = [_Entry(c, c.is_installable, ranks[i]) for i, c in enumerate(items)]
        # The default list shows each name once: its newest version (installable, or any).
        popular = {compact(name): position for position, name in enumerate(POPULAR)}
        by_default = sorted(range(len(items)), key=lambda i: (
            popular.get(normed[i].replace(" ", ""), len(popular)), normed[i], ranks[i]))
        self._defaults: dict[bool, list[int]] = {True: [], False: []}
        for installable_only, chosen in self._defaults.items():
            seen: set[str] = set()
            for i in by_default:
                if normed[i] not in seen and (items[i].is_installable or not installable_only):
                    seen.add(normed[i])
                    chosen.append(i)

        self._exact: dict[str, list[int]] = {}
        self._alias: dict[str, list[int]] = {}
        names: list[tuple[str, int]] = []
        aliases: list[tuple[str, int]] = []
        tails: list[tuple[str, int]] = []
        words: list[tuple[str, int]] = []
        self._spaced = _Choices()  # names with spaces, for WRatio's token matching
        self._whole = _Choices()  # compact names, alternative keys and tails: whole-key typos
        self._heads = _Choices()  # compact names and tails: typos in what has been typed so far
        haystack: list[str] = []
        self._offsets: list[int] = []
        self._haystack_owners: list[int] = []
        position = 0
        for i, connector in enumerate(items):
            plain, camel = _name_words(connector.name)
            full = "".join(plain)
            if not full:
                continue
            self._exact.setdefault(full, []).append(i)
            names.append((full, i))
            self._whole.add(full, i)
            self._heads.add(full, i)
            for key in _alternative_keys(plain, camel) - {full}:
                self._alias.setdefault(key, []).append(i)
                aliases.append((key, i))
                self._whole.add(key, i)
            for split in dict.fromkeys((plain, camel)):
                words.extend((w, i) for w in split)
                for cut in range(1, len(split)):
                    tail = "".join(split[cut:])
                    tails.append((tail, i))
                    self._whole.add(tail, i)
                    self._heads.add(tail, i)
                self._spaced.add(" ".join(split), i)
            self._offsets.append(position)
            self._haystack_owners.append(i)
            haystack.append(full)
            position += len(full) + 1
        self._haystack = "\n".join(haystack)
        self._names = _SortedKeys(names)
        self._aliases = _SortedKeys(aliases)
        self._tails = _SortedKeys(tails)
        self._words = _SortedKeys(words)

    def __len__(self) -> int:
        return len(self._entries)

    def search(self, query: str, *, limit: int = 10, installable_only: bool = True) -> list[Match]:
        """The best ``limit`` matches for ``query``; an empty query gets :meth:`default`.

        Never raises on any string.
        """
        if limit <= 0:
            return []
        variants = _prepare(query if isinstance(query, str) else str(query))
        if not variants:
            return self.default(limit=limit, installable_only=installable_only)
        found: dict[int, tuple[MatchKind, float]] = {}

        def note(owners: Iterable[int], kind: MatchKind, score: float) -> None:
            for i in owners:
                if installable_only and not self._entries[i].installable:
                    continue
                best = found.get(i)
                if best is None or kind < best[0] or (kind == best[0] and score > best[1]):
                    found[i] = (kind, score)

        for q in variants:
            self._match_exactly(q, note)
        if len(found) < limit and len(variants[0].compact) >= 3:
            for q in variants:
                self._match_fuzzily(q, note, limit)
        ranked = sorted(found.items(), key=lambda item: (item[1][0], -item[1][1],
                                                          self._entries[item[0]].rank))
        return [Match(self._entries[i].connector, kind, score) for i, (kind, score) in ranked[:limit]]

    def default(self, *, limit: int = 10, installable_only: bool = True) -> list[Match]:
        """What an empty query shows: the :data:`POPULAR` names present, then the rest A to Z,
        each name once (its newest version)."""
        chosen = self._defaults[installable_only][:max(limit, 0)]
        return [Match(self._entries[i].connector, MatchKind.DEFAULT, 100.0) for i in chosen]

    # -- matching passes ------------------------------------------------------------------

    def _match_exactly(self, q: _Query, note: _Note) -> None:
        key = q.compact
        note(self._exact.get(key, ()), MatchKind.EXACT, 100.0)
        note(self._names.starting_with(key), MatchKind.PREFIX, 100.0)
        note(self._alias.get(key, ()), MatchKind.ALIAS, 100.0)
        note(self._aliases.starting_with(key), MatchKind.ALIAS_PREFIX, 100.0)
        note(self._tails.starting_with(key), MatchKind.WORD_PREFIX, 100.0)
        if len(q.words) > 1:
            common: set[int] | None = None
            for word in q.words:
                owners = set(self._words.starting_with(word))
                common = owners if common is None else common & owners
                if not common:
                    break
            note(common or (), MatchKind.WORD_PREFIX, 100.0)
        if len(key) >= 3:
            note(self._substring_owners(key), MatchKind.SUBSTRING, 100.0)

    def _substring_owners(self, key: str) -> list[int]:
        owners: list[int] = []
        start = self._haystack.find(key)
        while start != -1:
            slot = bisect_right(self._offsets, start) - 1
            owners.append(self._haystack_owners[slot])
            # One hit per name is enough: go on from the next name.
            following = self._offsets[slot + 1] if slot + 1 < len(self._offsets) else len(self._haystack)
            start = self._haystack.find(key, following)
        return owners

    def _match_fuzzily(self, q: _Query, note: _Note, limit: int) -> None:
        """Three rapidfuzz passes, each over short precomputed strings.

        Whole keys (``"hubspt"``, ``"salesfroce"``) by Indel ratio on compact forms; the part
        typed so far (``"quikbook"``) against the same length of each name's start; and, for
        queries of several words (extra or reordered words, ``"sharepoint online"``), WRatio
        on the spaced names. A prefix hit is discounted slightly so a complete name wins a tie.
        """
        wanted = limit * 3 + 10
        self._extract(q.compact, self._whole.keys, self._whole.owners, fuzz.ratio, 1.0, wanted, note)
        size = len(q.compact)
        if 4 <= size <= _MAX_HEAD:
            heads = self._heads.truncated(size + 1)
            self._extract(q.compact, heads, self._heads.owners, fuzz.ratio, 0.97, wanted, note)
        if len(q.words) > 1:
            text = " ".join(q.words[:_MAX_TOKEN_WORDS])
            if len(text) > _MAX_TOKEN_QUERY:
                text = text[:_MAX_TOKEN_QUERY].rsplit(" ", 1)[0]
            self._extract(text, self._spaced.keys, self._spaced.owners, fuzz.WRatio, 1.0, wanted, note)

    @staticmethod
    def _extract(text: str, keys: list[str], owners: list[int], scorer: Callable[..., float],
                 weight: float, wanted: int, note: _Note) -> None:
        hits = process.extract(text, keys, scorer=scorer, processor=None,
                               score_cutoff=FUZZY_CUTOFF / weight, limit=wanted)
        for _, score, position in hits:
            note((owners[position],), MatchKind.FUZZY, min(100.0, float(score) * weight))


class _Choices:
    """Strings for rapidfuzz, each with the entry it belongs to."""

    __slots__ = ("_truncated", "keys", "owners")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.owners: list[int] = []
        self._truncated: dict[int, list[str]] = {}

    def add(self, key: str, owner: int) -> None:
        self.keys.append(key)
        self.owners.append(owner)

    def truncated(self, size: int) -> list[str]:
        """Every key cut to ``size`` characters, made on first use and kept (a benign race:
        two threads may both build it, and either copy is right)."""
        cut = self._truncated.get(size)
        if cut is None:
            cut = self._truncated[size] = [k[:size] for k in self.keys]
        return cut
