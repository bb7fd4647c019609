"""The dictionary of securities and the name matcher (one Aho-Corasick automaton per snapshot).

Matching runs over the folded view of a post (fold.py) and keeps, from the left, the longest
match that its context allows:

- a form that starts or ends with a Latin letter or digit must meet a word boundary there in the
  original text (`Lite` is not in `Satellite`; `京东方A` is not in `京东方AB`);
- a ticker of three letters or fewer counts only in ticker syntax (`$MU`, `MU.US`, `MU.O`,
  `(MU)`, `（MU）`) and written in capitals: `AI`, `IT`, `ON`, `ALL` are words in every post;
- a longer ticker counts as a whole word written in capitals or capitalised (`NVDA`, `Nvda`),
  and so does a ticker that is also the listed name (`AMD`, `IBM`): the name posts write.

When a rejected match hides a shorter acceptable one (`XSK海力士` holds `海力士`), the shorter
one is found: the automaton reports overlapping matches and the choice is made here.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick_rs

from digests.names.fold import Folded, fold, fold_char
from digests.names.forms import ticker_of

MARKET_ORDER = ("SH", "SZ", "BJ", "HK", "US")  # posts are A-share first; other markets after
TICKER_SUFFIXES = (".us", ".o", ".n")  # `MU.US`; `.O`/`.N` are Wind's Nasdaq/NYSE suffixes
SHORT_TICKER = 3


@dataclass(frozen=True)
class Listing:
    """One row of a snapshot (snapshot.py): one listing of a company, what a Dictionary is
    built from."""

    code: str  # `300308.SZ`, `00772.HK`, `NVDA.US`
    market: str
    name: str  # the short name as listed, NFKC, trimmed
    forms: tuple[str, ...]
    common: bool = False
    common_forms: tuple[str, ...] = ()
    source: str = ""  # the package and version (or CSV) the row came from


def market_rank(market: str) -> tuple[int, str]:
    """Sort key of a market: A-shares, Hong Kong, US, then the rest by name."""
    return (MARKET_ORDER.index(market) if market in MARKET_ORDER else len(MARKET_ORDER), market)


@dataclass(frozen=True)
class Security:
    """One company as the dictionary knows it.

    `code` and `market` are its first listing; `codes` all of them (one name listed in several
    markets, like 中芯国际 688981.SH and 00981.HK, is one security). `forms` are the written
    forms that count; `common` says the listed name is also an ordinary word (机器人, 太阳能),
    `common_forms` which forms are.
    """

    code: str
    market: str
    name: str
    forms: tuple[str, ...]
    common: bool = False
    codes: tuple[str, ...] = ()
    common_forms: frozenset[str] = field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        if not self.codes:
            object.__setattr__(self, "codes", (self.code,))


@dataclass(frozen=True)
class Mention:
    """A security named in a text: `text[start:end]` of the caller's own string is `written`."""

    security: Security
    start: int
    end: int
    text: str
    form: str  # the dictionary's form that matched (NFKC, no whitespace)

    @property
    def common(self) -> bool:
        """The words written here are also an ordinary word: count them only with other signs
        (in a list of names, beside a code)."""
        return self.form in self.security.common_forms


@dataclass(frozen=True)
class _Entry:
    security: Security
    form: str
    ticker: bool
    named: bool = False  # a ticker that is also the listed name (AMD): a word, not only $AMD


def _is_word(char: str) -> bool:
    folded = fold_char(char)[:1]
    return folded.isascii() and folded.isalnum()


