"""The written forms of a listed name, derived by market rules, and the `common` test.

Forms are what a post may write for a security: the listed short name folded to NFKC without
whitespace, plus what each market's conventions drop. Nothing here is a hand-written list of
names; the only inputs are the listed name, the source's own short or English name, and a ticker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from digests.names.fold import written

A_SHARE = frozenset({"SH", "SZ", "BJ"})
_CJK = r"[\u3400-\u9fff\uf900-\ufaff]"
# `京东方A`, `深物业B`: the share class after a Chinese name (not the `A` of `TCL` or `ST`)
_SHARE_CLASS = re.compile(rf"(?<={_CJK})[AB]$")
# `*ST金科`, `ST华闻`: risk-warning markers, which come and go with the company's results
_RISK_MARK = re.compile(r"^\*?ST(?=\S)")
# STAR/ChiNext suffixes: -U not yet profitable, -W weighted voting rights, -D depositary receipts
_A_SUFFIX = re.compile(r"-[UWD]{1,3}$")
# HKEX suffixes: -W weighted voting, -S secondary listing, -B/-P pre-revenue chapters 18A/18C,
# -R renminbi counter, -U unit-based; combined as `-SW`, `-WP`…
_HK_SUFFIX = re.compile(r"-[WSBRUP]{1,3}$")
# legal-form words an English name drops in prose (`Lumentum Holdings Inc` → `Lumentum`)
_LEGAL_WORDS = frozenset(
    [
        "inc",
        "inc.",
        "incorporated",
        "corp",
        "corp.",
        "corporation",
        "co",
        "co.",
        "ltd",
        "ltd.",
        "limited",
        "holdings",
        "holding",
        "plc",
        "n.v.",
        "nv",
        "s.a.",
        "sa",
        "ag",
        "se",
    ]
)
MIN_RISK_STRIPPED = 3  # `*ST金科` must not yield `金科`: two characters name too much
MIN_LATIN_FORM = 3  # `HP`, `3M`: two Latin letters are too often something else


def ticker_of(code: str) -> str | None:
    """The ticker of a US code (`NVDA.US` → `NVDA`), else None."""
    return code[: -len(".US")] if code.endswith(".US") else None


def english_short(name: str) -> str:
    """An English company name without its legal-form words (`Apple Inc.` → `Apple`)."""
    words = name.replace(",", " ").split()
    while len(words) > 1 and (words[-1].lower() in _LEGAL_WORDS or words[-1] == "&"):
        words.pop()
    return " ".join(words)


def derive(
    *, code: str, market: str, name: str, short: Iterable[str] = (), english: str | None = None
) -> tuple[str, ...]:
    """The forms of one listing, the listed name first, by its market's rules.

    `short` are short names the source itself gives (`浦发` for 浦发银行); `english` is a
    source's English name (US and other foreign listings).
    """
    forms: list[str] = []

    def add(form: str) -> None:
        form = written(form)
        latin_only = form.isascii()
        if form and form not in forms and not (latin_only and len(form) < MIN_LATIN_FORM):
            forms.append(form)

    listed = written(name)
    forms.append(listed)  # the listed name always counts, however short
    if market in A_SHARE:
        bare = _A_SUFFIX.sub("", listed)
        add(bare)
        add(_SHARE_CLASS.sub("", bare))
        unmarked = _RISK_MARK.sub("", bare)
        if unmarked != bare and len(unmarked) >= MIN_RISK_STRIPPED:
            add(unmarked)
            add(_SHARE_CLASS.sub("", unmarked))
    elif market == "HK":
        add(_HK_SUFFIX.sub("", listed))
    for alias in short:
        add(_HK_SUFFIX.sub("", written(alias)) if market == "HK" else alias)
    if english:
        add(english_short(english))
    ticker = ticker_of(code)
    if ticker and ticker not in forms:
        forms.append(ticker)  # any length: the matcher asks short ones for ticker syntax
    return tuple(forms)


class Lexicon:
    """Ordinary words of a general-language lexicon (jieba's dict.txt: word, frequency, tag).

    A word is ordinary when its tag is not a proper noun (nr* people, ns* places, nt* bodies,
    nz* other proper names) and its frequency reaches `threshold`.
    """

    PROPER = ("nr", "ns", "nt", "nz")

    def __init__(self, entries: Mapping[str, tuple[int, str]], *, threshold: int) -> None:
        self.threshold = threshold
        self._ordinary = frozenset(
            written(word).casefold()
            for word, (frequency, tag) in entries.items()
            if frequency >= threshold and not tag.startswith(self.PROPER)
        )

    def __len__(self) -> int:
        return len(self._ordinary)

    def ordinary(self, form: str) -> bool:
        """Whether `form` (a written form) is an ordinary word of the language."""
        return form.casefold() in self._ordinary

    @classmethod
    def parse(cls, text: str, *, threshold: int) -> Lexicon:
        """jieba's dict.txt format: `word frequency tag` per line."""
        entries: dict[str, tuple[int, str]] = {}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                entries[parts[0]] = (int(parts[1]), parts[2])
        return cls(entries, threshold=threshold)