class Dictionary:
    """The securities of one snapshot; `find` and `lookup` build the automaton once, lazily."""

    def __init__(
        self,
        securities: Sequence[Security],
        *,
        path: Path | None = None,
        date: dt.date | None = None,
        listings: Sequence[Listing] = (),
        skipped: Sequence[str] = (),
    ) -> None:
        self.securities = tuple(securities)
        self.path = path  # the snapshot file, None when built in memory
        self.date = date
        self.listings = tuple(listings)
        self.skipped = tuple(skipped)  # snapshots passed over on the way here, and why
        self._lock = threading.Lock()
        self._index: dict[str, tuple[_Entry, ...]] | None = None
        self._patterns: list[tuple[_Entry, ...]] = []
        self._automaton: ahocorasick_rs.AhoCorasick | None = None

    @classmethod
    def from_listings(cls, listings: Iterable[Listing], **kwargs: object) -> Dictionary:
        """One security per listed name: listings whose names fold alike are one company's."""
        rows = list(listings)
        groups: dict[str, list[Listing]] = {}
        for row in rows:
            groups.setdefault(fold(row.name), []).append(row)
        securities = []
        for group in groups.values():
            group.sort(key=lambda r: (market_rank(r.market), r.code))
            first = group[0]
            forms = list(dict.fromkeys(form for r in group for form in r.forms))
            securities.append(
                Security(
                    code=first.code,
                    market=first.market,
                    name=first.name,
                    forms=tuple(forms),
                    common=any(r.common for r in group),
                    codes=tuple(r.code for r in group),
                    common_forms=frozenset(f for r in group for f in r.common_forms),
                )
            )
        return cls(securities, listings=rows, **kwargs)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.securities)

    def _build(self) -> dict[str, tuple[_Entry, ...]]:
        with self._lock:
            if self._index is not None:
                return self._index
            entries: dict[str, list[_Entry]] = {}
            for security in self.securities:
                tickers = {ticker_of(code) for code in security.codes}
                for form in security.forms:
                    key = fold(form)
                    same = entries.setdefault(key, [])
                    if not any(e.security is security for e in same):
                        ticker = form in tickers
                        named = ticker and key == fold(security.name)
                        same.append(_Entry(security, form, ticker=ticker, named=named))

            def preference(entry: _Entry, key: str) -> tuple[object, ...]:
                # the security listed under exactly this name first, then a name before a
                # ticker, then the market order and the code
                s = entry.security
                return (fold(s.name) != key, entry.ticker, market_rank(s.market), s.code)

            index = {
                key: tuple(sorted(found, key=lambda e, k=key: preference(e, k)))  # type: ignore[misc]
                for key, found in entries.items()
            }
            keys = list(index)
            self._patterns = [index[key] for key in keys]
            self._automaton = ahocorasick_rs.AhoCorasick(
                keys, matchkind=ahocorasick_rs.MatchKind.Standard
            )
            self._index = index
            return index

    def lookup(self, name: str) -> Security | None:
        """The security one written name stands for (folded first), or None; a ticker counts
        only written in capitals."""
        for entry in self._build().get(fold(name), ()):
            if not entry.ticker or name.strip().isupper():
                return entry.security
        return None

    def find(self, text: str) -> list[Mention]:
        """Securities named in `text`, leftmost-longest and not overlapping, in text order; the
        offsets are the caller's own."""
        self._build()
        assert self._automaton is not None
        folded = Folded(text)
        found = self._automaton.find_matches_as_indexes(folded.text, overlapping=True)
        found.sort(key=lambda m: (m[1], -m[2]))
        mentions: list[Mention] = []
        cursor = 0
        for pattern, start, end in found:
            if start < cursor:
                continue
            for entry in self._patterns[pattern]:
                if self._allowed(entry, folded, start, end):
                    first, last = folded.span(start, end)
                    mentions.append(
                        Mention(entry.security, first, last, text[first:last], entry.form)
                    )
                    cursor = end
                    break
        return mentions

    @staticmethod
    def _allowed(entry: _Entry, folded: Folded, start: int, end: int) -> bool:
        original = folded.original
        first, last = folded.span(start, end)
        match = folded.text[start:end]
        if _is_word(match[0]) and first > 0 and _is_word(original[first - 1]):
            return False
        if _is_word(match[-1]) and last < len(original) and _is_word(original[last]):
            return False
        if not entry.ticker:
            return True
        written = original[first:last]
        if sum(c.isalnum() for c in entry.form) > SHORT_TICKER or entry.named:
            return written.isupper() or (written[:1].isupper() and written[1:].islower())
        if not written.isupper():
            return False
        before = folded.text[start - 1] if start else ""
        after = folded.text[end : end + 4]
        if before == "$" or (before == "(" and after[:1] == ")"):
            return True
        for suffix in TICKER_SUFFIXES:
            rest = after[len(suffix) : len(suffix) + 1]
            if after.startswith(suffix) and not (rest.isascii() and rest.isalnum()):
                return True
        return False
